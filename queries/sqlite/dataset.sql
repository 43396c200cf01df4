-- The data set's extent over the original SQLite development file (table "reviews",
-- camelCase columns): the same name and result columns as the PostgreSQL function
-- review_api.dataset_summary (migrations/postgres/0011.batches-reviews-dataset.sql), which
-- the API serves on PostgreSQL. The file has no load history: the data version is the one
-- lookups.sql current_load makes of the row count and the highest row number, and the load
-- time is unknown (NULL). Dates as in summaries.sql.
--
-- The distinct products and reviewers are counted as the rows of a SELECT DISTINCT, which
-- reads each id once off the leading column of a development index (migrations/sqlite/
-- indexes.sql) in order; count(DISTINCT ...) in the same scan as the other aggregates
-- would sort every id into a temporary b-tree. NULL ids are left out, as count(DISTINCT)
-- leaves them out. A file without the indexes gets the same numbers, sorted.

-- name: dataset_summary()^
-- One row: reviews, distinct products and reviewers, first and last review day, reviews
-- per star rating, the data version and the (unknown) load time.
WITH totals AS (
    SELECT
        count(*) AS review_count,
        min(r."unixReviewTime") AS first_review_time,
        max(r."unixReviewTime") AS last_review_time,
        count(*) FILTER (WHERE r."overall" = 1) AS rating_1,
        count(*) FILTER (WHERE r."overall" = 2) AS rating_2,
        count(*) FILTER (WHERE r."overall" = 3) AS rating_3,
        count(*) FILTER (WHERE r."overall" = 4) AS rating_4,
        count(*) FILTER (WHERE r."overall" = 5) AS rating_5
    FROM "reviews" AS r
),

last_row AS (
    SELECT max(i."index") AS last_index
    FROM "reviews" AS i
),

products AS (
    SELECT DISTINCT p."productID" AS product_id
    FROM "reviews" AS p
    WHERE p."productID" IS NOT NULL
),

reviewers AS (
    SELECT DISTINCT v."reviewerID" AS reviewer_id
    FROM "reviews" AS v
    WHERE v."reviewerID" IS NOT NULL
)

SELECT
    t.review_count,
    (SELECT count(*) FROM products) AS product_count,
    (SELECT count(*) FROM reviewers) AS reviewer_count,
    coalesce(
        date(t.first_review_time, 'unixepoch'), t.first_review_time
    ) AS first_review_date,
    coalesce(
        date(t.last_review_time, 'unixepoch'), t.last_review_time
    ) AS last_review_date,
    t.rating_1,
    t.rating_2,
    t.rating_3,
    t.rating_4,
    t.rating_5,
    'sqlite-' || t.review_count || '-' || coalesce(l.last_index, -1) AS data_version,
    NULL AS loaded_at
FROM totals AS t
CROSS JOIN last_row AS l;
