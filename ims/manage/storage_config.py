"""Turn the storage fields of a source or destination body into (config, credentials).

Checks every field for the kind and refuses fields that do not belong to it, so
a typo never silently does nothing.
"""

from __future__ import annotations

from pathlib import Path

from ims.manage.common import fail
from ims.netguard import check_public_url
from ims.storage.fs import resolve_fs_root
from ims.storage.s3 import check_endpoint_url

FIELDS = {
    "fs": {"path"},
    "s3": {"bucket", "prefix", "endpoint_url", "region", "access_key_id", "secret_access_key"},
    "http": {"base_url"},
}
REQUIRED = {"fs": ("path",), "s3": ("bucket",), "http": ("base_url",)}
STORAGE_FIELDS = set().union(*FIELDS.values())


def build(
    kind: str,
    values: dict,
    *,
    fs_roots: tuple[Path, ...],
    allow_private: bool,
    extra_allowed: frozenset[str] = frozenset(),
) -> tuple[dict, dict | None]:
    """Validate ``values`` (storage fields only, None = absent) for ``kind``."""
    given = {k for k, v in values.items() if v is not None}
    allowed = FIELDS[kind] | extra_allowed
    problems = [(f, f"{f} is not used by kind {kind!r}; its fields are {', '.join(sorted(allowed))}")
                for f in sorted(given - allowed)]
    problems += [(f, f"{f} is required for kind {kind!r}") for f in REQUIRED[kind] if f not in given]
    creds = [f for f in ("access_key_id", "secret_access_key") if f in given]
    if len(creds) == 1:
        missing = ({"access_key_id", "secret_access_key"} - set(creds)).pop()
        problems.append((missing, "access_key_id and secret_access_key go together"))
    if problems:
        raise fail(*problems)

    if kind == "fs":
        return {"path": str(resolve_fs_root(values["path"], fs_roots, field="path"))}, None
    if kind == "http":
        base = values["base_url"]
        check_public_url(base, allow_private=allow_private, field="base_url")
        return {"base_url": base if base.endswith("/") else base + "/"}, None
    if values.get("endpoint_url"):
        check_endpoint_url(values["endpoint_url"], field="endpoint_url")
    config = {k: values[k] for k in ("bucket", "prefix", "endpoint_url", "region") if values.get(k)}
    credentials = None
    if creds:
        credentials = {k: values[k] for k in ("access_key_id", "secret_access_key")}
    return config, credentials
