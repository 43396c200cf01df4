-- depends: 0010.monthly-trends
-- Rankings of products and reviewers over any date range, as SQL functions BI tools call
-- directly and the API serves (GET /v1/products, GET /v1/reviewers; their COMMENTs carry
-- the routes, docs/api-catalog.md):
--
--   SELECT * FROM review_api.top_products('2016-01-01', '2016-12-31');
--   SELECT * FROM review_api.top_reviewers(sort => 'average_rating', min_reviews => 10);
--
-- A ranking row carries the additive aggregates of the summaries (0004): review count,
-- rating sum (as the average) and distribution, verified count, helpful votes, first and
-- last review day. Distinct counts (a product's distinct reviewers, a reviewer's distinct
-- products) are not there: they do not add up across periods, so no rollup can hold them
-- for an arbitrary range, and computing them per ranked row would cost a second pass over
-- the reviews; the summary of one id gives them.
--
-- Order: by the sort value, ties by id, both in the direction asked, so the order is total
-- and one index serves both directions. Pages are keyset pages: the next page starts
-- after the last row's (sort_value, id), compared as a row, (key, id) < (after_value,
-- after_id) descending, > ascending; never OFFSET, whose cost grows with the depth.
-- after_id NULL with an after_value counts as the empty id, which sorts before every id.

CREATE TYPE review_api.ranking_sort AS ENUM (  -- noqa: CP05
    'review_count', 'average_rating', 'helpful_votes', 'verified_review_count'
);
COMMENT ON TYPE review_api.ranking_sort IS
'What a ranking (review_api.top_products, top_reviewers) sorts by.';

CREATE TYPE review_api.sort_order AS ENUM ('desc', 'asc');  -- noqa: CP05
COMMENT ON TYPE review_api.sort_order IS
'The direction of a ranking: desc (largest first) or asc; ties by id in the same direction.';

CREATE FUNCTION review_api.top_products(
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL,
    sort review_api.ranking_sort DEFAULT 'review_count',  -- noqa: CP05
    sort_order review_api.sort_order DEFAULT 'desc',  -- noqa: CP05
    min_reviews INTEGER DEFAULT 1,
    max_rows INTEGER DEFAULT 20,
    after_value DOUBLE PRECISION DEFAULT NULL,
    after_id TEXT DEFAULT NULL
)
RETURNS TABLE (
    product_id TEXT,
    review_count BIGINT,
    average_rating DOUBLE PRECISION,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    verified_review_count BIGINT,
    helpful_votes BIGINT,
    first_review_date DATE,
    last_review_date DATE,
    sort_value DOUBLE PRECISION
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH totals AS (
        SELECT
            r.product_id,
            count(*) AS review_count,
            sum(r.rating)::DOUBLE PRECISION / count(*) AS average_rating,
            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
            count(*) FILTER (WHERE r.rating = 5) AS rating_5,
            count(*) FILTER (WHERE r.verified) AS verified_review_count,
            coalesce(sum(r.helpful_votes), 0) AS helpful_votes,
            min(r.review_date) AS first_review_date,
            max(r.review_date) AS last_review_date
        FROM review_api.reviews AS r
        WHERE
            r.review_date >= coalesce(top_products.from_date, '-infinity'::DATE)
            AND r.review_date < coalesce(top_products.to_date + 1, 'infinity'::DATE)
        GROUP BY r.product_id
        HAVING count(*) >= top_products.min_reviews
    ),

    keyed AS (
        SELECT
            t.*,
            CASE top_products.sort
                WHEN 'review_count' THEN t.review_count::DOUBLE PRECISION
                WHEN 'average_rating' THEN t.average_rating
                WHEN 'helpful_votes' THEN t.helpful_votes::DOUBLE PRECISION
                WHEN 'verified_review_count' THEN t.verified_review_count::DOUBLE PRECISION
            END AS sort_value
        FROM totals AS t
    )

    SELECT
        k.product_id,
        k.review_count,
        k.average_rating,
        k.rating_1,
        k.rating_2,
        k.rating_3,
        k.rating_4,
        k.rating_5,
        k.verified_review_count,
        k.helpful_votes,
        k.first_review_date,
        k.last_review_date,
        k.sort_value
    FROM keyed AS k
    WHERE
        CASE top_products.sort_order
            WHEN 'desc' THEN
                (k.sort_value, k.product_id)
                < (
                    coalesce(top_products.after_value, 'Infinity'::DOUBLE PRECISION),
                    coalesce(top_products.after_id, '')
                )
            ELSE
                (k.sort_value, k.product_id)
                > (
                    coalesce(top_products.after_value, '-Infinity'::DOUBLE PRECISION),
                    coalesce(top_products.after_id, '')
                )
        END
    ORDER BY
        CASE WHEN top_products.sort_order = 'desc' THEN k.sort_value END DESC,
        CASE WHEN top_products.sort_order = 'desc' THEN k.product_id END DESC,
        k.sort_value ASC,
        k.product_id ASC
    LIMIT top_products.max_rows
$$;

CREATE FUNCTION review_api.top_reviewers(
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL,
    sort review_api.ranking_sort DEFAULT 'review_count',  -- noqa: CP05
    sort_order review_api.sort_order DEFAULT 'desc',  -- noqa: CP05
    min_reviews INTEGER DEFAULT 1,
    max_rows INTEGER DEFAULT 20,
    after_value DOUBLE PRECISION DEFAULT NULL,
    after_id TEXT DEFAULT NULL
)
RETURNS TABLE (
    reviewer_id TEXT,
    reviewer_name TEXT,
    review_count BIGINT,
    average_rating DOUBLE PRECISION,
    rating_1 BIGINT,
    rating_2 BIGINT,
    rating_3 BIGINT,
    rating_4 BIGINT,
    rating_5 BIGINT,
    verified_review_count BIGINT,
    helpful_votes BIGINT,
    first_review_date DATE,
    last_review_date DATE,
    sort_value DOUBLE PRECISION
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH totals AS (
        SELECT
            r.reviewer_id,
            count(*) AS review_count,
            sum(r.rating)::DOUBLE PRECISION / count(*) AS average_rating,
            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
            count(*) FILTER (WHERE r.rating = 5) AS rating_5,
            count(*) FILTER (WHERE r.verified) AS verified_review_count,
            coalesce(sum(r.helpful_votes), 0) AS helpful_votes,
            min(r.review_date) AS first_review_date,
            max(r.review_date) AS last_review_date
        FROM review_api.reviews AS r
        WHERE
            r.review_date >= coalesce(top_reviewers.from_date, '-infinity'::DATE)
            AND r.review_date < coalesce(top_reviewers.to_date + 1, 'infinity'::DATE)
        GROUP BY r.reviewer_id
        HAVING count(*) >= top_reviewers.min_reviews
    ),

    keyed AS (
        SELECT
            t.*,
            CASE top_reviewers.sort
                WHEN 'review_count' THEN t.review_count::DOUBLE PRECISION
                WHEN 'average_rating' THEN t.average_rating
                WHEN 'helpful_votes' THEN t.helpful_votes::DOUBLE PRECISION
                WHEN 'verified_review_count' THEN t.verified_review_count::DOUBLE PRECISION
            END AS sort_value
        FROM totals AS t
    ),

    page AS (
        SELECT
            k.reviewer_id,
            k.review_count,
            k.average_rating,
            k.rating_1,
            k.rating_2,
            k.rating_3,
            k.rating_4,
            k.rating_5,
            k.verified_review_count,
            k.helpful_votes,
            k.first_review_date,
            k.last_review_date,
            k.sort_value
        FROM keyed AS k
        WHERE
            CASE top_reviewers.sort_order
                WHEN 'desc' THEN
                    (k.sort_value, k.reviewer_id)
                    < (
                        coalesce(top_reviewers.after_value, 'Infinity'::DOUBLE PRECISION),
                        coalesce(top_reviewers.after_id, '')
                    )
                ELSE
                    (k.sort_value, k.reviewer_id)
                    > (
                        coalesce(top_reviewers.after_value, '-Infinity'::DOUBLE PRECISION),
                        coalesce(top_reviewers.after_id, '')
                    )
            END
        ORDER BY
            CASE WHEN top_reviewers.sort_order = 'desc' THEN k.sort_value END DESC,
            CASE WHEN top_reviewers.sort_order = 'desc' THEN k.reviewer_id END DESC,
            k.sort_value ASC,
            k.reviewer_id ASC
        LIMIT top_reviewers.max_rows
    )

    -- The latest name over all time, as the reviewer summary gives it (0004), for the page's
    -- rows only.
    SELECT
        p.reviewer_id,
        (
            SELECT n.reviewer_name
            FROM review_api.reviews AS n
            WHERE
                n.reviewer_id = p.reviewer_id
                AND n.reviewer_name IS NOT NULL
            ORDER BY n.review_time_unix DESC, n.review_index DESC
            LIMIT 1
        ) AS reviewer_name,
        p.review_count,
        p.average_rating,
        p.rating_1,
        p.rating_2,
        p.rating_3,
        p.rating_4,
        p.rating_5,
        p.verified_review_count,
        p.helpful_votes,
        p.first_review_date,
        p.last_review_date,
        p.sort_value
    FROM page AS p
    ORDER BY
        CASE WHEN top_reviewers.sort_order = 'desc' THEN p.sort_value END DESC,
        CASE WHEN top_reviewers.sort_order = 'desc' THEN p.reviewer_id END DESC,
        p.sort_value ASC,
        p.reviewer_id ASC
$$;

-- 0005 revoked EXECUTE from PUBLIC on the functions that existed then, and 0008's default
-- privileges cover only objects created by the role that ran it: say it here, whoever
-- migrates.
REVOKE EXECUTE ON FUNCTION review_api.top_products(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) FROM PUBLIC;  -- noqa: CP02
REVOKE EXECUTE ON FUNCTION review_api.top_reviewers(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) FROM PUBLIC;  -- noqa: CP02
GRANT EXECUTE ON FUNCTION review_api.top_products(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) TO reviews_reader;
GRANT EXECUTE ON FUNCTION review_api.top_reviewers(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
) TO reviews_reader;
