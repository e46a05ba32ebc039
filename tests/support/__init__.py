"""Helpers of the test suites, imported as `support.<module>` (pyproject puts tests/ on the path).

The fixtures they serve are in tests/conftest.py. For real databases and networks:
`db_backend` runs a test on SQLite and on PostgreSQL (support.databases), on the session's
`postgres_cluster` (django_gearman.pytest_plugin); `network` gives a test network namespaces
and links it cuts and restores (support.netns).
"""
