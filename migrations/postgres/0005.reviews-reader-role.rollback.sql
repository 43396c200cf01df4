-- The role may serve other databases of the cluster: revoke what this database granted,
-- never drop it.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA review_api FROM reviews_reader;
REVOKE SELECT ON ALL TABLES IN SCHEMA review_api FROM reviews_reader;
REVOKE USAGE ON SCHEMA review_api FROM reviews_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA review_api TO PUBLIC;  -- noqa: CP02
