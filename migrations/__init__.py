"""The SQL that shapes the databases: yoyo migrations (postgres/), the SQLite schema (sqlite/).

Not Python: this file only makes the folder installable, as the package
`service.sql_migrations` (pyproject.toml), so that the SQL travels inside the installed
package while DBAs keep reading it here (README, "Layout"). Never put a Python file in
postgres/: yoyo would take it for a migration.
"""
