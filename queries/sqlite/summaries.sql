-- Review summaries over the original SQLite development file (table "reviews", camelCase
-- columns): the development twins of the PostgreSQL functions
-- review_api.product_review_summary and review_api.reviewer_review_summary, with the same
-- names, arguments and result columns (the API catalog, queries/catalog.json; a test holds
-- them together).
--
-- Date bounds are half-open on "unixReviewTime" (UTC midnight of the review day):
--   unixReviewTime >= unixepoch(from_date) AND unixReviewTime < unixepoch(to_date, '+1 day')
-- so the range is inclusive of both days and stays an index range scan. A NULL bound falls
-- back to the extreme of a 64-bit integer, so an open end takes every stored row as
-- PostgreSQL does, even one whose time is no date SQLite or the service can represent
-- (date() is then NULL: the raw number is answered instead, which the service refuses like
-- PostgreSQL's driver refuses such a date: 502).
-- average_rating is sum / count in double precision, the exact mean, NULL when no review.
--
-- Votes: the file may be a copy of the original database that `reviews-api load` never
-- checked, so each vote is read by the table of accepted forms of README "Helpful votes"
-- (the loader applies the same table, service/sources.py vote_text): surrounding spaces,
-- tabs and line breaks ignored; digits ("1078"), or digits with a comma every three from
-- the right ("1,078"); at most 2147483647; NULL or blank counts 0. What the loader would
-- refuse cannot be refused here: it counts 0.

-- name: product_review_summary(product_id, from_date, to_date)^
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
        AND r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
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
    coalesce(date(min(review_time), 'unixepoch'), min(review_time)) AS first_review_date,
    coalesce(date(max(review_time), 'unixepoch'), max(review_time)) AS last_review_date
FROM product_reviews;

-- name: reviewer_review_summary(reviewer_id, from_date, to_date)^
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
        AND r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
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
    coalesce(date(min(review_time), 'unixepoch'), min(review_time)) AS first_review_date,
    coalesce(date(max(review_time), 'unixepoch'), max(review_time)) AS last_review_date,
    (SELECT latest_name.reviewer_name FROM latest_name) AS reviewer_name
FROM reviewer_reviews;
