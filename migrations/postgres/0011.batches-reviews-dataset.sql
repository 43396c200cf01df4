-- depends: 0010.monthly-trends
-- Lists, as SQL functions BI tools call directly and the API serves (their COMMENTs carry
-- the route, docs/api-catalog.md):
--
--   SELECT * FROM review_api.product_review_summaries(ARRAY['B0128IL7TH', 'B00XGDWZHK']);
--   SELECT * FROM review_api.product_reviews('B0128IL7TH', sort => 'helpful');
--   SELECT * FROM review_api.dataset_summary();
--
-- * Batches: product_review_summaries / reviewer_review_summaries summarise many ids in one
--   call, one row per distinct id that has any review at all, in the order of the ids'
--   first appearance. Each id is the summary of 0004 (called, and inlined, here: the same
--   aggregates by construction) joined to the existence check of 0009: every id costs an
--   existence probe and its range of reviews_product_date_idx / reviews_reviewer_date_idx
--   (and, for a reviewer, the probe for the latest name), whatever the table's size.
-- * The reviews themselves: product_reviews / reviewer_reviews, a page at a time in a
--   total order (newest first, or most helpful first; ties by the review's id), with
--   keyset pagination: a page starts after the (sort value, review id) of the previous
--   page's last row, a row comparison that an index answers by one descent, so a deep page
--   costs what the first does. Never OFFSET, which reads and discards every earlier row.
-- * dataset_summary: the extent of the whole data set, for the explorer's date controls.
--   Exact counts of distinct products and reviewers read every review: seconds at
--   millions of reviews (docs/postgres-plans.md), until a load-time rollup answers them.
--
-- Written like 0004 and 0010 to be inlined into the caller's query (LANGUAGE sql, a single
-- SELECT, STABLE, not STRICT, no SET clause), with the same half-open, coalesced date
-- bounds, and checked under the generic plan of a prepared statement.

-- The two orders of a review list. Adding a label changes the API (a new value of `sort`).
-- (noqa: CP05, sqlfluff would capitalise the type's name like a built-in type's.)
CREATE TYPE review_api.review_sort AS ENUM ('recent', 'helpful');  -- noqa: CP05

COMMENT ON TYPE review_api.review_sort IS
'Order of a review list: recent, newest first (review time, then review id, descending); '
'helpful, most helpful votes first (then review id, descending).';

-- The pages of a product's reviews, in both orders, without sorting the product's reviews:
-- a product can have tens of thousands, and a generic plan (which guesses one row) sorted
-- them all when its only index was reviews_product_date_idx, whose entries are in day order
-- only. Each index below is in its order exactly, read backwards from the cursor. The
-- recent one keys on review_date first so that the period is one index range; the helpful
-- one carries review_date so that the period filters its entries before any heap access.
-- A reviewer has a few hundred reviews at most: their lists sort them instead. Like every
-- index of public.reviews, `reviews-api load` rebuilds these (README, "What a load keeps").
CREATE INDEX reviews_product_recent_idx
ON public.reviews ("productID", review_date, "unixReviewTime", "index");

COMMENT ON INDEX public.reviews_product_recent_idx IS
'review_api.product_reviews, sort recent: a page is one backward range from the cursor.';

CREATE INDEX reviews_product_helpful_idx
ON public.reviews ("productID", helpful_votes, "index")
INCLUDE (review_date);

COMMENT ON INDEX public.reviews_product_helpful_idx IS
'review_api.product_reviews, sort helpful: a page is one backward range from the cursor.';

CREATE FUNCTION review_api.product_review_summaries(
    product_ids TEXT[],
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL
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
    distinct_reviewers BIGINT,
    first_review_date DATE,
    last_review_date DATE
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH asked AS (
        -- Each id once, at the place of its first appearance.
        SELECT
            a.product_id,
            min(a.position) AS position
        FROM
            unnest(product_review_summaries.product_ids)
                WITH ORDINALITY AS a (product_id, position)
        GROUP BY a.product_id
    )

    SELECT
        a.product_id,
        s.review_count,
        s.average_rating,
        s.rating_1,
        s.rating_2,
        s.rating_3,
        s.rating_4,
        s.rating_5,
        s.verified_review_count,
        s.helpful_votes,
        s.distinct_reviewers,
        s.first_review_date,
        s.last_review_date
    FROM asked AS a
    CROSS JOIN LATERAL review_api.product_exists(a.product_id) AS e
    CROSS JOIN LATERAL review_api.product_review_summary(
        a.product_id,
        product_review_summaries.from_date,
        product_review_summaries.to_date
    ) AS s
    WHERE e.found
    ORDER BY a.position
$$;

COMMENT ON FUNCTION review_api.product_review_summaries(TEXT[], DATE, DATE) IS $$
Review aggregates of several products at once, optionally within a date range.
One row per distinct product id of the array that has at least one review at all, in the
order of the ids' first appearance, each with the columns of product_review_summary (a row
of zeros when the product has no review in the range); an id given twice is answered once;
an id without any review has no row. One call whatever the number of ids, two index probes
per id.

Examples, two products over all time and in 2016:
SELECT * FROM review_api.product_review_summaries(ARRAY['B0128IL7TH', 'B00XGDWZHK']);
SELECT * FROM review_api.product_review_summaries(ARRAY['B0128IL7TH', 'B00XGDWZHK'], '2016-01-01', '2016-12-31');
@route GET /v1/products/reviews/summary
@returns list
@param product_ids product_id
@param from_date from
@param to_date to
@argument product_ids {"minItems": 1, "maxItems": 100, "items": {"minLength": 1, "maxLength": 64}} Product ids (ASINs), the parameter repeated (`?product_id=A&product_id=B`): 1 to 100 ids of 1 to 64 characters; an id given twice is answered once.
@argument from_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} First review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after `to`.
@argument to_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} Last review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31.
@echo period: from_date to_date
@items items
@missing not_found: product_ids product_id
@group rating_distribution rating_
@range from_date to_date
@example {"period": {"from": "2016-01-01", "to": "2016-12-31"}, "items": [{"product_id": "B0128IL7TH", "review_count": 1005, "average_rating": 4.167164179104478, "rating_distribution": {"1": 85, "2": 45, "3": 97, "4": 168, "5": 610}, "verified_review_count": 910, "helpful_votes": 885, "distinct_reviewers": 1001, "first_review_date": "2016-01-01", "last_review_date": "2016-12-31"}, {"product_id": "B00XGDWZHK", "review_count": 4, "average_rating": 5.0, "rating_distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 4}, "verified_review_count": 3, "helpful_votes": 0, "distinct_reviewers": 4, "first_review_date": "2016-04-17", "last_review_date": "2016-06-22"}], "not_found": ["NO-SUCH-ID"]}
@column period The date range asked for (`null` where not given), not the data's extent.
@column items One summary per product asked for that has any review at all, in the order of the ids' first appearance in the request, each id once.
@column not_found The ids asked for that have no review at all, in request order, each once.
@column product_id The id asked for, as given.
@column review_count {"minimum": 0} Reviews in the period.
@column average_rating {"type": ["number", "null"], "minimum": 1, "maximum": 5} Mean star rating (sum / count, unrounded); `null` when there is no review.
@column rating_distribution Reviews per star rating; all five keys always present.
@column rating_1 {"minimum": 0}
@column rating_2 {"minimum": 0}
@column rating_3 {"minimum": 0}
@column rating_4 {"minimum": 0}
@column rating_5 {"minimum": 0}
@column verified_review_count {"minimum": 0} Reviews from verified purchases.
@column helpful_votes {"minimum": 0} Sum of the reviews' helpful votes (no vote counts 0).
@column distinct_reviewers {"minimum": 0} Different reviewers in the period.
@column first_review_date {"type": ["string", "null"]} Earliest review day in the period.
@column last_review_date {"type": ["string", "null"]} Latest review day in the period.
$$;

CREATE FUNCTION review_api.reviewer_review_summaries(
    reviewer_ids TEXT[],
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL
)
RETURNS TABLE (
    reviewer_id TEXT,
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
    WITH asked AS (
        -- Each id once, at the place of its first appearance.
        SELECT
            a.reviewer_id,
            min(a.position) AS position
        FROM
            unnest(reviewer_review_summaries.reviewer_ids)
                WITH ORDINALITY AS a (reviewer_id, position)
        GROUP BY a.reviewer_id
    )

    SELECT
        a.reviewer_id,
        s.review_count,
        s.average_rating,
        s.rating_1,
        s.rating_2,
        s.rating_3,
        s.rating_4,
        s.rating_5,
        s.verified_review_count,
        s.helpful_votes,
        s.distinct_products,
        s.first_review_date,
        s.last_review_date,
        s.reviewer_name
    FROM asked AS a
    CROSS JOIN LATERAL review_api.reviewer_exists(a.reviewer_id) AS e
    CROSS JOIN LATERAL review_api.reviewer_review_summary(
        a.reviewer_id,
        reviewer_review_summaries.from_date,
        reviewer_review_summaries.to_date
    ) AS s
    WHERE e.found
    ORDER BY a.position
$$;

COMMENT ON FUNCTION review_api.reviewer_review_summaries(TEXT[], DATE, DATE) IS $$
Review aggregates of several reviewers at once, optionally within a date range.
One row per distinct reviewer id of the array that has written at least one review, in the
order of the ids' first appearance, each with the columns of reviewer_review_summary (a row
of zeros when the reviewer has no review in the range; the latest display name over all
time); an id given twice is answered once; an id without any review has no row. One call
whatever the number of ids, three index probes per id.

Examples, two reviewers over all time and in 2016:
SELECT * FROM review_api.reviewer_review_summaries(ARRAY['A0NS716RA5ZORF', 'AJF4KLILI7PPYZ']);
SELECT * FROM review_api.reviewer_review_summaries(ARRAY['A0NS716RA5ZORF'], '2016-01-01', '2016-12-31');
@route GET /v1/reviewers/reviews/summary
@returns list
@param reviewer_ids reviewer_id
@param from_date from
@param to_date to
@argument reviewer_ids {"minItems": 1, "maxItems": 100, "items": {"minLength": 1, "maxLength": 64}} Reviewer (user) ids, the parameter repeated (`?reviewer_id=A&reviewer_id=B`): 1 to 100 ids of 1 to 64 characters; an id given twice is answered once.
@argument from_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} First review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after `to`.
@argument to_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} Last review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31.
@echo period: from_date to_date
@items items
@missing not_found: reviewer_ids reviewer_id
@group rating_distribution rating_
@order reviewer_id reviewer_name
@range from_date to_date
@example {"period": {"from": null, "to": null}, "items": [{"reviewer_id": "A0NS716RA5ZORF", "reviewer_name": "Bill N.", "review_count": 12, "average_rating": 4.416666666666667, "rating_distribution": {"1": 1, "2": 0, "3": 0, "4": 3, "5": 8}, "verified_review_count": 11, "helpful_votes": 4, "distinct_products": 12, "first_review_date": "2011-08-23", "last_review_date": "2017-07-29"}, {"reviewer_id": "AJF4KLILI7PPYZ", "reviewer_name": "R. Müller", "review_count": 6, "average_rating": 4.5, "rating_distribution": {"1": 0, "2": 0, "3": 1, "4": 1, "5": 4}, "verified_review_count": 6, "helpful_votes": 7, "distinct_products": 6, "first_review_date": "2010-06-19", "last_review_date": "2017-09-10"}], "not_found": ["NO-SUCH-ID"]}
@column period The date range asked for (`null` where not given), not the data's extent.
@column items One summary per reviewer asked for that has any review at all, in the order of the ids' first appearance in the request, each id once.
@column not_found The ids asked for that have no review at all, in request order, each once.
@column reviewer_id The id asked for, as given.
@column reviewer_name {"type": ["string", "null"]} Latest non-null display name over all the reviewer's reviews, whatever the period; `null` if they never had one.
@column review_count {"minimum": 0} Reviews in the period.
@column average_rating {"type": ["number", "null"], "minimum": 1, "maximum": 5} Mean star rating (sum / count, unrounded); `null` when there is no review.
@column rating_distribution Reviews per star rating; all five keys always present.
@column rating_1 {"minimum": 0}
@column rating_2 {"minimum": 0}
@column rating_3 {"minimum": 0}
@column rating_4 {"minimum": 0}
@column rating_5 {"minimum": 0}
@column verified_review_count {"minimum": 0} Reviews from verified purchases.
@column helpful_votes {"minimum": 0} Sum of the reviews' helpful votes (no vote counts 0).
@column distinct_products {"minimum": 0} Different products reviewed.
@column first_review_date {"type": ["string", "null"]} Earliest review day in the period.
@column last_review_date {"type": ["string", "null"]} Latest review day in the period.
$$;

CREATE FUNCTION review_api.product_reviews(
    product_id TEXT,
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL,
    sort review_api.review_sort DEFAULT 'recent',  -- noqa: CP05
    max_rows INTEGER DEFAULT 20,
    after_value BIGINT DEFAULT NULL,
    after_index BIGINT DEFAULT NULL
)
RETURNS TABLE (
    review_index BIGINT,
    reviewer_id TEXT,
    reviewer_name TEXT,
    review_date DATE,
    rating SMALLINT,
    verified BOOLEAN,
    helpful_votes INTEGER,
    summary TEXT,
    review_text TEXT,
    sort_value BIGINT
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    -- One branch per order; the other one's condition on `sort` is false, a one-time filter
    -- that keeps its scan from running at all (under a custom plan it is not even planned).
    SELECT
        p.review_index,
        p.reviewer_id,
        p.reviewer_name,
        p.review_date,
        p.rating,
        p.verified,
        p.helpful_votes,
        p.summary,
        p.review_text,
        p.sort_value
    FROM (
        (
            -- Newest first: one backward range of reviews_product_recent_idx. Its day
            -- comes first in the index; as review_date is the day of review_time_unix,
            -- ordering by (day, time, id) is ordering by (time, id), and the cursor's day
            -- is the day of its time.
            SELECT
                r.review_index,
                r.reviewer_id,
                r.reviewer_name,
                r.review_date,
                r.rating,
                r.verified,
                r.helpful_votes,
                r.summary,
                r.review_text,
                r.review_time_unix AS sort_value
            FROM review_api.reviews AS r
            WHERE
                product_reviews.sort = 'recent'
                AND r.product_id = product_reviews.product_id
                AND r.review_date >= coalesce(product_reviews.from_date, '-infinity'::DATE)
                AND r.review_date < coalesce(product_reviews.to_date + 1, 'infinity'::DATE)
                AND (r.review_date, r.review_time_unix, r.review_index) < (
                    coalesce(
                        DATE '1970-01-01' + floor(product_reviews.after_value / 86400.0)::INTEGER,
                        'infinity'::DATE
                    ),
                    coalesce(product_reviews.after_value, 9223372036854775807),
                    coalesce(product_reviews.after_index, 9223372036854775807)
                )
            ORDER BY r.review_date DESC, r.review_time_unix DESC, r.review_index DESC
            LIMIT product_reviews.max_rows
        )
        UNION ALL
        (
            -- Most helpful first: the page's ids from an index-only backward range of
            -- reviews_product_helpful_idx (the period filters its entries, so reviews out
            -- of the period cost no heap access), then those reviews by primary key.
            SELECT
                r.review_index,
                r.reviewer_id,
                r.reviewer_name,
                r.review_date,
                r.rating,
                r.verified,
                r.helpful_votes,
                r.summary,
                r.review_text,
                k.helpful_votes::BIGINT AS sort_value
            FROM (
                SELECT
                    h.review_index,
                    h.helpful_votes
                FROM review_api.reviews AS h
                WHERE
                    product_reviews.sort = 'helpful'
                    AND h.product_id = product_reviews.product_id
                    AND h.review_date >= coalesce(product_reviews.from_date, '-infinity'::DATE)
                    AND h.review_date < coalesce(product_reviews.to_date + 1, 'infinity'::DATE)
                    AND (h.helpful_votes, h.review_index) < (
                        coalesce(product_reviews.after_value, 9223372036854775807),
                        coalesce(product_reviews.after_index, 9223372036854775807)
                    )
                ORDER BY h.helpful_votes DESC, h.review_index DESC
                LIMIT product_reviews.max_rows
            ) AS k
            INNER JOIN review_api.reviews AS r ON k.review_index = r.review_index
        )
    ) AS p
    ORDER BY p.sort_value DESC, p.review_index DESC
$$;

COMMENT ON FUNCTION review_api.product_reviews(
    TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT  -- noqa: CP05
) IS $$
The reviews of one product, a page at a time, newest or most helpful first.
Up to max_rows reviews of the product in the date range, in a total order: sort 'recent'
is newest first (review time, then review id, descending), 'helpful' most helpful votes
first (then review id, descending). The next page starts after the last row of this one:
pass its sort_value as after_value and its review_index as after_index (both, or neither
for the first page). No row for a product without a review in the range, or none at all.

Examples, the first page newest first; the 20 most helpful reviews of 2016, then the 20
after them (the last of the first 20 has sort_value 8 and review_index 124262):
SELECT * FROM review_api.product_reviews('B0128IL7TH');
SELECT * FROM review_api.product_reviews('B0128IL7TH', '2016-01-01', '2016-12-31', 'helpful');
SELECT * FROM review_api.product_reviews('B0128IL7TH', '2016-01-01', '2016-12-31', 'helpful', 20, 8, 124262);
@route GET /v1/products/{product_id}/reviews
@returns list
@param from_date from
@param to_date to
@param max_rows limit
@argument product_id {"minLength": 1, "maxLength": 64} Product id (the ASIN), 1 to 64 characters.
@argument from_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} First review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after `to`.
@argument to_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} Last review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31.
@argument sort Order of the reviews: `recent`, newest first, or `helpful`, most helpful votes first; ties by review id, highest first.
@argument max_rows {"minimum": 1, "maximum": 100} Reviews per page, 1 to 100.
@items items
@example {"items": [{"review_index": 123441, "reviewer_id": "ASWW91RMLSQ8TH", "reviewer_name": "N. Young", "review_date": "2016-01-27", "rating": 3, "verified": true, "helpful_votes": 112, "summary": "Average", "review_text": "Does the job, nothing special."}], "next": "/v1/products/B0128IL7TH/reviews?sort=helpful&limit=1&after=eyJ2IjoiMSIsInEiOiIwNzJhOTAyZjAzNTRkMzZmIiwiayI6WzExMiwxMjM0NDFdfQ"}
@limit max_rows
@cursor after: after_value=sort_value after_index=review_index
@hidden sort_value
@range from_date to_date
@notfound no reviews at all for product_id {product_id}
@column items The page's reviews, in the order asked for; empty when the product has no review in the period.
@column review_index {"minimum": 0} The review's id (its row number in the source).
@column reviewer_id The reviewer who wrote it.
@column reviewer_name {"type": ["string", "null"]} The reviewer's display name on this review (it can differ between a reviewer's reviews); `null` when absent.
@column review_date The review's day, `YYYY-MM-DD` (UTC).
@column rating {"minimum": 1, "maximum": 5} Star rating.
@column verified {"type": ["boolean", "null"]} Verified purchase; `null` when the source does not say.
@column helpful_votes {"minimum": 0} Helpful votes (no vote counts 0).
@column summary {"type": ["string", "null"]} The review's headline.
@column review_text {"type": ["string", "null"]} The review's body.
$$;

CREATE FUNCTION review_api.reviewer_reviews(
    reviewer_id TEXT,
    from_date DATE DEFAULT NULL,
    to_date DATE DEFAULT NULL,
    sort review_api.review_sort DEFAULT 'recent',  -- noqa: CP05
    max_rows INTEGER DEFAULT 20,
    after_value BIGINT DEFAULT NULL,
    after_index BIGINT DEFAULT NULL
)
RETURNS TABLE (
    review_index BIGINT,
    product_id TEXT,
    reviewer_name TEXT,
    review_date DATE,
    rating SMALLINT,
    verified BOOLEAN,
    helpful_votes INTEGER,
    summary TEXT,
    review_text TEXT,
    sort_value BIGINT
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    -- A reviewer's reviews in the period are one range of reviews_reviewer_date_idx, a few
    -- hundred at most: sorted here rather than kept in two more indexes of every review.
    SELECT
        r.review_index,
        r.product_id,
        r.reviewer_name,
        r.review_date,
        r.rating,
        r.verified,
        r.helpful_votes,
        r.summary,
        r.review_text,
        CASE reviewer_reviews.sort
            WHEN 'helpful' THEN r.helpful_votes::BIGINT
            ELSE r.review_time_unix
        END AS sort_value
    FROM review_api.reviews AS r
    WHERE
        r.reviewer_id = reviewer_reviews.reviewer_id
        AND r.review_date >= coalesce(reviewer_reviews.from_date, '-infinity'::DATE)
        AND r.review_date < coalesce(reviewer_reviews.to_date + 1, 'infinity'::DATE)
        AND (
            CASE reviewer_reviews.sort
                WHEN 'helpful' THEN r.helpful_votes::BIGINT
                ELSE r.review_time_unix
            END,
            r.review_index
        ) < (
            coalesce(reviewer_reviews.after_value, 9223372036854775807),
            coalesce(reviewer_reviews.after_index, 9223372036854775807)
        )
    ORDER BY sort_value DESC, r.review_index DESC
    LIMIT reviewer_reviews.max_rows
$$;

COMMENT ON FUNCTION review_api.reviewer_reviews(
    TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT  -- noqa: CP05
) IS $$
The reviews of one reviewer, a page at a time, newest or most helpful first.
Up to max_rows reviews by the reviewer in the date range, in a total order: sort 'recent'
is newest first (review time, then review id, descending), 'helpful' most helpful votes
first (then review id, descending). The next page starts after the last row of this one:
pass its sort_value as after_value and its review_index as after_index (both, or neither
for the first page). No row for a reviewer without a review in the range, or none at all.

Examples, the first page newest first, then most helpful first in 2016:
SELECT * FROM review_api.reviewer_reviews('A0NS716RA5ZORF');
SELECT * FROM review_api.reviewer_reviews('A0NS716RA5ZORF', '2016-01-01', '2016-12-31', 'helpful');
@route GET /v1/reviewers/{reviewer_id}/reviews
@returns list
@param from_date from
@param to_date to
@param max_rows limit
@argument reviewer_id {"minLength": 1, "maxLength": 64} Reviewer (user) id, 1 to 64 characters.
@argument from_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} First review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after `to`.
@argument to_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} Last review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31.
@argument sort Order of the reviews: `recent`, newest first, or `helpful`, most helpful votes first; ties by review id, highest first.
@argument max_rows {"minimum": 1, "maximum": 100} Reviews per page, 1 to 100.
@items items
@example {"items": [{"review_index": 77426, "product_id": "B00LP9UTPY", "reviewer_name": "Bill N.", "review_date": "2017-07-29", "rating": 4, "verified": true, "helpful_votes": 0, "summary": "Four Stars", "review_text": "Bright, clear tone right out of the package. Used it at a gig last weekend. Will buy again."}], "next": "/v1/reviewers/A0NS716RA5ZORF/reviews?limit=1&after=eyJ2IjoiMSIsInEiOiI3MWQ2YjE0ZDk2OTFjMjRhIiwiayI6WzE1MDEyODY0MDAsNzc0MjZdfQ"}
@limit max_rows
@cursor after: after_value=sort_value after_index=review_index
@hidden sort_value
@range from_date to_date
@notfound no reviews at all for reviewer_id {reviewer_id}
@column items The page's reviews, in the order asked for; empty when the reviewer has no review in the period.
@column review_index {"minimum": 0} The review's id (its row number in the source).
@column product_id The product reviewed.
@column reviewer_name {"type": ["string", "null"]} The reviewer's display name on this review (it can differ between a reviewer's reviews); `null` when absent.
@column review_date The review's day, `YYYY-MM-DD` (UTC).
@column rating {"minimum": 1, "maximum": 5} Star rating.
@column verified {"type": ["boolean", "null"]} Verified purchase; `null` when the source does not say.
@column helpful_votes {"minimum": 0} Helpful votes (no vote counts 0).
@column summary {"type": ["string", "null"]} The review's headline.
@column review_text {"type": ["string", "null"]} The review's body.
$$;

CREATE FUNCTION review_api.dataset_summary()
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
        -- One group per product: the reviews' count, days and ratings, and the number of
        -- products, in one pass over the entries of reviews_product_date_idx, which hold
        -- every column read here.
        SELECT
            count(*) AS review_count,
            min(r.review_date) AS first_review_date,
            max(r.review_date) AS last_review_date,
            count(*) FILTER (WHERE r.rating = 1) AS rating_1,
            count(*) FILTER (WHERE r.rating = 2) AS rating_2,
            count(*) FILTER (WHERE r.rating = 3) AS rating_3,
            count(*) FILTER (WHERE r.rating = 4) AS rating_4,
            count(*) FILTER (WHERE r.rating = 5) AS rating_5
        FROM review_api.reviews AS r
        GROUP BY r.product_id
    ),

    reviewers AS (
        SELECT count(*) AS reviewer_count
        FROM (
            SELECT r.reviewer_id
            FROM review_api.reviews AS r
            GROUP BY r.reviewer_id
        ) AS g
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
        coalesce(sum(p.review_count), 0)::BIGINT AS review_count,
        count(*) AS product_count,
        (SELECT v.reviewer_count FROM reviewers AS v) AS reviewer_count,
        min(p.first_review_date) AS first_review_date,
        max(p.last_review_date) AS last_review_date,
        coalesce(sum(p.rating_1), 0)::BIGINT AS rating_1,
        coalesce(sum(p.rating_2), 0)::BIGINT AS rating_2,
        coalesce(sum(p.rating_3), 0)::BIGINT AS rating_3,
        coalesce(sum(p.rating_4), 0)::BIGINT AS rating_4,
        coalesce(sum(p.rating_5), 0)::BIGINT AS rating_5,
        (SELECT l.data_version FROM live_load AS l) AS data_version,
        (SELECT l.loaded_at FROM live_load AS l) AS loaded_at
    FROM products AS p
$$;

COMMENT ON FUNCTION review_api.dataset_summary() IS $$
The whole data set's extent: reviews, products, reviewers, first and last review day.
One row: how many reviews, distinct products and distinct reviewers the data holds, its
first and last review day (UTC), the reviews per star rating, the data version (the id of
the live load, 0 before any) and when that load went live (ISO 8601, UTC; NULL before any
load). It reads every review: seconds at millions of reviews, so a client should cache it
(its ETag changes only with the data version).

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

-- 0005 revoked EXECUTE from PUBLIC on the functions that existed then, and 0008's default
-- privileges cover only objects created by the role that ran it: say it here, whoever
-- migrates.
REVOKE EXECUTE ON FUNCTION review_api.product_review_summaries(TEXT[], DATE, DATE)
FROM PUBLIC;  -- noqa: CP02
REVOKE EXECUTE ON FUNCTION review_api.reviewer_review_summaries(TEXT[], DATE, DATE)
FROM PUBLIC;  -- noqa: CP02
REVOKE EXECUTE ON FUNCTION review_api.product_reviews(
    TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT  -- noqa: CP05
) FROM PUBLIC;  -- noqa: CP02
REVOKE EXECUTE ON FUNCTION review_api.reviewer_reviews(
    TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT  -- noqa: CP05
) FROM PUBLIC;  -- noqa: CP02
REVOKE EXECUTE ON FUNCTION review_api.dataset_summary() FROM PUBLIC;  -- noqa: CP02
GRANT EXECUTE ON FUNCTION review_api.product_review_summaries(TEXT[], DATE, DATE)
TO reviews_reader;
GRANT EXECUTE ON FUNCTION review_api.reviewer_review_summaries(TEXT[], DATE, DATE)
TO reviews_reader;
GRANT EXECUTE ON FUNCTION review_api.product_reviews(
    TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT  -- noqa: CP05
) TO reviews_reader;
GRANT EXECUTE ON FUNCTION review_api.reviewer_reviews(
    TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT  -- noqa: CP05
) TO reviews_reader;
GRANT EXECUTE ON FUNCTION review_api.dataset_summary() TO reviews_reader;
