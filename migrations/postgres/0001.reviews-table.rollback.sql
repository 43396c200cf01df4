DROP TABLE public.reviews;
