-- The raw review data, with the column names of the original SQLite file (pandas'
-- camelCase, quoted) so that documents, imports and habits carry over unchanged.
--
-- Types are what PostgreSQL users expect rather than SQLite's storage classes: the star
-- rating is a smallint, verified a boolean, ids text. Ids are opaque codes compared for
-- equality, so they use the "C" collation: byte order like SQLite's, and index builds and
-- lookups about a third cheaper than with a linguistic collation. `vote` stays text as in
-- the source ("1,078"); `helpful_votes` and `review_date` are derived once, stored, so
-- that the indexes can carry them and every summary is an index-only scan.
--
-- Constraints reject rows that cannot be real: a rating outside 1..5, a missing id, a
-- malformed vote. The table is replaced wholesale by `reviews-api load` (see
-- 0006.loader-procedures.sql); it is never updated row by row.

CREATE TABLE public.reviews (
    "index" BIGINT NOT NULL,
    "overall" SMALLINT NOT NULL,
    "verified" BOOLEAN,
    "reviewTime" TEXT NOT NULL,
    "reviewerID" TEXT COLLATE "C" NOT NULL,
    "productID" TEXT COLLATE "C" NOT NULL,
    "reviewerName" TEXT,
    "reviewText" TEXT,
    "summary" TEXT,
    "unixReviewTime" BIGINT NOT NULL,
    "vote" TEXT,
    -- UTC calendar day of unixReviewTime (floor, so a time of day still lands on its day).
    review_date DATE NOT NULL GENERATED ALWAYS AS (
        DATE '1970-01-01' + floor("unixReviewTime" / 86400.0)::INTEGER
    ) STORED,
    -- vote as a number: "1,078" is 1078, no vote is 0.
    helpful_votes INTEGER NOT NULL GENERATED ALWAYS AS (
        coalesce(replace("vote", ',', '')::INTEGER, 0)
    ) STORED,
    CONSTRAINT reviews_pkey PRIMARY KEY ("index"),
    CONSTRAINT reviews_overall_is_a_star_rating CHECK ("overall" BETWEEN 1 AND 5),
    CONSTRAINT reviews_ids_are_not_empty CHECK ("reviewerID" <> '' AND "productID" <> ''),
    CONSTRAINT reviews_vote_is_a_count CHECK ("vote" ~ '^[0-9]{1,3}(,?[0-9]{3})*$')
);

COMMENT ON TABLE public.reviews IS
'Amazon musical-instrument reviews, one row per review, as imported by `reviews-api load`. '
'Column names follow the original SQLite file. Read it through the view review_api.reviews.';
COMMENT ON COLUMN public.reviews."index" IS 'Row number of the source file (unique).';
COMMENT ON COLUMN public.reviews."overall" IS 'Star rating, 1 to 5.';
COMMENT ON COLUMN public.reviews."verified" IS
'Verified purchase; NULL when the source does not say (2014 dumps).';
COMMENT ON COLUMN public.reviews."reviewTime" IS
'Review date as written by the source, MM DD, YYYY.';
COMMENT ON COLUMN public.reviews."reviewerID" IS 'Reviewer (user) id.';
COMMENT ON COLUMN public.reviews."productID" IS 'Product id (the ASIN).';
COMMENT ON COLUMN public.reviews."reviewerName" IS
'Reviewer display name at the time of this review; may differ between a reviewer''s reviews.';
COMMENT ON COLUMN public.reviews."reviewText" IS 'Review body.';
COMMENT ON COLUMN public.reviews."summary" IS 'Review headline.';
COMMENT ON COLUMN public.reviews."unixReviewTime" IS 'UTC midnight of the review date, in seconds.';
COMMENT ON COLUMN public.reviews."vote" IS 'Helpful votes as text, thousands separated by commas.';
COMMENT ON COLUMN public.reviews.review_date IS 'Derived: UTC calendar day of unixReviewTime.';
COMMENT ON COLUMN public.reviews.helpful_votes IS 'Derived: vote as an integer, 0 when absent.';
