-- The original development database's schema, exactly as pandas `to_sql` wrote it:
-- one table `reviews` with camelCase column names and an index on the pandas row number.
-- Used by the data generator and the SQLite writer of `reviews-api load`; the service
-- never creates tables (it opens the SQLite file read-only).
CREATE TABLE "reviews" (
    "index" INTEGER,
    "overall" REAL,
    "verified" INTEGER,
    "reviewTime" TEXT,
    "reviewerID" TEXT,
    "productID" TEXT,
    "reviewerName" TEXT,
    "reviewText" TEXT,
    "summary" TEXT,
    "unixReviewTime" INTEGER,
    "vote" TEXT
);

CREATE INDEX "ix_reviews_index" ON "reviews" ("index");
