-- depends: 0001.reviews-table
-- Covering indexes: each summary reads one contiguous index range (an id and a date range)
-- and finds every column it aggregates in the index itself, so the plan is an Index Only
-- Scan whose cost grows with the reviews that match, not with the table. They need a
-- vacuumed visibility map: `reviews-api load` vacuums before the new data goes live.

-- review_api.product_review_summary and the product existence check.
CREATE INDEX reviews_product_date_idx
ON public.reviews ("productID", review_date)
INCLUDE ("overall", "verified", helpful_votes, "reviewerID");

-- review_api.reviewer_review_summary and the reviewer existence check.
CREATE INDEX reviews_reviewer_date_idx
ON public.reviews ("reviewerID", review_date)
INCLUDE ("overall", "verified", helpful_votes, "productID");

-- The reviewer's latest name: the first entry of this range, newest first, ties to the
-- higher row number; only rows that carry a name.
CREATE INDEX reviews_reviewer_latest_name_idx
ON public.reviews ("reviewerID", "unixReviewTime" DESC, "index" DESC)
INCLUDE ("reviewerName")
WHERE "reviewerName" IS NOT NULL;
