-- Review summaries over the original SQLite development file (table "reviews", camelCase
-- columns). Same query names and result columns as queries/postgres/summaries.sql; a test
-- holds the two sets together.
--
-- Date bounds are half-open on "unixReviewTime" (UTC midnight of the review day):
--   unixReviewTime >= unixepoch(date_from) AND unixReviewTime < unixepoch(date_to, '+1 day')
-- so the range is inclusive of both days and stays an index range scan. A NULL bound falls
-- back to a constant outside any possible date (0001-01-01 and 10000-01-01).
-- average_rating is sum / count in double precision, the exact mean, NULL when no review.
--
-- Votes: the file may be a copy of the original database that `reviews-api load` never
-- checked, so each vote is read by the table of accepted forms of README "Helpful votes"
-- (the loader applies the same table, service/sources.py vote_text): surrounding spaces,
-- tabs and line breaks ignored; digits ("1078"), or digits with a comma every three from
-- the right ("1,078"); at most 2147483647; NULL or blank counts 0. What the loader would
-- refuse cannot be refused here: it counts 0.

-- name: product_review_summary(product_id, date_from, date_to)^
-- One row of review aggregates for a product between two optional ISO dates (inclusive).
WITH product_reviews AS (
    SELECT
        r."overall" AS rating,
        r."verified" AS verified,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote,
        r."reviewerID" AS reviewer_id,
        r."unixReviewTime" AS review_time
    FROM "reviews" AS r
    WHERE
        r."productID" = :product_id
        AND r."unixReviewTime" >= coalesce(unixepoch(:date_from), -62135596800)
        AND r."unixReviewTime" < coalesce(unixepoch(:date_to, '+1 day'), 253402300800)
)

SELECT
    count(*) AS review_count,
    cast(sum(rating) AS REAL) / nullif(count(*), 0) AS average_rating,
    count(*) FILTER (WHERE rating = 1) AS rating_1,
    count(*) FILTER (WHERE rating = 2) AS rating_2,
    count(*) FILTER (WHERE rating = 3) AS rating_3,
    count(*) FILTER (WHERE rating = 4) AS rating_4,
    count(*) FILTER (WHERE rating = 5) AS rating_5,
    count(*) FILTER (WHERE verified = 1) AS verified_review_count,
    coalesce(sum(
        CASE
            WHEN
                vote GLOB '[0-9]*'
                AND replace(vote, ',', '') NOT GLOB '*[^0-9]*'
                AND (instr(vote, ',') = 0 OR vote = printf('%,d', replace(vote, ',', '')))
                AND length(ltrim(replace(vote, ',', ''), '0')) <= 10
                AND cast(replace(vote, ',', '') AS INTEGER) <= 2147483647
                THEN cast(replace(vote, ',', '') AS INTEGER)
            ELSE 0
        END
    ), 0) AS helpful_votes,
    count(DISTINCT reviewer_id) AS distinct_reviewers,
    date(min(review_time), 'unixepoch') AS first_review_date,
    date(max(review_time), 'unixepoch') AS last_review_date
FROM product_reviews;

-- name: reviewer_review_summary(reviewer_id, date_from, date_to)^
-- One row of review aggregates for a reviewer between two optional ISO dates (inclusive),
-- with the reviewer's latest non-null display name over all time.
WITH reviewer_reviews AS (
    SELECT
        r."overall" AS rating,
        r."verified" AS verified,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote,
        r."productID" AS product_id,
        r."unixReviewTime" AS review_time
    FROM "reviews" AS r
    WHERE
        r."reviewerID" = :reviewer_id
        AND r."unixReviewTime" >= coalesce(unixepoch(:date_from), -62135596800)
        AND r."unixReviewTime" < coalesce(unixepoch(:date_to, '+1 day'), 253402300800)
),

latest_name AS (
    -- Whatever the period: the newest review that carries a name, ties to the higher index.
    SELECT n."reviewerName" AS reviewer_name
    FROM "reviews" AS n
    WHERE
        n."reviewerID" = :reviewer_id
        AND n."reviewerName" IS NOT NULL
    ORDER BY n."unixReviewTime" DESC, n."index" DESC
    LIMIT 1
)

SELECT
    count(*) AS review_count,
    cast(sum(rating) AS REAL) / nullif(count(*), 0) AS average_rating,
    count(*) FILTER (WHERE rating = 1) AS rating_1,
    count(*) FILTER (WHERE rating = 2) AS rating_2,
    count(*) FILTER (WHERE rating = 3) AS rating_3,
    count(*) FILTER (WHERE rating = 4) AS rating_4,
    count(*) FILTER (WHERE rating = 5) AS rating_5,
    count(*) FILTER (WHERE verified = 1) AS verified_review_count,
    coalesce(sum(
        CASE
            WHEN
                vote GLOB '[0-9]*'
                AND replace(vote, ',', '') NOT GLOB '*[^0-9]*'
                AND (instr(vote, ',') = 0 OR vote = printf('%,d', replace(vote, ',', '')))
                AND length(ltrim(replace(vote, ',', ''), '0')) <= 10
                AND cast(replace(vote, ',', '') AS INTEGER) <= 2147483647
                THEN cast(replace(vote, ',', '') AS INTEGER)
            ELSE 0
        END
    ), 0) AS helpful_votes,
    count(DISTINCT product_id) AS distinct_products,
    date(min(review_time), 'unixepoch') AS first_review_date,
    date(max(review_time), 'unixepoch') AS last_review_date,
    (SELECT latest_name.reviewer_name FROM latest_name) AS reviewer_name
FROM reviewer_reviews;
