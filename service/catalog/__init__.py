"""The API catalog: what the SQL functions declare, and the file the service serves from."""
