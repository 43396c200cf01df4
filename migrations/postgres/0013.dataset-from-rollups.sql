-- depends: 0012.rankings
-- review_api.dataset_summary from the rollups: migration 0011 counted the distinct products
-- and reviewers over every review (4.4 to 6.1 s at 10M reviews, past the service's 2 s
-- statement timeout); the all-time rows of 0012's rollups hold one row per product and per
-- reviewer with additive aggregates, built and published with each load, so the same
-- answer is a count over their indexes. Same signature and columns: the BI and HTTP
-- contract is unchanged.

CREATE OR REPLACE FUNCTION review_api.dataset_summary()
RETURNS TABLE (
    review_count BIGINT,
    product_count BIGINT,
    reviewer_count BIGINT,
    first_review_date DATE,
    last_review_date DATE,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    data_version TEXT,
    loaded_at TEXT
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH products AS (
        -- One all-time row per product with any review: its count, days and ratings.
        SELECT
            coalesce(sum(p.review_count), 0)::BIGINT AS review_count,
            count(*) AS product_count,
            min(p.first_review_date) AS first_review_date,
            max(p.last_review_date) AS last_review_date,
            coalesce(sum(p.rating_1), 0)::BIGINT AS rating_1,
            coalesce(sum(p.rating_2), 0)::BIGINT AS rating_2,
            coalesce(sum(p.rating_3), 0)::BIGINT AS rating_3,
            coalesce(sum(p.rating_4), 0)::BIGINT AS rating_4,
            coalesce(sum(p.rating_5), 0)::BIGINT AS rating_5
        FROM review_api.product_rollups AS p
        WHERE p.period_year = 0
    ),

    reviewers AS (
        SELECT count(*) AS reviewer_count
        FROM review_api.reviewer_rollups AS v
        WHERE v.period_year = 0
    ),

    -- The data version as the service computes it (queries/postgres/lookups.sql,
    -- current_load), and when that load went live, as UTC text whatever the session's
    -- TimeZone.
    live_load AS (
        SELECT
            coalesce(max(l.load_id), 0)::TEXT AS data_version,
            to_char(
                max(l.finished_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
            ) AS loaded_at
        FROM review_api.data_loads AS l
    )

    SELECT
        p.review_count,
        p.product_count,
        v.reviewer_count,
        p.first_review_date,
        p.last_review_date,
        p.rating_1,
        p.rating_2,
        p.rating_3,
        p.rating_4,
        p.rating_5,
        l.data_version,
        l.loaded_at
    FROM products AS p
    CROSS JOIN reviewers AS v
    CROSS JOIN live_load AS l
$$;

COMMENT ON FUNCTION review_api.dataset_summary() IS $$
The whole data set's extent: reviews, products, reviewers, first and last review day.
One row: how many reviews, distinct products and distinct reviewers the data holds, its
first and last review day (UTC), the reviews per star rating, the data version (the id of
the live load, 0 before any) and when that load went live (ISO 8601, UTC; NULL before any
load). It reads the all-time rows of the rollups `reviews-api load` builds with each load
(review_api.product_rollups and reviewer_rollups, period_year 0), published in the same
swap as the reviews: exact, and milliseconds rather than seconds at millions of reviews.

Example:
SELECT * FROM review_api.dataset_summary();
@route GET /v1/reviews/summary
@returns object
@group rating_distribution rating_
@example {"review_count": 231392, "product_count": 10620, "reviewer_count": 27530, "first_review_date": "2003-10-28", "last_review_date": "2018-09-28", "rating_distribution": {"1": 12721, "2": 8128, "3": 16253, "4": 37234, "5": 157056}, "data_version": "1", "loaded_at": "2026-11-29T13:32:29Z"}
@column review_count {"minimum": 0} Reviews in the data set.
@column product_count {"minimum": 0} Distinct products reviewed.
@column reviewer_count {"minimum": 0} Distinct reviewers.
@column first_review_date {"type": ["string", "null"]} Earliest review day (UTC); `null` when there is no review.
@column last_review_date {"type": ["string", "null"]} Latest review day (UTC); `null` when there is no review.
@column rating_distribution Reviews per star rating; all five keys always present.
@column rating_1 {"minimum": 0}
@column rating_2 {"minimum": 0}
@column rating_3 {"minimum": 0}
@column rating_4 {"minimum": 0}
@column rating_5 {"minimum": 0}
@column data_version The version of the data served: the id of the live load (`0` before the first load).
@column loaded_at {"type": ["string", "null"]} When the live load went live, ISO 8601 in UTC (`YYYY-MM-DDTHH:MM:SSZ`); `null` before the first load, and on the SQLite development file.
$$;
