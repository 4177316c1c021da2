"""Tables, as SQLAlchemy Core. Migrations in ``ims/db/migrations`` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
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
    Column("presets_only", Boolean, nullable=False, default=False),  # migration 0005
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

# The events a webhook message can be about (SPEC §4): what ``webhook_endpoints.events`` may list.
WEBHOOK_EVENTS = ("background_process.succeeded", "background_process.failed", "background_bulk.completed",
                  "webhook.test")

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
    Column("events", JSON, nullable=True),  # the WEBHOOK_EVENTS it receives; NULL = all (migration 0005)
    Index("ix_webhook_endpoints_project", "project_id"),
)

# A project's named parameter sets (SPEC §5). Changes bump config_version (migration 0005).
presets = Table(
    "presets",
    metadata,
    Column("id", Id(), primary_key=True),
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_presets_project_name"),
)

# One row (id 1): bumped by triggers (migration 0003) in the same transaction as every change to
# sources, source_hostnames and destinations, so a process's cached rows are trusted only while it
# reads the same version (ims.manage.lookup).
config_version = Table(
    "config_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

# -- result cache (SPEC §5 purge, §6 IMS_RESULT_STORE; migration 0006) -------------------------------

# A purged object key or prefix of a source: its random token is part of the cache key of every
# rendition of the matching objects (ims.results.purges). Changes bump config_version.
purges = Table(
    "purges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", Id(), ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(8), nullable=False),  # key | prefix
    Column("value", Text, nullable=False),
    Column("value_hash", String(64), nullable=False),  # sha256 hex of value: a bounded unique index
    Column("token", String(32), nullable=False),
    Column("purged_at", UTCDateTime(), nullable=False),
    Index("ix_purges_value", "source_id", "scope", "value_hash", unique=True),
)

# The node rendering a rendition for the shared result store holds its lease (ims.results.leases).
render_leases = Table(
    "render_leases",
    metadata,
    Column("variant", String(64), primary_key=True),
    Column("holder", String(32), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# -- background processes (SPEC §3) ---------------------------------------------------------------

JOB_STATUSES = ("queued", "processing", "succeeded", "failed", "canceled")  # what ``jobs.status`` holds

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id(), primary_key=True),
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("source_id", Id(), nullable=False),  # no FK: a job outlives a deleted source (and fails)
    Column("object_key", Text, nullable=False),
    Column("params", Text, nullable=False),  # Params.canonical()
    Column("destination_key", Text, nullable=False),
    Column("destination_ids", JSON, nullable=False),
    Column("metadata", JSON, nullable=True),
    Column("webhook_url", Text, nullable=True),
    Column("status", String(12), nullable=False),  # JOB_STATUSES
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("run_at", UTCDateTime(), nullable=False),  # queued jobs become claimable at this time
    Column("lease_token", String(32), nullable=True),  # fences completion to the current attempt
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("result", JSON, nullable=True),
    Column("error", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("outputs", JSON, nullable=True),  # several outputs (SPEC §3); NULL = one (migration 0005)
    Column("bulk_id", Id(), nullable=True),  # the bulk process that made it
    Column("priority", Integer, nullable=False, default=0),  # claimed lowest first: bulk jobs yield
    Column("webhooks", Boolean, nullable=False, default=True),  # false: its end writes no message (migration 0007)
    Index("ix_jobs_claim", "status", "priority", "run_at"),
    Index("ix_jobs_project", "project_id", "id"),
    Index("ix_jobs_bulk", "bulk_id", "object_key", unique=True),  # one job per object per bulk
    Index("ix_jobs_bulk_status", "bulk_id", "status", postgresql_where=text("bulk_id IS NOT NULL"),
          sqlite_where=text("bulk_id IS NOT NULL")),  # a bulk's counts (migration 0007)
)

# A bulk process (SPEC §3): the listing's progress, leased like a job so another process resumes it.
bulk_processes = Table(
    "bulk_processes",
    metadata,
    Column("id", Id(), primary_key=True),
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("source_id", Id(), nullable=False),
    Column("prefix", Text, nullable=False),
    Column("spec", JSON, nullable=False),  # what each job gets: outputs or params + key template, destinations
    Column("metadata", JSON, nullable=True),
    Column("job_webhooks", Boolean, nullable=False),
    Column("status", String(12), nullable=False),  # listing running succeeded failed canceled
    Column("cursor", Text, nullable=True),  # the last object key that got a job
    Column("listed", Integer, nullable=False, default=0),
    Column("lease_token", String(32), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("error", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("listed_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_bulk_status", "status", "lease_until"),
    Index("ix_bulk_project", "project_id", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(12), nullable=False),  # in_flight | done
    Column("response_status", Integer, nullable=True),
    Column("response", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# -- webhook outbox (SPEC §4) ----------------------------------------------------------------------

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id(), primary_key=True),  # also the webhook-id header: stable across retries
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("job_id", Id(), nullable=True),  # NULL for a webhook.test event (migration 0004)
    Column("endpoint_id", Id(), nullable=True),  # whose secret signs; NULL once the endpoint is deleted
    Column("url", Text, nullable=False),
    Column("event", String(64), nullable=False),
    Column("body", Text, nullable=False),  # serialised once; the same bytes on every attempt
    Column("status", String(12), nullable=False),  # pending delivering delivered exhausted
    Column("attempt_count", Integer, nullable=False),  # all attempts ever
    Column("cycle_attempts", Integer, nullable=False),  # attempts since creation or the last redeliver
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_token", String(32), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_job", "job_id"),
    Index("ix_deliveries_project", "project_id", "id"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Id(), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("response_excerpt", Text, nullable=True),
    Index("ix_attempts_delivery", "delivery_id", "id"),
)

# -- console (SPEC §7) ----------------------------------------------------------------------------

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 hex of the cookie's random session id
    Column("project_id", Id(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("api_key_id", Id(), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_console_sessions_key", "api_key_id"),
)
