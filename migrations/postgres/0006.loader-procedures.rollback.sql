DROP PROCEDURE review_admin.publish_staging_table(TEXT, TEXT, BIGINT, TIMESTAMPTZ);
DROP PROCEDURE review_admin.index_staging_table();
DROP PROCEDURE review_admin.create_staging_table();
DROP TABLE IF EXISTS review_admin.reviews_staging;
DROP SCHEMA review_admin;
