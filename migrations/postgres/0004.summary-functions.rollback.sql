DROP FUNCTION review_api.reviewer_review_summary(TEXT, DATE, DATE);
DROP FUNCTION review_api.product_review_summary(TEXT, DATE, DATE);
