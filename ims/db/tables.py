"""Tables, as SQLAlchemy Core. Migrations in ``ims/db/migrations`` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ims.db.types import UTCDateTime

metadata = MetaData()

Id = lambda: String(24)  # noqa: E731 — 24-hex ids (ims.ids)

projects = Table(
    "projects",
    metadata,
    Column("id", Id(), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id(), primary_key=True),
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the key
    Column("prefix", String(16), nullable=False),  # first characters, to tell keys apart
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Id(), primary_key=True),
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False, unique=True),  # a public URL segment
    Column("kind", String(8), nullable=False),  # fs | s3 | http
    Column("config", JSON, nullable=False),  # path / bucket, prefix, endpoint_url, region / base_url
    Column("credentials", Text, nullable=True),  # sealed JSON (ims.crypto)
    Column("access", String(8), nullable=False),  # public | signed | private
    Column("signature", String(16), nullable=False),  # hmac-sha256 | imgix-md5
    Column("signing_key", Text, nullable=False),  # sealed
    Column("cache_control", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_sources_project", "project_id"),
)

source_hostnames = Table(
    "source_hostnames",
    metadata,
    Column("hostname", String(253), primary_key=True),
    Column("source_id", Id(), ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
)

destinations = Table(
    "destinations",
    metadata,
    Column("id", Id(), primary_key=True),
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(8), nullable=False),  # fs | s3
    Column("bucket", String(255), nullable=False),
    Column("config", JSON, nullable=False),
    Column("credentials", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_destinations_project_name"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Id(), primary_key=True),
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", String(500), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("secret", Text, nullable=False),  # sealed
    Column("previous_secret", Text, nullable=True),  # sealed; valid until previous_secret_expires_at
    Column("previous_secret_expires_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_webhook_endpoints_project", "project_id"),
)
