-- Back to 0008: the summaries' comments as 0004 wrote them (BI prose, no API annotations),
-- and no existence functions (the service of 0008 asks its own lookup queries instead).
DROP FUNCTION review_api.reviewer_exists(TEXT);
DROP FUNCTION review_api.product_exists(TEXT);

COMMENT ON FUNCTION review_api.product_review_summary(TEXT, DATE, DATE) IS
'Review aggregates of one product between two optional dates (inclusive): one row, '
'review_count 0 when the product has no review in the range (or does not exist). '
'Arguments: product_id, the product (ASIN); from_date, the first review day to count, '
'NULL for no lower bound; to_date, the last review day to count, NULL for no upper bound.';

COMMENT ON FUNCTION review_api.reviewer_review_summary(TEXT, DATE, DATE) IS
'Review aggregates of one reviewer between two optional dates (inclusive), with the '
'reviewer''s latest display name over all time: one row, review_count 0 when none. '
'Arguments: reviewer_id, the reviewer (user id); from_date, the first review day to count, '
'NULL for no lower bound; to_date, the last review day to count, NULL for no upper bound.';
