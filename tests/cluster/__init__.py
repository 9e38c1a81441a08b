"""Several hub nodes together: two gunicorn web nodes and two workers around one PostgreSQL and one
redis-server, as production runs them (deploy/README.md)."""
