-- The reviews themselves over the original SQLite development file (table "reviews",
-- camelCase columns): the same names, parameters and result columns as the PostgreSQL
-- functions review_api.product_reviews and review_api.reviewer_reviews
-- (migrations/postgres/0011.batches-reviews-dataset.sql), which the API serves on PostgreSQL.
--
-- A page of at most :max_rows reviews in the date range, in a total order: sort 'recent' by
-- (unixReviewTime, index) descending, 'helpful' by (helpful votes, index) descending; the
-- page after a cursor starts below (:after_value, :after_index) in that order, a row-value
-- comparison (keyset pagination, never OFFSET). sort_value is the row's key in that order,
-- for the next cursor. The date bounds and the vote rule are those of summaries.sql (see
-- there why); the rating is the source's REAL read as the integer PostgreSQL stores.
-- The development file is small: the entity's reviews in the range are sorted, one index
-- range of the development indexes (migrations/sqlite/indexes.sql) read per page.

-- name: product_reviews(product_id, from_date, to_date, sort, max_rows, after_value, after_index)
-- A page of a product's reviews between two optional ISO dates (inclusive), newest or most
-- helpful first, after an optional cursor (the last row's sort_value and review_index).
WITH in_range AS (
    SELECT
        r."index" AS review_index,
        r."reviewerID" AS reviewer_id,
        r."reviewerName" AS reviewer_name,
        r."unixReviewTime" AS review_time,
        cast(r."overall" AS INTEGER) AS rating,
        r."verified" AS verified,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote,
        r."summary" AS summary,
        r."reviewText" AS review_text
    FROM "reviews" AS r
    WHERE
        r."productID" = :product_id
        AND r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
),

voted AS (
    SELECT
        i.*,
        CASE
            WHEN
                i.vote GLOB '[0-9]*'
                AND replace(i.vote, ',', '') NOT GLOB '*[^0-9]*'
                AND (instr(i.vote, ',') = 0 OR i.vote = printf('%,d', replace(i.vote, ',', '')))
                AND length(ltrim(replace(i.vote, ',', ''), '0')) <= 10
                AND cast(replace(i.vote, ',', '') AS INTEGER) <= 2147483647
                THEN cast(replace(i.vote, ',', '') AS INTEGER)
            ELSE 0
        END AS helpful_votes
    FROM in_range AS i
),

keyed AS (
    SELECT
        v.*,
        CASE :sort WHEN 'helpful' THEN v.helpful_votes ELSE v.review_time END AS sort_value
    FROM voted AS v
)

SELECT
    k.review_index,
    k.reviewer_id,
    k.reviewer_name,
    coalesce(date(k.review_time, 'unixepoch'), k.review_time) AS review_date,
    k.rating,
    k.verified,
    k.helpful_votes,
    k.summary,
    k.review_text,
    k.sort_value
FROM keyed AS k
WHERE
    (k.sort_value, k.review_index) < (
        coalesce(:after_value, 9223372036854775807),
        coalesce(:after_index, 9223372036854775807)
    )
ORDER BY k.sort_value DESC, k.review_index DESC
LIMIT coalesce(:max_rows, -1);

-- name: reviewer_reviews(reviewer_id, from_date, to_date, sort, max_rows, after_value, after_index)
-- A page of a reviewer's reviews between two optional ISO dates (inclusive), newest or most
-- helpful first, after an optional cursor (the last row's sort_value and review_index).
WITH in_range AS (
    SELECT
        r."index" AS review_index,
        r."productID" AS product_id,
        r."reviewerName" AS reviewer_name,
        r."unixReviewTime" AS review_time,
        cast(r."overall" AS INTEGER) AS rating,
        r."verified" AS verified,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote,
        r."summary" AS summary,
        r."reviewText" AS review_text
    FROM "reviews" AS r
    WHERE
        r."reviewerID" = :reviewer_id
        AND r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
),

voted AS (
    SELECT
        i.*,
        CASE
            WHEN
                i.vote GLOB '[0-9]*'
                AND replace(i.vote, ',', '') NOT GLOB '*[^0-9]*'
                AND (instr(i.vote, ',') = 0 OR i.vote = printf('%,d', replace(i.vote, ',', '')))
                AND length(ltrim(replace(i.vote, ',', ''), '0')) <= 10
                AND cast(replace(i.vote, ',', '') AS INTEGER) <= 2147483647
                THEN cast(replace(i.vote, ',', '') AS INTEGER)
            ELSE 0
        END AS helpful_votes
    FROM in_range AS i
),

keyed AS (
    SELECT
        v.*,
        CASE :sort WHEN 'helpful' THEN v.helpful_votes ELSE v.review_time END AS sort_value
    FROM voted AS v
)

SELECT
    k.review_index,
    k.product_id,
    k.reviewer_name,
    coalesce(date(k.review_time, 'unixepoch'), k.review_time) AS review_date,
    k.rating,
    k.verified,
    k.helpful_votes,
    k.summary,
    k.review_text,
    k.sort_value
FROM keyed AS k
WHERE
    (k.sort_value, k.review_index) < (
        coalesce(:after_value, 9223372036854775807),
        coalesce(:after_index, 9223372036854775807)
    )
ORDER BY k.sort_value DESC, k.review_index DESC
LIMIT coalesce(:max_rows, -1);
