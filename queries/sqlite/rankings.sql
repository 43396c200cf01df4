-- Rankings over the original SQLite development file (table "reviews", camelCase
-- columns): the same names, parameters and result columns as the PostgreSQL functions
-- review_api.top_products and review_api.top_reviewers (migrations/postgres/0012.rankings.sql),
-- which the API serves on PostgreSQL. SQLite reads the raw table: the development dialect
-- favours simplicity, and a user's original file, which has no rollups, must keep working.
--
-- Every entity with at least min_reviews reviews in the range, ordered by the sort value
-- (as a double), ties by id (byte order, as PostgreSQL's "C" collation), both in the
-- direction asked; a keyset page: the rows after (after_value, after_id) in that order,
-- compared as a row value, after_id NULL counting as the empty id; at most max_rows rows
-- (NULL: all). The date bounds, the average and the vote rule are those of summaries.sql
-- (see there why). sort and sort_order are the enum labels as text; NULL sort, sort_order
-- and min_reviews are the defaults ('review_count', 'desc', 1), as in PostgreSQL.
--
-- The ranking aggregates every review of the period, so it computes there only what the
-- threshold and the sort need (count, average, verified count, helpful votes); the star
-- distribution and the dates are aggregated afterwards for the page's rows only, over the
-- same reviews (the same id and bounds: one index range each with the development
-- indexes, migrations/sqlite/indexes.sql). NOT MATERIALIZED keeps the aggregation one
-- streaming scan although the page is read twice. Two votes are answered before the full
-- rule, with the same count: none (most rows: 0), and a stored vote of one to nine ASCII
-- digits and nothing else (most votes: the number itself, which cannot pass 2147483647).
--
-- The name lines below are longer than the line limit: aiosql needs each on one line.
-- noqa: disable=LT05

-- name: top_products(from_date, to_date, sort, sort_order, min_reviews, max_rows, after_value, after_id)
-- A page of the product ranking between two optional ISO dates (inclusive), after a cursor.
WITH period_reviews AS NOT MATERIALIZED (
    SELECT
        r."productID" AS product_id,
        r."overall" AS rating,
        r."verified" AS verified,
        r."vote" AS stored_vote,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote
    FROM "reviews" AS r
    WHERE
        r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
),

totals AS NOT MATERIALIZED (
    SELECT
        product_id,
        count(*) AS review_count,
        cast(sum(rating) AS REAL) / count(*) AS average_rating,
        count(*) FILTER (WHERE verified = 1) AS verified_review_count,
        coalesce(sum(
            CASE
                WHEN stored_vote IS NULL THEN 0
                WHEN
                    length(stored_vote) <= 9
                    AND stored_vote NOT GLOB '*[^0-9]*'
                    THEN cast(stored_vote AS INTEGER)
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
    FROM period_reviews
    GROUP BY product_id
    HAVING count(*) >= coalesce(:min_reviews, 1)
),

keyed AS NOT MATERIALIZED (
    SELECT
        t.*,
        CASE coalesce(:sort, 'review_count')
            WHEN 'review_count' THEN cast(t.review_count AS REAL)
            WHEN 'average_rating' THEN t.average_rating
            WHEN 'helpful_votes' THEN cast(t.helpful_votes AS REAL)
            WHEN 'verified_review_count' THEN cast(t.verified_review_count AS REAL)
        END AS sort_value
    FROM totals AS t
),

page AS (
    SELECT k.*
    FROM keyed AS k
    WHERE
        CASE coalesce(:sort_order, 'desc')
            WHEN 'desc'
                THEN
                    (k.sort_value, k.product_id)
                    < (coalesce(:after_value, 9e999), coalesce(:after_id, ''))
            ELSE
                (k.sort_value, k.product_id)
                > (coalesce(:after_value, -9e999), coalesce(:after_id, ''))
        END
    ORDER BY
        CASE WHEN coalesce(:sort_order, 'desc') = 'desc' THEN k.sort_value END DESC,
        CASE WHEN coalesce(:sort_order, 'desc') = 'desc' THEN k.product_id END DESC,
        k.sort_value ASC,
        k.product_id ASC
    LIMIT coalesce(:max_rows, -1)
),

page_details AS (
    SELECT
        p.product_id,
        count(*) FILTER (WHERE r."overall" = 1) AS rating_1,
        count(*) FILTER (WHERE r."overall" = 2) AS rating_2,
        count(*) FILTER (WHERE r."overall" = 3) AS rating_3,
        count(*) FILTER (WHERE r."overall" = 4) AS rating_4,
        count(*) FILTER (WHERE r."overall" = 5) AS rating_5,
        min(r."unixReviewTime") AS first_review_time,
        max(r."unixReviewTime") AS last_review_time
    FROM page AS p
    INNER JOIN "reviews" AS r
        ON
            p.product_id IS r."productID"
            AND r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
            AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
    GROUP BY p.product_id
)

SELECT
    p.product_id,
    p.review_count,
    p.average_rating,
    d.rating_1,
    d.rating_2,
    d.rating_3,
    d.rating_4,
    d.rating_5,
    p.verified_review_count,
    p.helpful_votes,
    coalesce(date(d.first_review_time, 'unixepoch'), d.first_review_time) AS first_review_date,
    coalesce(date(d.last_review_time, 'unixepoch'), d.last_review_time) AS last_review_date,
    p.sort_value
FROM page AS p
INNER JOIN page_details AS d ON p.product_id IS d.product_id
ORDER BY
    CASE WHEN coalesce(:sort_order, 'desc') = 'desc' THEN p.sort_value END DESC,
    CASE WHEN coalesce(:sort_order, 'desc') = 'desc' THEN p.product_id END DESC,
    p.sort_value ASC,
    p.product_id ASC;

-- name: top_reviewers(from_date, to_date, sort, sort_order, min_reviews, max_rows, after_value, after_id)
-- A page of the reviewer ranking between two optional ISO dates (inclusive), after a cursor.
WITH period_reviews AS NOT MATERIALIZED (
    SELECT
        r."reviewerID" AS reviewer_id,
        r."overall" AS rating,
        r."verified" AS verified,
        r."vote" AS stored_vote,
        trim(r."vote", ' ' || char(9, 10, 13)) AS vote
    FROM "reviews" AS r
    WHERE
        r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
        AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
),

totals AS NOT MATERIALIZED (
    SELECT
        reviewer_id,
        count(*) AS review_count,
        cast(sum(rating) AS REAL) / count(*) AS average_rating,
        count(*) FILTER (WHERE verified = 1) AS verified_review_count,
        coalesce(sum(
            CASE
                WHEN stored_vote IS NULL THEN 0
                WHEN
                    length(stored_vote) <= 9
                    AND stored_vote NOT GLOB '*[^0-9]*'
                    THEN cast(stored_vote AS INTEGER)
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
    FROM period_reviews
    GROUP BY reviewer_id
    HAVING count(*) >= coalesce(:min_reviews, 1)
),

keyed AS NOT MATERIALIZED (
    SELECT
        t.*,
        CASE coalesce(:sort, 'review_count')
            WHEN 'review_count' THEN cast(t.review_count AS REAL)
            WHEN 'average_rating' THEN t.average_rating
            WHEN 'helpful_votes' THEN cast(t.helpful_votes AS REAL)
            WHEN 'verified_review_count' THEN cast(t.verified_review_count AS REAL)
        END AS sort_value
    FROM totals AS t
),

page AS (
    SELECT k.*
    FROM keyed AS k
    WHERE
        CASE coalesce(:sort_order, 'desc')
            WHEN 'desc'
                THEN
                    (k.sort_value, k.reviewer_id)
                    < (coalesce(:after_value, 9e999), coalesce(:after_id, ''))
            ELSE
                (k.sort_value, k.reviewer_id)
                > (coalesce(:after_value, -9e999), coalesce(:after_id, ''))
        END
    ORDER BY
        CASE WHEN coalesce(:sort_order, 'desc') = 'desc' THEN k.sort_value END DESC,
        CASE WHEN coalesce(:sort_order, 'desc') = 'desc' THEN k.reviewer_id END DESC,
        k.sort_value ASC,
        k.reviewer_id ASC
    LIMIT coalesce(:max_rows, -1)
),

page_details AS (
    SELECT
        p.reviewer_id,
        count(*) FILTER (WHERE r."overall" = 1) AS rating_1,
        count(*) FILTER (WHERE r."overall" = 2) AS rating_2,
        count(*) FILTER (WHERE r."overall" = 3) AS rating_3,
        count(*) FILTER (WHERE r."overall" = 4) AS rating_4,
        count(*) FILTER (WHERE r."overall" = 5) AS rating_5,
        min(r."unixReviewTime") AS first_review_time,
        max(r."unixReviewTime") AS last_review_time
    FROM page AS p
    INNER JOIN "reviews" AS r
        ON
            p.reviewer_id IS r."reviewerID"
            AND r."unixReviewTime" >= coalesce(unixepoch(:from_date), -9223372036854775807)
            AND r."unixReviewTime" < coalesce(unixepoch(:to_date, '+1 day'), 9223372036854775807)
    GROUP BY p.reviewer_id
)

SELECT
    p.reviewer_id,
    (
        -- Whatever the period: the newest review that carries a name, ties to the higher index.
        SELECT n."reviewerName"
        FROM "reviews" AS n
        WHERE
            n."reviewerID" = p.reviewer_id
            AND n."reviewerName" IS NOT NULL
        ORDER BY n."unixReviewTime" DESC, n."index" DESC
        LIMIT 1
    ) AS reviewer_name,
    p.review_count,
    p.average_rating,
    d.rating_1,
    d.rating_2,
    d.rating_3,
    d.rating_4,
    d.rating_5,
    p.verified_review_count,
    p.helpful_votes,
    coalesce(date(d.first_review_time, 'unixepoch'), d.first_review_time) AS first_review_date,
    coalesce(date(d.last_review_time, 'unixepoch'), d.last_review_time) AS last_review_date,
    p.sort_value
FROM page AS p
INNER JOIN page_details AS d ON p.reviewer_id IS d.reviewer_id
ORDER BY
    CASE WHEN coalesce(:sort_order, 'desc') = 'desc' THEN p.sort_value END DESC,
    CASE WHEN coalesce(:sort_order, 'desc') = 'desc' THEN p.reviewer_id END DESC,
    p.sort_value ASC,
    p.reviewer_id ASC;
