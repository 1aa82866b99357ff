"""Alembic migrations of the server's database (applied by ccdphot.server.database.upgrade)."""
