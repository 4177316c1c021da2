"""Settings, read once from the environment into frozen dataclasses and passed in.

Nothing in ims reads ``os.environ`` except ``Settings.from_env``. Tests build
``Settings`` directly (or via ``from_env`` with a dict).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
LOG_FORMATS = ("text", "json")  # the first is the default
LOG_LEVELS = ("info", "debug", "warning", "error")
ALWAYS_IGNORED_PARAMS = ("ixlib", "ixid")  # added by imgix SDKs and Unsplash-style URLs


class SettingsError(ValueError):
    """A setting has a value ims cannot use; the message names the variable."""


@dataclass(frozen=True)
class Limits:
    """Per-request resource limits (SPEC §2 "Limits")."""

    source_bytes: int = 50 * 1024 * 1024
    source_pixels: int = 100_000_000
    frames: int = 200
    output_side: int = 8192
    fetch_seconds: float = 10.0
    processing_seconds: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        """``IMS_PROCESS_SECONDS``, ``IMS_FETCH_SECONDS``, ``IMS_MAX_SOURCE_MB``,
        ``IMS_MAX_MEGAPIXELS``, ``IMS_MAX_FRAMES`` (SPEC §6)."""
        default = cls()
        return cls(
            source_bytes=int(_float(env, "IMS_MAX_SOURCE_MB", default.source_bytes / 2**20, low=0.001,
                                    high=10_000) * 2**20),
            source_pixels=int(_float(env, "IMS_MAX_MEGAPIXELS", default.source_pixels / 1e6, low=0.001,
                                     high=10_000) * 1e6),
            frames=_int(env, "IMS_MAX_FRAMES", default.frames, low=1, high=100_000),
            output_side=default.output_side,
            fetch_seconds=_float(env, "IMS_FETCH_SECONDS", default.fetch_seconds, low=0.1, high=3600),
            processing_seconds=_float(env, "IMS_PROCESS_SECONDS", default.processing_seconds, low=0.1, high=3600),
        )


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    database_url: str = ""
    workers: int = 1
    processes: int = 1  # `ims serve` server processes on one port (IMS_PROCESSES, --processes)
    fs_roots: tuple[Path, ...] = ()
    bootstrap_api_key: str | None = None
    secret_key: str | None = None
    allow_private_networks: bool = False
    allow_loopback_webhooks: bool = False  # the development mode (`ims serve --dev`), not read from the env
    webhook_retry_schedule: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE
    job_lease_seconds: int = 30
    bulk_page_keys: int = 500  # object keys a bulk process lists and queues per transaction (ims.jobs.lister)
    cache_size_mb: int = 1024
    limits: Limits = field(default_factory=Limits)
    public_hosts: tuple[str, ...] = ()  # names this installation answers on: never a source's hostname
    source_hostname_suffixes: tuple[str, ...] = ()  # when set, source hostnames must end in one of these
    console_session_hours: int = 12  # a console sign-in lasts this long (IMS_CONSOLE_SESSION_HOURS)
    log_format: str = "text"  # text | json (ims.logs)
    log_level: str = "info"
    metrics_port: int | None = None  # `ims worker` serves /metrics here (None: not at all)
    ignored_params: tuple[str, ...] = ALWAYS_IGNORED_PARAMS  # query names accepted and ignored
    auto_format_defer_ms: int = 150  # auto=format answers WebP first when AVIF would take longer
    result_store: str | None = None  # s3://bucket/prefix shared by every node; None = local (ims.results)
    result_store_endpoint_url: str | None = None
    result_store_region: str | None = None
    result_store_access_key_id: str | None = None
    result_store_secret_access_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("IMS_DATA_DIR") or "var").absolute()
        roots = env.get("IMS_FS_ROOTS")
        fs_roots = (tuple(Path(p).absolute() for p in roots.split(":") if p) if roots
                    else (data_dir / "sources", data_dir / "destinations"))
        return cls(
            host=env.get("IMS_HOST") or cls.host,
            port=_int(env, "IMS_PORT", cls.port, low=0, high=65535),
            data_dir=data_dir,
            database_url=env.get("IMS_DATABASE_URL") or f"sqlite:///{data_dir / 'ims.db'}",
            workers=_int(env, "IMS_WORKERS", os.cpu_count() or 1, low=0, high=1024),
            processes=_int(env, "IMS_PROCESSES", cls.processes, low=1, high=256),
            fs_roots=fs_roots,
            bootstrap_api_key=env.get("IMS_BOOTSTRAP_API_KEY") or None,
            secret_key=env.get("IMS_SECRET_KEY") or None,
            allow_private_networks=_bool(env, "IMS_ALLOW_PRIVATE_NETWORKS"),
            webhook_retry_schedule=_schedule(env.get("IMS_WEBHOOK_RETRY_SCHEDULE")),
            job_lease_seconds=_int(env, "IMS_JOB_LEASE_SECONDS", cls.job_lease_seconds, low=1, high=86400),
            bulk_page_keys=_int(env, "IMS_BULK_PAGE_KEYS", cls.bulk_page_keys, low=1, high=10_000),
            cache_size_mb=_int(env, "IMS_CACHE_SIZE_MB", cls.cache_size_mb, low=0, high=10**7),
            limits=Limits.from_env(env),
            public_hosts=_names(env.get("IMS_PUBLIC_HOSTS")),
            source_hostname_suffixes=_names(env.get("IMS_SOURCE_HOSTNAME_SUFFIXES")),
            console_session_hours=_int(env, "IMS_CONSOLE_SESSION_HOURS", Settings.console_session_hours, low=1, high=24 * 365),
            log_format=_choice(env, "IMS_LOG_FORMAT", LOG_FORMATS),
            log_level=_choice(env, "IMS_LOG_LEVEL", LOG_LEVELS),
            metrics_port=_int(env, "IMS_METRICS_PORT", 0, low=0, high=65535) or None,
            ignored_params=_ignored_params(env.get("IMS_IGNORED_PARAMS")),
            auto_format_defer_ms=_int(env, "IMS_AUTO_FORMAT_DEFER_MS", cls.auto_format_defer_ms, low=0,
                                      high=3_600_000),
            result_store=_result_store(env.get("IMS_RESULT_STORE")),
            result_store_endpoint_url=env.get("IMS_RESULT_STORE_ENDPOINT_URL") or None,
            result_store_region=env.get("IMS_RESULT_STORE_REGION") or None,
            result_store_access_key_id=env.get("IMS_RESULT_STORE_ACCESS_KEY_ID") or None,
            result_store_secret_access_key=env.get("IMS_RESULT_STORE_SECRET_ACCESS_KEY") or None,
        )

    def with_secret_key(self) -> Settings:
        """Return settings whose ``secret_key`` is set, generating it into the data dir once."""
        if self.secret_key:
            return self
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        return replace(self, secret_key=path.read_text().strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def private_paths(self) -> tuple[Path, ...]:
        """ims's own files and directories, resolved: no fs source or destination may reach them.

        The SQLite database with its journal files (wherever ``IMS_DATABASE_URL`` puts
        it, and the default name in the data dir), the generated secret key and the
        result cache. The data dir itself is not listed: it also holds ``sources/`` and
        ``destinations/``, which are meant for fs storage.
        """
        databases = [self.data_dir / "ims.db"]
        if self.is_sqlite:  # sqlite:///relative/file or sqlite:////absolute/file, maybe with ?options
            name = self.database_url.partition(":///")[2].split("?", 1)[0]
            if name and name != ":memory:":
                databases.append(Path(name))
        paths = [self.data_dir / "secret.key", self.data_dir / "cache"]
        paths += [Path(f"{db}{suffix}") for db in databases for suffix in ("", "-wal", "-shm", "-journal")]
        return tuple(dict.fromkeys(Path(os.path.realpath(p)) for p in paths))

    def check_fs_roots(self) -> None:
        """Refuse, at start, an ``IMS_FS_ROOTS`` entry that contains or lies inside ims's own files.

        With such a root any API key could create an fs destination over the database
        or the secret key and overwrite them with a job (or read them through a source).
        """
        private = self.private_paths()
        for root in self.fs_roots:
            real = Path(os.path.realpath(root))
            for path in private:
                if path.is_relative_to(real):
                    where = f"contains ims's own file '{path}'"
                elif real.is_relative_to(path):
                    where = f"lies inside ims's own '{path}'"
                else:
                    continue
                raise SettingsError(
                    f"IMS_FS_ROOTS: the root '{root}' {where}; fs sources and destinations must never "
                    "reach the database, the secret key or the cache. Use directories that hold only "
                    f"images, e.g. the default '{self.data_dir / 'sources'}:{self.data_dir / 'destinations'}'"
                )


def documented() -> tuple[tuple[str, str, str], ...]:
    """(variable, default, meaning) of the settings an operator sets, for ``ims serve --help``.

    The defaults are the ones ``Settings.from_env`` and ``Limits.from_env`` use.
    """
    limits = Limits()
    return (
        ("IMS_HOST", Settings.host, "listen address (ims serve --host overrides it)"),
        ("IMS_PORT", str(Settings.port), "listen port (ims serve --port overrides it)"),
        ("IMS_DATA_DIR", f"./{Settings.data_dir}", "SQLite file, local storage, result cache, generated secret key"),
        ("IMS_DATABASE_URL", "sqlite:///$IMS_DATA_DIR/ims.db", "or postgresql://user@host:5432/db"),
        ("IMS_WORKERS", f"CPUs ({os.cpu_count() or 1})", "jobs at a time per process (ims serve: 0 = none)"),
        ("IMS_PROCESSES", str(Settings.processes), "ims serve: server processes on one port (--processes overrides it)"),
        ("IMS_FS_ROOTS", "$IMS_DATA_DIR/sources:$IMS_DATA_DIR/destinations",
         "colon-separated roots for fs sources and destinations"),
        ("IMS_BOOTSTRAP_API_KEY", "generated, printed once", "the default project's API key on first start"),
        ("IMS_SECRET_KEY", "generated into the data dir", "encrypts stored credentials and webhook secrets"),
        ("IMS_ALLOW_PRIVATE_NETWORKS", "0", "1: webhooks, http sources, S3 endpoints may be on private networks"),
        ("IMS_PUBLIC_HOSTS", "(empty)", "host names this installation answers on (never a source hostname)"),
        ("IMS_SOURCE_HOSTNAME_SUFFIXES", "(empty = any)", "source hostnames must be subdomains of one of these"),
        ("IMS_WEBHOOK_RETRY_SCHEDULE", ",".join(map(str, DEFAULT_RETRY_SCHEDULE)),
         "seconds between webhook delivery attempts"),
        ("IMS_JOB_LEASE_SECONDS", str(Settings.job_lease_seconds),
         "a claimed job without a heartbeat for this long runs again"),
        ("IMS_BULK_PAGE_KEYS", str(Settings.bulk_page_keys),
         "object keys a bulk process lists and queues per transaction"),
        ("IMS_CACHE_SIZE_MB", str(Settings.cache_size_mb), "on-disk cache of on-demand renders (0 = off)"),
        ("IMS_AUTO_FORMAT_DEFER_MS", str(Settings.auto_format_defer_ms),
         "auto=format: an uncached AVIF estimated to take longer is answered in WebP, made in the background"),
        ("IMS_RESULT_STORE", "local", "or s3://bucket/prefix: one result store shared by every node"),
        ("IMS_RESULT_STORE_ENDPOINT_URL", "(AWS)", "S3 endpoint of the result store, e.g. http://minio:9000"),
        ("IMS_RESULT_STORE_REGION", "us-east-1", "region of the result store"),
        ("IMS_RESULT_STORE_ACCESS_KEY_ID", "(none)", "credentials of the result store (both, or neither)"),
        ("IMS_RESULT_STORE_SECRET_ACCESS_KEY", "(none)", "credentials of the result store"),
        ("IMS_IGNORED_PARAMS", ",".join(ALWAYS_IGNORED_PARAMS),
         "comma list of query names accepted and ignored (ixlib, ixid always are)"),
        ("IMS_PROCESS_SECONDS", f"{limits.processing_seconds:g}", "processing time limit of one render (503)"),
        ("IMS_FETCH_SECONDS", f"{limits.fetch_seconds:g}", "time limit for reading a source object (504)"),
        ("IMS_MAX_SOURCE_MB", f"{limits.source_bytes / 2**20:g}", "largest source object (413)"),
        ("IMS_MAX_MEGAPIXELS", f"{limits.source_pixels / 1e6:g}", "most pixels of a source, all frames (413)"),
        ("IMS_MAX_FRAMES", str(limits.frames), "most frames of an animated source (413)"),
        ("IMS_CONSOLE_SESSION_HOURS", str(Settings.console_session_hours), "a console sign-in lasts this long"),
        ("IMS_LOG_FORMAT", Settings.log_format, "text, or json: one JSON object a line"),
        ("IMS_LOG_LEVEL", Settings.log_level, "|".join(LOG_LEVELS)),
        ("IMS_METRICS_PORT", "(off)", "ims worker serves /metrics on IMS_HOST at this port"),
    )


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:  # (NaN fails this too)
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {raw}")
    return value


def _names(raw: str | None) -> tuple[str, ...]:
    """A comma- or space-separated list of host names, lowercased, without trailing dots."""
    if not raw:
        return ()
    return tuple(n.strip().lower().rstrip(".") for n in raw.replace(",", " ").split() if n.strip(". "))


def _ignored_params(raw: str | None) -> tuple[str, ...]:
    """``IMS_IGNORED_PARAMS``: a comma list of query names, always with ``ixlib`` and ``ixid``.

    Names are matched exactly (after percent-decoding), as parameter names are."""
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    for name in names:
        if any(c in name for c in "&=#?") or any(c.isspace() for c in name):
            raise SettingsError(
                f"IMS_IGNORED_PARAMS must be a comma list of parameter names, got {name!r}"
            )
    return tuple(dict.fromkeys([*ALWAYS_IGNORED_PARAMS, *names]))


def _result_store(raw: str | None) -> str | None:
    """``IMS_RESULT_STORE``: None for ``local`` (or unset), else an ``s3://bucket[/prefix]`` URL."""
    raw = (raw or "local").strip()
    if raw == "local":
        return None
    bucket, _, _prefix = raw.removeprefix("s3://").partition("/")
    if not raw.startswith("s3://") or not bucket or any(c.isspace() or c in "?#" for c in raw):
        raise SettingsError(f"IMS_RESULT_STORE must be 'local' or s3://bucket/prefix, got {raw!r}")
    return raw


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "0").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be 0 or 1, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (case-insensitive); unset or empty is the first."""
    raw = (env.get(name) or allowed[0]).strip().lower()
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _schedule(raw: str | None) -> tuple[int, ...]:
    if not raw:
        return DEFAULT_RETRY_SCHEDULE
    try:
        values = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SettingsError(
            f"IMS_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds, got {raw!r}"
        ) from None
    if not values or any(v < 0 for v in values):
        raise SettingsError("IMS_WEBHOOK_RETRY_SCHEDULE needs at least one non-negative number")
    return values
