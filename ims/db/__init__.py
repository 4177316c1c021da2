"""The database: one schema on SQLite (embedded default) and PostgreSQL (scale-out)."""

from ims.db.engine import Database

__all__ = ["Database"]
