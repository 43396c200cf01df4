-- depends: 0009.api-annotations
-- Monthly trends, as SQL functions BI tools call directly and the API serves (their
-- COMMENTs carry the route, docs/api-catalog.md):
--
--   SELECT * FROM review_api.product_monthly_reviews('B0128IL7TH');
--   SELECT * FROM review_api.reviewer_monthly_reviews('A0NS716RA5ZORF',
--                                                     from_date => '2016-01-01');
--
-- One row per calendar month, oldest first, from the month of the first review in the
-- range to the month of the last: a month without reviews is a row of zeros (its average
-- NULL), so that a chart has no gaps; no review in the range (or an unknown id), no row.
-- A month counts only the days of the range that fall in it: a range starting or ending
-- mid-month gives partial first and last months. Months are UTC calendar months of
-- review_date, the UTC calendar day every summary already uses.
--
-- Written like 0004.summary-functions.sql, to be inlined into the caller's query
-- (LANGUAGE sql, a single SELECT, STABLE, not STRICT, no SET clause), with the same
-- aggregates and the same half-open, coalesced date bounds: the reviews are one range of
-- reviews_product_date_idx / reviews_reviewer_date_idx (0002), read by an index-only scan,
-- also under the generic plan of a prepared statement. The loader rebuilds every index of
-- public.reviews (0006-0008), so no new index is needed. The months come first (from the
-- first and last review days, two index probes), then each month's reviews are aggregated
-- from its own index range: the reviews are read once, in index order, never sorted or
-- hashed, and the plan is the same whatever the planner guesses of a generic plan's
-- parameters (grouping by month instead made the generic plan sort every review).
--
-- Month arithmetic is done on TIMESTAMP (without time zone): DATE would be promoted to
-- TIMESTAMPTZ, and the answer would then go through the session's TimeZone.

CREATE FUNCTION review_api.product_monthly_reviews(
    product_id TEXT,
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL
)
RETURNS TABLE (
    month TEXT,
    review_count BIGINT,
    average_rating DOUBLE PRECISION,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    verified_review_count BIGINT,
    helpful_votes BIGINT
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH extent AS (
        -- The first and the last review day in the range: one probe from each end of the
        -- index range, whatever the number of reviews.
        SELECT
            (
                SELECT r.review_date
                FROM review_api.reviews AS r
                WHERE
                    r.product_id = product_monthly_reviews.product_id
                    AND r.review_date >= coalesce(product_monthly_reviews.from_date, '-infinity'::DATE)
                    AND r.review_date < coalesce(product_monthly_reviews.to_date + 1, 'infinity'::DATE)
                ORDER BY r.review_date ASC
                LIMIT 1
            ) AS first_day,
            (
                SELECT r.review_date
                FROM review_api.reviews AS r
                WHERE
                    r.product_id = product_monthly_reviews.product_id
                    AND r.review_date >= coalesce(product_monthly_reviews.from_date, '-infinity'::DATE)
                    AND r.review_date < coalesce(product_monthly_reviews.to_date + 1, 'infinity'::DATE)
                ORDER BY r.review_date DESC
                LIMIT 1
            ) AS last_day
    ),

    -- Every month from the first review's to the last one's; none when there is no review
    -- in the range (the days are NULL, and so is the series).
    calendar AS (
        SELECT s.month_start
        FROM extent AS e
        CROSS JOIN
            LATERAL generate_series(
                date_trunc('month', e.first_day::TIMESTAMP),
                e.last_day::TIMESTAMP,
                INTERVAL '1 month'
            ) AS s (month_start)
    )

    -- Each month is the aggregate of 0004 over the part of the range inside the month: one
    -- index range per month, so no sort or hash of the reviews, and an empty month
    -- aggregates to zeros and a NULL average by itself.
    SELECT
        to_char(c.month_start, 'YYYY-MM') AS month,
        m.review_count,
        m.average_rating,
        m.rating_1,
        m.rating_2,
        m.rating_3,
        m.rating_4,
        m.rating_5,
        m.verified_review_count,
        m.helpful_votes
    FROM calendar AS c
    CROSS JOIN LATERAL (
        SELECT
            count(*) AS review_count,
            sum(r.rating)::DOUBLE PRECISION / nullif(count(*), 0) AS average_rating,
            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
            count(*) FILTER (WHERE r.rating = 5) AS rating_5,
            count(*) FILTER (WHERE r.verified) AS verified_review_count,
            coalesce(sum(r.helpful_votes), 0) AS helpful_votes
        FROM review_api.reviews AS r
        WHERE
            r.product_id = product_monthly_reviews.product_id
            AND r.review_date >= greatest(
                c.month_start::DATE, coalesce(product_monthly_reviews.from_date, '-infinity'::DATE)
            )
            AND r.review_date < least(
                (c.month_start + INTERVAL '1 month')::DATE,
                coalesce(product_monthly_reviews.to_date + 1, 'infinity'::DATE)
            )
    ) AS m
    ORDER BY c.month_start
$$;

COMMENT ON FUNCTION review_api.product_monthly_reviews(TEXT, DATE, DATE) IS $$
Monthly review aggregates of one product, optionally within a date range.
One row per calendar month (UTC), oldest first, from the month of the product's first
review in the range to the month of its last; a month without reviews is a row of
zeros with a null average, so that a chart has no gaps. No row when the product has
no review in the range, or none at all. A month counts the reviews of its days within
the range: a range that starts or ends mid-month gives partial first and last months.

Examples, all time and the year 2016:
SELECT * FROM review_api.product_monthly_reviews('B0128IL7TH');
SELECT * FROM review_api.product_monthly_reviews('B0128IL7TH', '2016-01-01', '2016-12-31');
@route GET /v1/products/{product_id}/reviews/monthly
@returns list
@param from_date from
@param to_date to
@argument product_id {"minLength": 1, "maxLength": 64} Product id (the ASIN), 1 to 64 characters.
@argument from_date First review day to include, YYYY-MM-DD (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after to.
@argument to_date Last review day to include, YYYY-MM-DD (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not before from.
@echo product_id
@echo period: from_date to_date
@items months
@group rating_distribution rating_
@range from_date to_date
@example {"product_id": "B0128IL7TH", "period": {"from": "2016-01-01", "to": "2016-02-29"}, "months": [{"month": "2016-01", "review_count": 83, "average_rating": 4.409638554216867, "rating_distribution": {"1": 6, "2": 1, "3": 2, "4": 18, "5": 56}, "verified_review_count": 74, "helpful_votes": 170}, {"month": "2016-02", "review_count": 100, "average_rating": 4.16, "rating_distribution": {"1": 8, "2": 8, "3": 6, "4": 16, "5": 62}, "verified_review_count": 92, "helpful_votes": 153}]}
@notfound no reviews at all for product_id {product_id}
@column product_id The product id asked for, as given.
@column period The range asked for: its from and to, each null where not given (not the data's extent).
@column months One entry per calendar month from the month of the first review in the period to the month of the last, oldest first, months without reviews included with zeros; empty when the product has no review in the period.
@column month {"pattern": "^[0-9]{4}-[0-9]{2}$"} The calendar month, YYYY-MM (UTC).
@column review_count {"minimum": 0} Reviews in the month, within the period.
@column average_rating {"type": ["number", "null"], "minimum": 1, "maximum": 5} Mean star rating of the month, sum / count, unrounded; null when review_count is 0.
@column rating_distribution Reviews of the month per star rating, keys "1" to "5", always all five.
@column rating_1 {"minimum": 0} Reviews of the month with 1 star.
@column rating_2 {"minimum": 0} Reviews of the month with 2 stars.
@column rating_3 {"minimum": 0} Reviews of the month with 3 stars.
@column rating_4 {"minimum": 0} Reviews of the month with 4 stars.
@column rating_5 {"minimum": 0} Reviews of the month with 5 stars.
@column verified_review_count {"minimum": 0} Reviews of the month marked as verified purchases.
@column helpful_votes {"minimum": 0} Sum of the helpful votes of the month's reviews (no vote counts 0).
$$;

CREATE FUNCTION review_api.reviewer_monthly_reviews(
    reviewer_id TEXT,
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL
)
RETURNS TABLE (
    month TEXT,
    review_count BIGINT,
    average_rating DOUBLE PRECISION,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    verified_review_count BIGINT,
    helpful_votes BIGINT
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH extent AS (
        -- The first and the last review day in the range: one probe from each end of the
        -- index range, whatever the number of reviews.
        SELECT
            (
                SELECT r.review_date
                FROM review_api.reviews AS r
                WHERE
                    r.reviewer_id = reviewer_monthly_reviews.reviewer_id
                    AND r.review_date >= coalesce(reviewer_monthly_reviews.from_date, '-infinity'::DATE)
                    AND r.review_date < coalesce(reviewer_monthly_reviews.to_date + 1, 'infinity'::DATE)
                ORDER BY r.review_date ASC
                LIMIT 1
            ) AS first_day,
            (
                SELECT r.review_date
                FROM review_api.reviews AS r
                WHERE
                    r.reviewer_id = reviewer_monthly_reviews.reviewer_id
                    AND r.review_date >= coalesce(reviewer_monthly_reviews.from_date, '-infinity'::DATE)
                    AND r.review_date < coalesce(reviewer_monthly_reviews.to_date + 1, 'infinity'::DATE)
                ORDER BY r.review_date DESC
                LIMIT 1
            ) AS last_day
    ),

    -- Every month from the first review's to the last one's; none when there is no review
    -- in the range (the days are NULL, and so is the series).
    calendar AS (
        SELECT s.month_start
        FROM extent AS e
        CROSS JOIN
            LATERAL generate_series(
                date_trunc('month', e.first_day::TIMESTAMP),
                e.last_day::TIMESTAMP,
                INTERVAL '1 month'
            ) AS s (month_start)
    )

    -- Each month is the aggregate of 0004 over the part of the range inside the month: one
    -- index range per month, so no sort or hash of the reviews, and an empty month
    -- aggregates to zeros and a NULL average by itself.
    SELECT
        to_char(c.month_start, 'YYYY-MM') AS month,
        m.review_count,
        m.average_rating,
        m.rating_1,
        m.rating_2,
        m.rating_3,
        m.rating_4,
        m.rating_5,
        m.verified_review_count,
        m.helpful_votes
    FROM calendar AS c
    CROSS JOIN LATERAL (
        SELECT
            count(*) AS review_count,
            sum(r.rating)::DOUBLE PRECISION / nullif(count(*), 0) AS average_rating,
            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
            count(*) FILTER (WHERE r.rating = 5) AS rating_5,
            count(*) FILTER (WHERE r.verified) AS verified_review_count,
            coalesce(sum(r.helpful_votes), 0) AS helpful_votes
        FROM review_api.reviews AS r
        WHERE
            r.reviewer_id = reviewer_monthly_reviews.reviewer_id
            AND r.review_date >= greatest(
                c.month_start::DATE, coalesce(reviewer_monthly_reviews.from_date, '-infinity'::DATE)
            )
            AND r.review_date < least(
                (c.month_start + INTERVAL '1 month')::DATE,
                coalesce(reviewer_monthly_reviews.to_date + 1, 'infinity'::DATE)
            )
    ) AS m
    ORDER BY c.month_start
$$;

COMMENT ON FUNCTION review_api.reviewer_monthly_reviews(TEXT, DATE, DATE) IS $$
Monthly review aggregates of one reviewer, optionally within a date range.
One row per calendar month (UTC), oldest first, from the month of the reviewer's first
review in the range to the month of their last; a month without reviews is a row of
zeros with a null average, so that a chart has no gaps. No row when the reviewer has
no review in the range, or none at all. A month counts the reviews of its days within
the range: a range that starts or ends mid-month gives partial first and last months.

Examples, all time and the year 2016:
SELECT * FROM review_api.reviewer_monthly_reviews('A0NS716RA5ZORF');
SELECT * FROM review_api.reviewer_monthly_reviews('A0NS716RA5ZORF', '2016-01-01', '2016-12-31');
@route GET /v1/reviewers/{reviewer_id}/reviews/monthly
@returns list
@param from_date from
@param to_date to
@argument reviewer_id {"minLength": 1, "maxLength": 64} Reviewer (user) id, 1 to 64 characters.
@argument from_date First review day to include, YYYY-MM-DD (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after to.
@argument to_date Last review day to include, YYYY-MM-DD (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not before from.
@echo reviewer_id
@echo period: from_date to_date
@items months
@group rating_distribution rating_
@range from_date to_date
@example {"reviewer_id": "A0NS716RA5ZORF", "period": {"from": "2016-10-01", "to": "2016-12-31"}, "months": [{"month": "2016-10", "review_count": 1, "average_rating": 5.0, "rating_distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}, "verified_review_count": 1, "helpful_votes": 2}, {"month": "2016-11", "review_count": 0, "average_rating": null, "rating_distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}, "verified_review_count": 0, "helpful_votes": 0}, {"month": "2016-12", "review_count": 1, "average_rating": 5.0, "rating_distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}, "verified_review_count": 1, "helpful_votes": 0}]}
@notfound no reviews at all for reviewer_id {reviewer_id}
@column reviewer_id The reviewer id asked for, as given.
@column period The range asked for: its from and to, each null where not given (not the data's extent).
@column months One entry per calendar month from the month of the first review in the period to the month of the last, oldest first, months without reviews included with zeros; empty when the reviewer has no review in the period.
@column month {"pattern": "^[0-9]{4}-[0-9]{2}$"} The calendar month, YYYY-MM (UTC).
@column review_count {"minimum": 0} Reviews in the month, within the period.
@column average_rating {"type": ["number", "null"], "minimum": 1, "maximum": 5} Mean star rating given in the month, sum / count, unrounded; null when review_count is 0.
@column rating_distribution Reviews of the month per star rating, keys "1" to "5", always all five.
@column rating_1 {"minimum": 0} Reviews of the month with 1 star.
@column rating_2 {"minimum": 0} Reviews of the month with 2 stars.
@column rating_3 {"minimum": 0} Reviews of the month with 3 stars.
@column rating_4 {"minimum": 0} Reviews of the month with 4 stars.
@column rating_5 {"minimum": 0} Reviews of the month with 5 stars.
@column verified_review_count {"minimum": 0} Reviews of the month marked as verified purchases.
@column helpful_votes {"minimum": 0} Sum of the helpful votes of the month's reviews (no vote counts 0).
$$;

-- 0005 revoked EXECUTE from PUBLIC on the functions that existed then, and 0008's default
-- privileges cover only objects created by the role that ran it: say it here, whoever
-- migrates.
REVOKE EXECUTE ON FUNCTION review_api.product_monthly_reviews(TEXT, DATE, DATE)
FROM PUBLIC;  -- noqa: CP02
REVOKE EXECUTE ON FUNCTION review_api.reviewer_monthly_reviews(TEXT, DATE, DATE)
FROM PUBLIC;  -- noqa: CP02
GRANT EXECUTE ON FUNCTION review_api.product_monthly_reviews(TEXT, DATE, DATE)
TO reviews_reader;
GRANT EXECUTE ON FUNCTION review_api.reviewer_monthly_reviews(TEXT, DATE, DATE)
TO reviews_reader;
