-- depends: 0003.review-api-views
-- The summaries, as SQL functions BI tools call directly and the API calls through
-- queries/postgres/summaries.sql:
--
--   SELECT * FROM review_api.product_review_summary('B0128IL7TH');
--   SELECT * FROM review_api.reviewer_review_summary('A0NS716RA5ZORF',
--                                                    from_date => '2016-01-01');
--
-- Each returns exactly one row, review_count 0 for an unknown id or an empty range.
-- Written to be inlined into the caller's query (LANGUAGE sql, a single SELECT, STABLE,
-- not STRICT, no SET clause): the planner then sees through the call and plans an index
-- only scan on reviews_*_date_idx, also as a generic plan of a prepared statement.
-- Date bounds are half-open days, [from_date, to_date + 1), with NULL meaning unbounded
-- (coalesce to +/-infinity rather than "IS NULL OR", which defeats the index under a
-- generic plan). Arguments are qualified with the function name because a column of the
-- same name would win over them. PostgreSQL has no COMMENT ON for an argument, so each
-- function's comment describes its arguments.

CREATE FUNCTION review_api.product_review_summary(
    product_id TEXT,
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL
)
RETURNS TABLE (
    review_count BIGINT,
    average_rating DOUBLE PRECISION,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    verified_review_count BIGINT,
    helpful_votes BIGINT,
    distinct_reviewers BIGINT,
    first_review_date DATE,
    last_review_date DATE
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT
        count(*) AS review_count,
        sum(r.rating)::DOUBLE PRECISION / nullif(count(*), 0) AS average_rating,
        count(*) FILTER (WHERE r.rating = 1) AS rating_1,
        count(*) FILTER (WHERE r.rating = 2) AS rating_2,
        count(*) FILTER (WHERE r.rating = 3) AS rating_3,
        count(*) FILTER (WHERE r.rating = 4) AS rating_4,
        count(*) FILTER (WHERE r.rating = 5) AS rating_5,
        count(*) FILTER (WHERE r.verified) AS verified_review_count,
        coalesce(sum(r.helpful_votes), 0) AS helpful_votes,
        count(DISTINCT r.reviewer_id) AS distinct_reviewers,
        min(r.review_date) AS first_review_date,
        max(r.review_date) AS last_review_date
    FROM review_api.reviews AS r
    WHERE
        r.product_id = product_review_summary.product_id
        AND r.review_date >= coalesce(product_review_summary.from_date, '-infinity'::DATE)
        AND r.review_date < coalesce(product_review_summary.to_date + 1, 'infinity'::DATE)
$$;

COMMENT ON FUNCTION review_api.product_review_summary(TEXT, DATE, DATE) IS
'Review aggregates of one product between two optional dates (inclusive): one row, '
'review_count 0 when the product has no review in the range (or does not exist). '
'Arguments: product_id, the product (ASIN); from_date, the first review day to count, '
'NULL for no lower bound; to_date, the last review day to count, NULL for no upper bound.';

CREATE FUNCTION review_api.reviewer_review_summary(
    reviewer_id TEXT,
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL
)
RETURNS TABLE (
    review_count BIGINT,
    average_rating DOUBLE PRECISION,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    verified_review_count BIGINT,
    helpful_votes BIGINT,
    distinct_products BIGINT,
    first_review_date DATE,
    last_review_date DATE,
    reviewer_name TEXT
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT
        count(*) AS review_count,
        sum(r.rating)::DOUBLE PRECISION / nullif(count(*), 0) AS average_rating,
        count(*) FILTER (WHERE r.rating = 1) AS rating_1,
        count(*) FILTER (WHERE r.rating = 2) AS rating_2,
        count(*) FILTER (WHERE r.rating = 3) AS rating_3,
        count(*) FILTER (WHERE r.rating = 4) AS rating_4,
        count(*) FILTER (WHERE r.rating = 5) AS rating_5,
        count(*) FILTER (WHERE r.verified) AS verified_review_count,
        coalesce(sum(r.helpful_votes), 0) AS helpful_votes,
        count(DISTINCT r.product_id) AS distinct_products,
        min(r.review_date) AS first_review_date,
        max(r.review_date) AS last_review_date,
        -- Over all time, whatever the range: the newest review carrying a name, ties to
        -- the higher row number (reviews_reviewer_latest_name_idx, read from its start).
        (
            SELECT n.reviewer_name
            FROM review_api.reviews AS n
            WHERE
                n.reviewer_id = reviewer_review_summary.reviewer_id
                AND n.reviewer_name IS NOT NULL
            ORDER BY n.review_time_unix DESC, n.review_index DESC
            LIMIT 1
        ) AS reviewer_name
    FROM review_api.reviews AS r
    WHERE
        r.reviewer_id = reviewer_review_summary.reviewer_id
        AND r.review_date >= coalesce(reviewer_review_summary.from_date, '-infinity'::DATE)
        AND r.review_date < coalesce(reviewer_review_summary.to_date + 1, 'infinity'::DATE)
$$;

COMMENT ON FUNCTION review_api.reviewer_review_summary(TEXT, DATE, DATE) IS
'Review aggregates of one reviewer between two optional dates (inclusive), with the '
'reviewer''s latest display name over all time: one row, review_count 0 when none. '
'Arguments: reviewer_id, the reviewer (user id); from_date, the first review day to count, '
'NULL for no lower bound; to_date, the last review day to count, NULL for no upper bound.';
