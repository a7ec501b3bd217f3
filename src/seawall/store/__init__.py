"""Persistence: SQLAlchemy tables, Alembic migrations and repositories (same code on SQLite and PostgreSQL)."""
