-- depends: 0004.summary-functions
-- reviews_reader: what BI users and the service's own login are granted, and nothing
-- more: use schema review_api, read its views, call its functions. No access to the raw
-- table, no writes anywhere. Grant it to a login with
--   CREATE ROLE reviews_api LOGIN PASSWORD '...' IN ROLE reviews_reader;
-- Roles are cluster-wide: create it only if another database has not already.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'reviews_reader') THEN
        CREATE ROLE reviews_reader NOLOGIN;
        COMMENT ON ROLE reviews_reader IS
        'Read-only access to the reviews-api SQL contract (schema review_api).';
    END IF;
END
$$;

-- Functions are executable by PUBLIC by default; the contract is for readers only.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA review_api FROM PUBLIC;  -- noqa: CP02

GRANT USAGE ON SCHEMA review_api TO reviews_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA review_api TO reviews_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA review_api TO reviews_reader;
