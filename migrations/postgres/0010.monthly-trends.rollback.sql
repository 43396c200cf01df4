-- Undo 0010: no monthly trends (their routes go with them).
DROP FUNCTION review_api.reviewer_monthly_reviews(TEXT, DATE, DATE);
DROP FUNCTION review_api.product_monthly_reviews(TEXT, DATE, DATE);
