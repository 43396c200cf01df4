-- Monthly trends over the original SQLite development file (table "reviews", camelCase
-- columns): the same names, parameters and result columns as the PostgreSQL functions
-- review_api.product_monthly_reviews and review_api.reviewer_monthly_reviews
-- (migrations/postgres/0010.monthly-trends.sql), which the API serves on PostgreSQL.
--
-- One row per calendar month (UTC), oldest first, from the month of the first review in the
-- range to the month of the last; a month without reviews is a row of zeros with a NULL
-- average; no review in the range, no row. The date bounds, the average and the vote rule
-- are those of summaries.sql (see there why): half-open bounds on "unixReviewTime" that stay
-- an index range, sum / count in double precision, votes read by the table of accepted
-- forms. SQLite has no generate_series: a recursive CTE walks the months, as 'YYYY-MM-01'
-- days, from the first reviewed month to the last.

-- name: product_monthly_reviews(product_id, from_date, to_date)
-- One row per calendar month of a product's reviews between two optional ISO dates
-- (inclusive), months without reviews included with zeros.
WITH RECURSIVE product_reviews AS (
    SELECT
        strftime('%Y-%m-01', r."unixReviewTime", 'unixepoch') AS month_start,
        r."overall" AS rating,
        r."verified" AS verified,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote
    FROM "reviews" AS r
    WHERE
        r."productID" = :product_id
        AND r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
),

reviewed_months AS (
    SELECT
        month_start,
        count(*) AS review_count,
        cast(sum(rating) AS REAL) / count(*) AS average_rating,
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
        ), 0) AS helpful_votes
    FROM product_reviews
    GROUP BY month_start
),

-- Every month from the first to the last reviewed one; none when no month was reviewed.
calendar (month_start) AS (
    SELECT m.month_start
    FROM reviewed_months AS m
    WHERE m.month_start = (SELECT min(f.month_start) FROM reviewed_months AS f)
    UNION ALL
    SELECT date(c.month_start, '+1 month') AS month_start
    FROM calendar AS c
    WHERE c.month_start < (SELECT max(m.month_start) FROM reviewed_months AS m)
)

SELECT
    substr(c.month_start, 1, 7) AS month,
    coalesce(m.review_count, 0) AS review_count,
    m.average_rating,
    coalesce(m.rating_1, 0) AS rating_1,
    coalesce(m.rating_2, 0) AS rating_2,
    coalesce(m.rating_3, 0) AS rating_3,
    coalesce(m.rating_4, 0) AS rating_4,
    coalesce(m.rating_5, 0) AS rating_5,
    coalesce(m.verified_review_count, 0) AS verified_review_count,
    coalesce(m.helpful_votes, 0) AS helpful_votes
FROM calendar AS c
LEFT JOIN reviewed_months AS m ON c.month_start = m.month_start
ORDER BY c.month_start;

-- name: reviewer_monthly_reviews(reviewer_id, from_date, to_date)
-- One row per calendar month of a reviewer's reviews between two optional ISO dates
-- (inclusive), months without reviews included with zeros.
WITH RECURSIVE reviewer_reviews AS (
    SELECT
        strftime('%Y-%m-01', r."unixReviewTime", 'unixepoch') AS month_start,
        r."overall" AS rating,
        r."verified" AS verified,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote
    FROM "reviews" AS r
    WHERE
        r."reviewerID" = :reviewer_id
        AND r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
),

reviewed_months AS (
    SELECT
        month_start,
        count(*) AS review_count,
        cast(sum(rating) AS REAL) / count(*) AS average_rating,
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
        ), 0) AS helpful_votes
    FROM reviewer_reviews
    GROUP BY month_start
),

-- Every month from the first to the last reviewed one; none when no month was reviewed.
calendar (month_start) AS (
    SELECT m.month_start
    FROM reviewed_months AS m
    WHERE m.month_start = (SELECT min(f.month_start) FROM reviewed_months AS f)
    UNION ALL
    SELECT date(c.month_start, '+1 month') AS month_start
    FROM calendar AS c
    WHERE c.month_start < (SELECT max(m.month_start) FROM reviewed_months AS m)
)

SELECT
    substr(c.month_start, 1, 7) AS month,
    coalesce(m.review_count, 0) AS review_count,
    m.average_rating,
    coalesce(m.rating_1, 0) AS rating_1,
    coalesce(m.rating_2, 0) AS rating_2,
    coalesce(m.rating_3, 0) AS rating_3,
    coalesce(m.rating_4, 0) AS rating_4,
    coalesce(m.rating_5, 0) AS rating_5,
    coalesce(m.verified_review_count, 0) AS verified_review_count,
    coalesce(m.helpful_votes, 0) AS helpful_votes
FROM calendar AS c
LEFT JOIN reviewed_months AS m ON c.month_start = m.month_start
ORDER BY c.month_start;
