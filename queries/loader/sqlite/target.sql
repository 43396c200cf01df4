-- Writing a development SQLite file with `reviews-api load --target sqlite:///PATH`
-- (service/loader.py). The tables and indexes come from migrations/sqlite/schema.sql and
-- indexes.sql; these statements fill the table.

-- name: prepare_scratch_file()#
-- The file is private until it is moved into place (and synced first), so it needs no
-- journal and no fsync per transaction: a crash only loses the scratch file.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;

-- name: insert_reviews()*!
-- Insert one batch of normalised rows, in the raw column order. "overall" has REAL
-- affinity, so a star rating 5 is stored as 5.0 as in the original file; verified is
-- stored as 0 or 1 (or NULL), as Python's sqlite3 binds booleans as integers.
INSERT INTO "reviews" (
    "index",
    "overall",
    "verified",
    "reviewTime",
    "reviewerID",
    "productID",
    "reviewerName",
    "reviewText",
    "summary",
    "unixReviewTime",
    "vote"
)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: has_reviews_table()$
-- 1 when the file has a table named reviews, else 0.
SELECT count(*) AS table_count
FROM sqlite_master AS s
WHERE s.type = 'table' AND s.name = 'reviews';

-- name: duplicated_index()$
-- An "index" value on more than one row, if any (read off the index ix_reviews_index).
SELECT r."index"
FROM "reviews" AS r
GROUP BY r."index"
HAVING count(*) > 1
ORDER BY r."index" ASC
LIMIT 1;
