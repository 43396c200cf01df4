-- Batch summaries over the original SQLite development file (table "reviews", camelCase
-- columns): the same names, parameters and result columns as the PostgreSQL functions
-- review_api.product_review_summaries and review_api.reviewer_review_summaries
-- (migrations/postgres/0011.batches-reviews-dataset.sql), which the API serves on PostgreSQL.
--
-- The ids arrive as a JSON array (the service passes arrays as JSON text) and are read with
-- json_each: each distinct id once, at the place of its first appearance (json_each's key,
-- the position in the array). One row per id that has any review at all, in that order,
-- with the aggregates of summaries.sql over the range (zeros when there is none in it); the
-- date bounds, the average and the vote rule are those of summaries.sql (see there why).

-- name: product_review_summaries(product_ids, from_date, to_date)
-- One row of review aggregates per distinct product of a JSON array of ids that has any
-- review, in the order of first appearance, between two optional ISO dates (inclusive).
WITH asked AS (
    SELECT
        j.value AS product_id,
        min(j.key) AS position
    FROM json_each(:product_ids) AS j
    GROUP BY j.value
),

in_range AS (
    SELECT
        a.product_id,
        r."overall" AS rating,
        r."verified" AS verified,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote,
        r."reviewerID" AS reviewer_id,
        r."unixReviewTime" AS review_time
    FROM asked AS a
    INNER JOIN "reviews" AS r ON a.product_id = r."productID"
    WHERE
        r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
)

SELECT
    a.product_id,
    count(i.product_id) AS review_count,
    cast(sum(i.rating) AS REAL) / nullif(count(i.product_id), 0) AS average_rating,
    count(*) FILTER (WHERE i.rating = 1) AS rating_1,
    count(*) FILTER (WHERE i.rating = 2) AS rating_2,
    count(*) FILTER (WHERE i.rating = 3) AS rating_3,
    count(*) FILTER (WHERE i.rating = 4) AS rating_4,
    count(*) FILTER (WHERE i.rating = 5) AS rating_5,
    count(*) FILTER (WHERE i.verified = 1) AS verified_review_count,
    coalesce(sum(
        CASE
            WHEN
                i.vote GLOB '[0-9]*'
                AND replace(i.vote, ',', '') NOT GLOB '*[^0-9]*'
                AND (instr(i.vote, ',') = 0 OR i.vote = printf('%,d', replace(i.vote, ',', '')))
                AND length(ltrim(replace(i.vote, ',', ''), '0')) <= 10
                AND cast(replace(i.vote, ',', '') AS INTEGER) <= 2147483647
                THEN cast(replace(i.vote, ',', '') AS INTEGER)
            ELSE 0
        END
    ), 0) AS helpful_votes,
    count(DISTINCT i.reviewer_id) AS distinct_reviewers,
    coalesce(date(min(i.review_time), 'unixepoch'), min(i.review_time)) AS first_review_date,
    coalesce(date(max(i.review_time), 'unixepoch'), max(i.review_time)) AS last_review_date
FROM asked AS a
LEFT JOIN in_range AS i ON a.product_id = i.product_id
WHERE
    EXISTS (
        SELECT 1
        FROM "reviews" AS e
        WHERE e."productID" = a.product_id
    )
GROUP BY a.position, a.product_id
ORDER BY a.position;

-- name: reviewer_review_summaries(reviewer_ids, from_date, to_date)
-- One row of review aggregates per distinct reviewer of a JSON array of ids that has any
-- review, in the order of first appearance, between two optional ISO dates (inclusive),
-- with each reviewer's latest non-null display name over all time.
WITH asked AS (
    SELECT
        j.value AS reviewer_id,
        min(j.key) AS position
    FROM json_each(:reviewer_ids) AS j
    GROUP BY j.value
),

in_range AS (
    SELECT
        a.reviewer_id,
        r."overall" AS rating,
        r."verified" AS verified,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote,
        r."productID" AS product_id,
        r."unixReviewTime" AS review_time
    FROM asked AS a
    INNER JOIN "reviews" AS r ON a.reviewer_id = r."reviewerID"
    WHERE
        r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
)

SELECT
    a.reviewer_id,
    count(i.reviewer_id) AS review_count,
    cast(sum(i.rating) AS REAL) / nullif(count(i.reviewer_id), 0) AS average_rating,
    count(*) FILTER (WHERE i.rating = 1) AS rating_1,
    count(*) FILTER (WHERE i.rating = 2) AS rating_2,
    count(*) FILTER (WHERE i.rating = 3) AS rating_3,
    count(*) FILTER (WHERE i.rating = 4) AS rating_4,
    count(*) FILTER (WHERE i.rating = 5) AS rating_5,
    count(*) FILTER (WHERE i.verified = 1) AS verified_review_count,
    coalesce(sum(
        CASE
            WHEN
                i.vote GLOB '[0-9]*'
                AND replace(i.vote, ',', '') NOT GLOB '*[^0-9]*'
                AND (instr(i.vote, ',') = 0 OR i.vote = printf('%,d', replace(i.vote, ',', '')))
                AND length(ltrim(replace(i.vote, ',', ''), '0')) <= 10
                AND cast(replace(i.vote, ',', '') AS INTEGER) <= 2147483647
                THEN cast(replace(i.vote, ',', '') AS INTEGER)
            ELSE 0
        END
    ), 0) AS helpful_votes,
    count(DISTINCT i.product_id) AS distinct_products,
    coalesce(date(min(i.review_time), 'unixepoch'), min(i.review_time)) AS first_review_date,
    coalesce(date(max(i.review_time), 'unixepoch'), max(i.review_time)) AS last_review_date,
    -- Whatever the period: the newest review that carries a name, ties to the higher index.
    (
        SELECT n."reviewerName"
        FROM "reviews" AS n
        WHERE
            n."reviewerID" = a.reviewer_id
            AND n."reviewerName" IS NOT NULL
        ORDER BY n."unixReviewTime" DESC, n."index" DESC
        LIMIT 1
    ) AS reviewer_name
FROM asked AS a
LEFT JOIN in_range AS i ON a.reviewer_id = i.reviewer_id
WHERE
    EXISTS (
        SELECT 1
        FROM "reviews" AS e
        WHERE e."reviewerID" = a.reviewer_id
    )
GROUP BY a.position, a.reviewer_id
ORDER BY a.position;
