"""The SQL the service and `reviews-api load` run, one folder per dialect.

Not Python: this file only makes the folder installable, as the package
`service.sql_queries` (pyproject.toml), so that the SQL travels inside the installed
package while DBAs keep reading it here (README, "Layout").
"""
