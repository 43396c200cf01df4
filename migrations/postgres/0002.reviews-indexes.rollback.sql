DROP INDEX public.reviews_reviewer_latest_name_idx;
DROP INDEX public.reviews_reviewer_date_idx;
DROP INDEX public.reviews_product_date_idx;
