-- Development indexes for the SQLite file: they turn each summary into one index range
-- scan that never touches the table (SQLite has no INCLUDE, so the covered columns trail
-- the key). Idempotent: safe to run on a copy of the original database file, which
-- serves with or without them.

-- Product summaries: key (productID, unixReviewTime), then every column they aggregate.
CREATE INDEX IF NOT EXISTS "ix_reviews_product_time" ON "reviews" (
    "productID",
    "unixReviewTime",
    "overall",
    "verified",
    "vote",
    "reviewerID"
);

-- Reviewer summaries and the reviewer's latest name: key (reviewerID, unixReviewTime,
-- index) so "latest name, ties broken by the higher index" is read backwards off the index.
CREATE INDEX IF NOT EXISTS "ix_reviews_reviewer_time" ON "reviews" (
    "reviewerID",
    "unixReviewTime",
    "index",
    "overall",
    "verified",
    "vote",
    "productID",
    "reviewerName"
);
