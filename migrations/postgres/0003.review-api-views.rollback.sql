DROP VIEW review_api.data_loads;
DROP TABLE public.data_loads;
DROP VIEW review_api.reviews;
DROP SCHEMA review_api;
