-- Reading a SQLite file of the original schema as a `reviews-api load` source
-- (service/sources.py). The file is opened read-only; only the eleven columns of the
-- original schema are read, so extra columns (pandas' level_0) are ignored.

-- name: review_columns()
-- The column names of table reviews (case-sensitive), none when there is no such table.
SELECT c.name AS column_name
FROM pragma_table_info('reviews') AS c;

-- name: select_reviews()
-- Every review, in the raw column order, in storage order (no sort: the reader streams).
SELECT
    r."index",
    r."overall",
    r."verified",
    r."reviewTime",
    r."reviewerID",
    r."productID",
    r."reviewerName",
    r."reviewText",
    r."summary",
    r."unixReviewTime",
    r."vote"
FROM "reviews" AS r;

-- name: review_rowid_bounds()^
-- The lowest and highest rowid of table reviews (both NULL when it is empty), to split the
-- table into consecutive rowid ranges that separate processes read (each a range seek).
SELECT
    min(r.rowid) AS first_rowid,
    max(r.rowid) AS last_rowid
FROM "reviews" AS r;

-- name: select_review_range(first_rowid, last_rowid)
-- The reviews whose rowid is in [first_rowid, last_rowid], in the raw column order, in
-- storage (rowid) order: one part of the table (see review_rowid_bounds).
SELECT
    r."index",
    r."overall",
    r."verified",
    r."reviewTime",
    r."reviewerID",
    r."productID",
    r."reviewerName",
    r."reviewText",
    r."summary",
    r."unixReviewTime",
    r."vote"
FROM "reviews" AS r
WHERE r.rowid BETWEEN :first_rowid AND :last_rowid;
