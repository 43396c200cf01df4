"""`reviews-api load`: importing a source into PostgreSQL and publishing it."""
