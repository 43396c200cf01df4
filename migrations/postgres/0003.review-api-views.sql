-- depends: 0002.reviews-indexes
-- The public SQL contract lives in schema review_api: this typed, snake_case view for
-- humans and BI tools, the load history, and (0004) the summary functions. Readers get
-- this schema and nothing else (0005). public.reviews stays the owner's raw table.

CREATE SCHEMA review_api;
COMMENT ON SCHEMA review_api IS
'reviews-api public SQL contract: typed views and summary functions over the review data. '
'Changing a return type means a new function name; existing names never change meaning.';

-- Staging, in dbt terms: rename and type once, so every query above it is a thin select.
CREATE VIEW review_api.reviews AS
SELECT
    r."index" AS review_index,
    r."productID" AS product_id,
    r."reviewerID" AS reviewer_id,
    r."reviewerName" AS reviewer_name,
    r."overall" AS rating,
    r.review_date,
    r."unixReviewTime" AS review_time_unix,
    r."verified" AS verified,
    r.helpful_votes,
    r."summary" AS summary,
    r."reviewText" AS review_text
FROM public.reviews AS r;

COMMENT ON VIEW review_api.reviews IS
'One row per review with typed, snake_case columns. The API and BI tools read this view.';
COMMENT ON COLUMN review_api.reviews.review_index IS 'Row number in the source file (unique).';
COMMENT ON COLUMN review_api.reviews.product_id IS 'Product id (the ASIN).';
COMMENT ON COLUMN review_api.reviews.reviewer_id IS 'Reviewer (user) id.';
COMMENT ON COLUMN review_api.reviews.reviewer_name IS
'Reviewer display name at the time of this review (NULL when absent).';
COMMENT ON COLUMN review_api.reviews.rating IS 'Star rating, 1 to 5.';
COMMENT ON COLUMN review_api.reviews.review_date IS 'UTC calendar day of the review.';
COMMENT ON COLUMN review_api.reviews.review_time_unix IS
'UTC midnight of the review day, seconds since 1970 (orders reviews of one day by row).';
COMMENT ON COLUMN review_api.reviews.verified IS
'Verified purchase; NULL when the source does not say.';
COMMENT ON COLUMN review_api.reviews.helpful_votes IS 'Helpful votes, 0 when none.';
COMMENT ON COLUMN review_api.reviews.summary IS 'Review headline.';
COMMENT ON COLUMN review_api.reviews.review_text IS 'Review body.';

-- One row per completed load; the latest is the data's version (the API's ETags use it).
CREATE TABLE public.data_loads (
    load_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_name TEXT NOT NULL,
    source_checksum TEXT NOT NULL,
    row_count BIGINT NOT NULL CHECK (row_count >= 0),
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.data_loads IS 'History of `reviews-api load`: one row per completed load.';
COMMENT ON COLUMN public.data_loads.load_id IS 'Increasing load number: the data version.';
COMMENT ON COLUMN public.data_loads.source_name IS 'File name of the imported source.';
COMMENT ON COLUMN public.data_loads.source_checksum IS 'SHA-256 of the source file.';
COMMENT ON COLUMN public.data_loads.row_count IS 'Reviews imported (verified after the copy).';
COMMENT ON COLUMN public.data_loads.started_at IS 'When the load started.';
COMMENT ON COLUMN public.data_loads.finished_at IS 'When the new data went live.';

CREATE VIEW review_api.data_loads AS
SELECT
    l.load_id,
    l.source_name,
    l.source_checksum,
    l.row_count,
    l.started_at,
    l.finished_at
FROM public.data_loads AS l;

COMMENT ON VIEW review_api.data_loads IS
'Completed loads, newest has the highest load_id: that load_id is the current data version.';
COMMENT ON COLUMN review_api.data_loads.load_id IS 'Increasing load number: the data version.';
COMMENT ON COLUMN review_api.data_loads.source_name IS 'File name of the imported source.';
COMMENT ON COLUMN review_api.data_loads.source_checksum IS 'SHA-256 of the source file.';
COMMENT ON COLUMN review_api.data_loads.row_count IS 'Reviews imported.';
COMMENT ON COLUMN review_api.data_loads.started_at IS 'When the load started.';
COMMENT ON COLUMN review_api.data_loads.finished_at IS 'When the new data went live.';
