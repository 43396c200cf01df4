-- Review summaries on PostgreSQL: thin calls of the public SQL functions in schema
-- review_api (migrations/postgres/0004.summary-functions.sql), which hold the logic and are
-- inlined by the planner. Same query names and result columns as queries/sqlite/; a test
-- holds the two sets together.

-- name: product_review_summary(product_id, date_from, date_to)^
-- One row of review aggregates for a product between two optional dates (inclusive).
SELECT
    s.review_count,
    s.average_rating,
    s.rating_1,
    s.rating_2,
    s.rating_3,
    s.rating_4,
    s.rating_5,
    s.verified_review_count,
    s.helpful_votes,
    s.distinct_reviewers,
    s.first_review_date,
    s.last_review_date
FROM review_api.product_review_summary(:product_id, :date_from, :date_to) AS s;

-- name: reviewer_review_summary(reviewer_id, date_from, date_to)^
-- One row of review aggregates for a reviewer between two optional dates (inclusive),
-- with the reviewer's latest non-null display name over all time.
SELECT
    s.review_count,
    s.average_rating,
    s.rating_1,
    s.rating_2,
    s.rating_3,
    s.rating_4,
    s.rating_5,
    s.verified_review_count,
    s.helpful_votes,
    s.distinct_products,
    s.first_review_date,
    s.last_review_date,
    s.reviewer_name
FROM review_api.reviewer_review_summary(:reviewer_id, :date_from, :date_to) AS s;
