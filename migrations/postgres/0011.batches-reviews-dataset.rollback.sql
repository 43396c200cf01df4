-- Undo 0011: no batches, review lists or dataset summary (their routes go with them), and
-- not the two indexes only the product's review lists read.
DROP FUNCTION review_api.dataset_summary();
DROP FUNCTION review_api.reviewer_reviews(
    TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT  -- noqa: CP05
);
DROP FUNCTION review_api.product_reviews(
    TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT  -- noqa: CP05
);
DROP FUNCTION review_api.reviewer_review_summaries(TEXT[], DATE, DATE);
DROP FUNCTION review_api.product_review_summaries(TEXT[], DATE, DATE);
DROP TYPE review_api.review_sort;  -- noqa: CP05
DROP INDEX public.reviews_product_helpful_idx;
DROP INDEX public.reviews_product_recent_idx;
