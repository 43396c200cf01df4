-- depends: 0008.safe-publish
-- The HTTP API is generated from the functions of schema review_api (docs/api-catalog.md):
-- a function whose COMMENT has a @route line is an endpoint, and the comment's other
-- annotations say what the signature cannot (public parameter names, bounds, the
-- answer's shape, descriptions). `reviews-api catalog` reads them into
-- queries/catalog.json. This migration moves the two summaries' API declaration from
-- Python into their comments, unchanged for HTTP clients; the functions themselves are
-- untouched (the BI contract).
--
-- product_exists and reviewer_exists answer "is this id known at all?", the 404 of the
-- API (found by name: review_api.<entity>_exists for a route on {<entity>_id}). The
-- service joins them with the summary in one statement:
--
--   SELECT e.found, f.*
--   FROM review_api.product_exists('B0128IL7TH') AS e
--   LEFT JOIN LATERAL (
--       SELECT * FROM review_api.product_review_summary('B0128IL7TH')
--   ) AS f ON e.found;
--
-- They return TABLE (found BOOLEAN) rather than BOOLEAN so that the planner inlines them
-- into that statement like the summaries (LANGUAGE sql, one SELECT, STABLE, not STRICT, no
-- SET clause): an index-only probe of reviews_product_date_idx / reviews_reviewer_date_idx.

CREATE FUNCTION review_api.product_exists(product_id TEXT)
RETURNS TABLE (found BOOLEAN)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT exists(
        SELECT
        FROM review_api.reviews AS r
        WHERE r.product_id = product_exists.product_id
    ) AS found
$$;

COMMENT ON FUNCTION review_api.product_exists(TEXT) IS $$
Whether the product has any review at all, whatever the dates: one row, found true or false.
The API answers 404 for a product without one (docs/api-catalog.md, "Not found").
Argument: product_id, the product (ASIN).
$$;

CREATE FUNCTION review_api.reviewer_exists(reviewer_id TEXT)
RETURNS TABLE (found BOOLEAN)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT exists(
        SELECT
        FROM review_api.reviews AS r
        WHERE r.reviewer_id = reviewer_exists.reviewer_id
    ) AS found
$$;

COMMENT ON FUNCTION review_api.reviewer_exists(TEXT) IS $$
Whether the reviewer wrote any review at all, whatever the dates: one row, found true or false.
The API answers 404 for a reviewer without one (docs/api-catalog.md, "Not found").
Argument: reviewer_id, the reviewer (user id).
$$;

-- 0008's default privileges cover only objects created by the role that ran it: say it
-- here, whoever migrates.
REVOKE EXECUTE ON FUNCTION review_api.product_exists(TEXT) FROM PUBLIC;  -- noqa: CP02
REVOKE EXECUTE ON FUNCTION review_api.reviewer_exists(TEXT) FROM PUBLIC;  -- noqa: CP02
GRANT EXECUTE ON FUNCTION review_api.product_exists(TEXT) TO reviews_reader;
GRANT EXECUTE ON FUNCTION review_api.reviewer_exists(TEXT) TO reviews_reader;

-- The summaries: the first line is the endpoint's summary, the plain lines the BI
-- description (as before 0009), the @ lines the API (docs/api-catalog.md, "Annotations").
-- The date pattern bounds the year to 1900-2999, as the service does.

COMMENT ON FUNCTION review_api.product_review_summary(TEXT, DATE, DATE) IS $$
Review aggregates of one product, optionally within a date range.
Review aggregates of one product between two optional dates (inclusive): one row,
review_count 0 when the product has no review in the range (or does not exist).
Arguments: product_id, the product (ASIN); from_date, the first review day to count,
NULL for no lower bound; to_date, the last review day to count, NULL for no upper bound.

@route GET /v1/products/{product_id}/reviews/summary
@returns object
@param from_date from
@param to_date to
@argument product_id {"minLength": 1, "maxLength": 64} Product id (the ASIN), 1 to 64 characters.
@argument from_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} First review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after `to`.
@argument to_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} Last review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31.
@echo product_id
@echo period: from_date to_date
@group rating_distribution rating_
@range from_date to_date
@example {"product_id": "B0128IL7TH", "period": {"from": "2016-01-01", "to": "2016-12-31"}, "review_count": 1005, "average_rating": 4.167164179104478, "rating_distribution": {"1": 85, "2": 45, "3": 97, "4": 168, "5": 610}, "verified_review_count": 910, "helpful_votes": 885, "distinct_reviewers": 1001, "first_review_date": "2016-01-01", "last_review_date": "2016-12-31"}
@notfound no reviews at all for product_id {product_id}
@column product_id The id asked for, as given.
@column period The date range asked for (`null` where not given), not the data's extent.
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

COMMENT ON FUNCTION review_api.reviewer_review_summary(TEXT, DATE, DATE) IS $$
Review aggregates of one reviewer, optionally within a date range.
Review aggregates of one reviewer between two optional dates (inclusive), with the
reviewer's latest display name over all time: one row, review_count 0 when none.
Arguments: reviewer_id, the reviewer (user id); from_date, the first review day to count,
NULL for no lower bound; to_date, the last review day to count, NULL for no upper bound.

@route GET /v1/reviewers/{reviewer_id}/reviews/summary
@returns object
@param from_date from
@param to_date to
@argument reviewer_id {"minLength": 1, "maxLength": 64} Reviewer (user) id, 1 to 64 characters.
@argument from_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} First review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31, not after `to`.
@argument to_date {"pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"} Last review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; 1900-01-01 to 2999-12-31.
@echo reviewer_id
@echo period: from_date to_date
@group rating_distribution rating_
@order reviewer_id reviewer_name
@range from_date to_date
@example {"reviewer_id": "A0NS716RA5ZORF", "reviewer_name": "Bill N.", "period": {"from": null, "to": null}, "review_count": 12, "average_rating": 4.416666666666667, "rating_distribution": {"1": 1, "2": 0, "3": 0, "4": 3, "5": 8}, "verified_review_count": 11, "helpful_votes": 4, "distinct_products": 12, "first_review_date": "2011-08-23", "last_review_date": "2017-07-29"}
@notfound no reviews at all for reviewer_id {reviewer_id}
@column reviewer_id The id asked for, as given.
@column reviewer_name {"type": ["string", "null"]} Latest non-null display name over all the reviewer's reviews, whatever the period; `null` if they never had one.
@column period The date range asked for (`null` where not given), not the data's extent.
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
