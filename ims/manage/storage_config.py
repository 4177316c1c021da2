"""Turn the storage fields of a source or destination body into (config, credentials).

Checks every field for the kind and refuses fields that do not belong to it, so
a typo never silently does nothing. ``build`` resolves no names (it runs inside
the write transaction); ``precheck`` does the address checks before it.
"""

from __future__ import annotations

import re
from pathlib import Path

from ims.manage.common import fail
from ims.netguard import check_public_url, check_url_form
from ims.storage.fs import resolve_fs_root
from ims.storage.s3 import check_endpoint_url

FIELDS = {
    "fs": {"path"},
    "s3": {"bucket", "prefix", "endpoint_url", "region", "access_key_id", "secret_access_key"},
    "http": {"base_url"},
}
REQUIRED = {"fs": ("path",), "s3": ("bucket",), "http": ("base_url",)}
STORAGE_FIELDS = set().union(*FIELDS.values())
# Without endpoint_url the region is part of the AWS host name: no dots, slashes or '@'.
REGION = re.compile(r"[A-Za-z0-9_-]{1,64}")


def precheck(values: dict, *, allow_private: bool) -> None:
    """Refuse URLs in ``values`` whose host resolves to a private address (unless allowed).

    Blocking (DNS): run it in a thread before the write transaction, never inside
    one — a slow resolver would hold the SQLite write lock for every process.
    Only the fields given are checked: a PATCH that leaves a URL alone needs no lookup.
    """
    if values.get("base_url"):
        check_public_url(values["base_url"], allow_private=allow_private, field="base_url")
    if values.get("endpoint_url"):
        check_public_url(check_endpoint_url(values["endpoint_url"], field="endpoint_url"),
                         allow_private=allow_private, field="endpoint_url")


def build(
    kind: str,
    values: dict,
    *,
    fs_roots: tuple[Path, ...],
    allow_private: bool,
    extra_allowed: frozenset[str] = frozenset(),
    private_paths: tuple[Path, ...] = (),
) -> tuple[dict, dict | None]:
    """Validate ``values`` (storage fields only, None = absent) for ``kind``.

    Resolves no names, so ``allow_private`` is not used here: ``precheck`` must have
    checked the URLs' addresses before the transaction (the parameter stays for callers).
    ``private_paths``: ims's own files; an fs path that contains or lies inside one is refused.
    """
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
        path = resolve_fs_root(values["path"], fs_roots, field="path", private=private_paths)
        return {"path": str(path)}, None
    if kind == "http":
        base = values["base_url"]
        check_url_form(base, field="base_url")  # its addresses: precheck, before the transaction
        return {"base_url": base if base.endswith("/") else base + "/"}, None
    if values.get("endpoint_url"):
        check_endpoint_url(values["endpoint_url"], field="endpoint_url")  # addresses: precheck
    if values.get("region") and not REGION.fullmatch(values["region"]):
        raise fail(("region", "region must be 1–64 letters, digits, '-' or '_' (e.g. us-east-1)"))
    config = {k: values[k] for k in ("bucket", "prefix", "endpoint_url", "region") if values.get(k)}
    credentials = None
    if creds:
        credentials = {k: values[k] for k in ("access_key_id", "secret_access_key")}
    return config, credentials
