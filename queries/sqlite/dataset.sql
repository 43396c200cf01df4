-- The data set's extent over the original SQLite development file (table "reviews",
-- camelCase columns): the same name and result columns as the PostgreSQL function
-- review_api.dataset_summary (migrations/postgres/0011.batches-reviews-dataset.sql), which
-- the API serves on PostgreSQL. The file has no load history: the data version is the one
-- lookups.sql current_load makes of the row count and the highest row number, and the load
-- time is unknown (NULL). Dates as in summaries.sql.

-- name: dataset_summary()^
-- One row: reviews, distinct products and reviewers, first and last review day, reviews
-- per star rating, the data version and the (unknown) load time.
SELECT
    count(*) AS review_count,
    count(DISTINCT r."productID") AS product_count,
    count(DISTINCT r."reviewerID") AS reviewer_count,
    coalesce(
        date(min(r."unixReviewTime"), 'unixepoch'), min(r."unixReviewTime")
    ) AS first_review_date,
    coalesce(
        date(max(r."unixReviewTime"), 'unixepoch'), max(r."unixReviewTime")
    ) AS last_review_date,
    count(*) FILTER (WHERE r."overall" = 1) AS rating_1,
    count(*) FILTER (WHERE r."overall" = 2) AS rating_2,
    count(*) FILTER (WHERE r."overall" = 3) AS rating_3,
    count(*) FILTER (WHERE r."overall" = 4) AS rating_4,
    count(*) FILTER (WHERE r."overall" = 5) AS rating_5,
    'sqlite-' || count(*) || '-' || coalesce(max(r."index"), -1) AS data_version,
    NULL AS loaded_at
FROM "reviews" AS r;
