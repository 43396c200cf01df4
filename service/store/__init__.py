"""The databases: connections, named queries, migrations, where the SQL files are."""
