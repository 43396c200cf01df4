-- Undo 0012: no rankings (their routes go with them).
DROP FUNCTION review_api.top_reviewers(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
);
DROP FUNCTION review_api.top_products(
    DATE, DATE, review_api.ranking_sort, review_api.sort_order, INTEGER, INTEGER,  -- noqa: CP05
    DOUBLE PRECISION, TEXT
);
DROP TYPE review_api.sort_order;  -- noqa: CP05
DROP TYPE review_api.ranking_sort;  -- noqa: CP05
