"""Sources: where originals are read (fs, s3, http), and who may read them (access)."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import quote

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ims.config import Settings
from ims.crypto import Sealer, new_signing_key
from ims.db.tables import source_hostnames, sources
from ims.db.types import utcnow
from ims.errors import Conflict, InvalidParameter
from ims.ids import is_id, new_id
from ims.manage import fs_paths, presets, storage_config
from ims.manage.common import Page, check_name, fail, get_owned, iso, list_page
from ims.manage.schemas import SignedUrlCreate, SourceCreate, SourceFields, SourcePatch
from ims.params import PRESET, parse, with_preset
from ims.signing import sign_url
from ims.storage.keys import check_key

RESERVED = frozenset({"api", "console", "healthz", "readyz", "metrics", "static", "docs", "openapi.json"})
DEFAULT_CACHE_CONTROL = "public, max-age=31536000"
PRIVATE_CACHE_CONTROL = "private, max-age=31536000"
HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_HEX_NUMBER = re.compile(r"0x[0-9a-f]*")


def create_source(conn: Connection, project_id: str, body: SourceCreate, settings: Settings, sealer: Sealer) -> dict:
    _check_source_name(body.name)
    config, credentials = _storage(body.kind, body, settings)
    _ensure_fs_path_free(conn, project_id, body.kind, config, settings)
    hostnames = _check_hostnames(body.hostnames or [], settings)
    now = utcnow()
    row = {
        "id": new_id(),
        "project_id": project_id,
        "name": body.name,
        "kind": body.kind,
        "config": config,
        "credentials": sealer.seal_json(credentials),
        "access": body.access or "public",
        "signature": body.signature or "hmac-sha256",
        "signing_key": sealer.seal(body.signing_key or new_signing_key()),
        "cache_control": body.cache_control or DEFAULT_CACHE_CONTROL,
        "presets_only": bool(body.presets_only),
        "created_at": now,
        "updated_at": now,
    }
    _ensure_name_free(conn, body.name)
    try:
        with conn.begin_nested():
            conn.execute(insert(sources).values(**row))
    except IntegrityError:  # a concurrent create took the name between the check and the insert
        raise Conflict(f"the source name {body.name!r} is already used", field="name") from None
    _set_hostnames(conn, row["id"], hostnames)
    return source_view(conn, row, sealer)


def update_source(
    conn: Connection, project_id: str, source_id: str, body: SourcePatch, settings: Settings, sealer: Sealer
) -> dict:
    row = dict(get_owned(conn, sources, project_id, source_id, "source"))
    given = body.model_dump(exclude_unset=True)
    changes: dict = {}
    if given.get("name") is not None and given["name"] != row["name"]:
        _check_source_name(given["name"])
        _ensure_name_free(conn, given["name"])
        changes["name"] = given["name"]
    storage_keys = storage_config.STORAGE_FIELDS & given.keys()
    if storage_keys:
        merged = {**row["config"], **(sealer.open_json(row["credentials"]) or {}), **given}
        changes["config"], credentials = _storage(row["kind"], SourceFields(**_fields(merged)), settings)
        _ensure_fs_path_free(conn, project_id, row["kind"], changes["config"], settings)
        changes["credentials"] = sealer.seal_json(credentials)
    for key in ("access", "signature", "cache_control", "presets_only"):
        if given.get(key) is not None:
            changes[key] = given[key]
    if given.get("signing_key") is not None:
        changes["signing_key"] = sealer.seal(given["signing_key"])
    if "hostnames" in given:
        _set_hostnames(conn, source_id, _check_hostnames(given["hostnames"] or [], settings))
    changes["updated_at"] = utcnow()
    conn.execute(update(sources).where(sources.c.id == source_id).values(**changes))
    return get_source(conn, project_id, source_id, sealer)


def get_source(conn: Connection, project_id: str, source_id: str, sealer: Sealer) -> dict:
    return source_view(conn, get_owned(conn, sources, project_id, source_id, "source"), sealer)


def list_sources(conn: Connection, project_id: str, page: Page, sealer: Sealer) -> dict:
    return list_page(conn, sources, project_id, page, lambda r: source_view(conn, r, sealer))


def delete_source(conn: Connection, project_id: str, source_id: str) -> dict:
    row = get_owned(conn, sources, project_id, source_id, "source")
    conn.execute(delete(source_hostnames).where(source_hostnames.c.source_id == source_id))
    conn.execute(delete(sources).where(sources.c.id == source_id))
    return {"id": row["id"], "deleted": True}


def source_view(conn: Connection, row, sealer: Sealer) -> dict:
    hostnames = conn.execute(
        select(source_hostnames.c.hostname)
        .where(source_hostnames.c.source_id == row["id"])
        .order_by(source_hostnames.c.hostname)
    ).scalars().all()
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        **row["config"],
        "has_credentials": row["credentials"] is not None,
        "access": row["access"],
        "signature": row["signature"],
        "signing_key": sealer.open(row["signing_key"]),
        "hostnames": list(hostnames),
        "cache_control": row["cache_control"],
        "presets_only": bool(row["presets_only"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def signed_url(conn: Connection, project_id: str, source_id: str, body: SignedUrlCreate, sealer: Sealer) -> dict:
    """A URL of the source's image that passes its signature check (any access mode).

    The parameters go through the same parser as a request would, so a URL that
    could only answer 400 is refused here; the query keeps their canonical form. A ``preset``
    comes first, as ``preset=NAME``: the signature covers the name, not the preset's values,
    so the URL keeps working (with the new values) when the preset is edited.
    """
    row = get_owned(conn, sources, project_id, source_id, "source")
    check_key(body.object_key, field="object_key")
    given = list(body.parameters.items())
    if row["presets_only"] and given:
        field = f"parameters.{given[0][0]}"
        raise InvalidParameter(f"{field} is not allowed: this source takes only presets (presets_only); "
                               "give preset alone", field=field)
    base = presets.preset_parameters(conn, project_id, body.preset, field="preset") if body.preset else {}
    try:
        params = parse(given)
        parse(with_preset(base, given))  # the merged set must be valid too
    except InvalidParameter as error:
        raise InvalidParameter(error.message, field=f"parameters.{error.field}") from None
    query = "&".join(q for q in (f"{PRESET}={quote(body.preset)}" if body.preset else "", params.canonical()) if q)
    path = f"/{row['name']}/{quote(body.object_key)}"
    url = sign_url(path, query, sealer.open(row["signing_key"]), row["signature"], body.expires)
    return {"url": url, "source_id": row["id"], "expires": body.expires}


def find_source(conn: Connection, name_or_id: str):
    """The source a public URL names (by name or id), whatever its project; None if none."""
    column = sources.c.id if is_id(name_or_id) else sources.c.name
    return conn.execute(select(sources).where(column == name_or_id)).mappings().first()


def find_source_by_host(conn: Connection, hostname: str):
    query = select(sources).join(source_hostnames, source_hostnames.c.source_id == sources.c.id)
    return conn.execute(query.where(source_hostnames.c.hostname == hostname.lower())).mappings().first()


def _fields(merged: dict) -> dict:
    return {k: v for k, v in merged.items() if k in storage_config.STORAGE_FIELDS}


def _storage(kind: str, body, settings: Settings) -> tuple[dict, dict | None]:
    values = {f: getattr(body, f, None) for f in storage_config.STORAGE_FIELDS}
    return storage_config.build(
        kind, values, fs_roots=settings.fs_roots, allow_private=settings.allow_private_networks,
        private_paths=settings.private_paths(),
    )


def _ensure_fs_path_free(conn: Connection, project_id: str, kind: str, config: dict, settings: Settings) -> None:
    if kind == "fs":
        fs_paths.ensure_path_is_free(conn, project_id, config["path"], settings.data_dir)


def _check_source_name(name: str) -> None:
    check_name(name)
    if name in RESERVED:
        raise fail(("name", f"{name!r} is reserved; reserved names: {', '.join(sorted(RESERVED))}"))
    if is_id(name):
        raise fail(("name", "a name cannot be 24 hex characters: it would read as a source id"))


def _ensure_name_free(conn: Connection, name: str) -> None:
    if conn.execute(select(sources.c.id).where(sources.c.name == name)).first():
        raise Conflict(f"the source name {name!r} is already used; names are unique across the installation",
                       field="name")


def service_hosts(settings: Settings) -> frozenset[str]:
    """The names this installation answers on itself (``localhost``, ``IMS_HOST``,
    ``IMS_PUBLIC_HOSTS``): no source may claim them, and the image route never
    routes them by hostname. IP literals and ``*.localhost`` are refused by
    ``is_service_host`` without being listed."""
    return frozenset({"localhost", settings.host.strip().lower().rstrip("."), *settings.public_hosts})


def is_service_host(host: str, own: frozenset[str]) -> bool:
    """True if ``host`` (lowercased, no port, no trailing dot) is one of ``own``, a
    ``*.localhost`` name or an IP literal in any spelling."""
    return host in own or host.endswith(".localhost") or is_ip_literal(host)


def is_ip_literal(host: str) -> bool:
    """True for every spelling a resolver or a browser reads as an IP address.

    IPv6 with or without brackets, dotted IPv4, and the forms ``inet_aton`` takes
    (``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``); and, like the WHATWG URL
    parser, any name whose last label is a number (``08.1`` is an invalid IPv4
    address to a browser, never a DNS name).
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:  # no DNS name has a colon; an IPv6 literal always does
        return True
    try:
        ipaddress.ip_address(bare)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(bare)
        return True
    except OSError:
        pass
    last = bare.rstrip(".").rsplit(".", 1)[-1]
    return last.isdigit() or bool(_HEX_NUMBER.fullmatch(last))


def _check_hostnames(hostnames: list[str], settings: Settings) -> list[str]:
    """Clean host names a source may claim; a 400 naming ``hostnames[i]`` and why otherwise.

    A hostname routes every request for that Host to the source, so the service's
    own hosts are never claimable (a tenant would otherwise take over
    ``http://127.0.0.1/default/…`` for everyone), and when
    ``IMS_SOURCE_HOSTNAME_SUFFIXES`` is set only subdomains of those suffixes are.
    """
    own = service_hosts(settings)
    suffixes = tuple(s.lstrip(".") for s in settings.source_hostname_suffixes)
    cleaned, problems = [], []
    for i, raw in enumerate(hostnames):
        host = raw.strip().lower().rstrip(".")
        field = f"hostnames[{i}]"
        if is_ip_literal(host):
            problems.append((field, f"{raw!r} is an IP address; a source can only claim a DNS host name"))
        elif host == "localhost" or host.endswith(".localhost"):
            problems.append((field, f"{raw!r} is a loopback name (localhost) and cannot be claimed"))
        elif host in own:
            problems.append((field, f"{raw!r} is a host of this ims installation itself "
                                    "(IMS_HOST or IMS_PUBLIC_HOSTS) and cannot be claimed by a source"))
        elif not HOSTNAME.fullmatch(host):
            problems.append((field, f"{raw!r} is not a valid host name"))
        elif suffixes and not any(host.endswith("." + s) for s in suffixes):
            problems.append((field, f"{raw!r} is not allowed: hostnames must be subdomains of "
                                    f"{', '.join(suffixes)} (IMS_SOURCE_HOSTNAME_SUFFIXES)"))
        cleaned.append(host)
    if problems:
        raise fail(*problems)
    if len(set(cleaned)) != len(cleaned):
        raise fail(("hostnames", "hostnames contains duplicates"))
    return cleaned


def _set_hostnames(conn: Connection, source_id: str, hostnames: list[str]) -> None:
    """Replace the source's hostnames; one claimed by any other source (any project) is a 409."""
    conn.execute(delete(source_hostnames).where(source_hostnames.c.source_id == source_id))
    for i, host in enumerate(hostnames):
        try:
            with conn.begin_nested():
                conn.execute(insert(source_hostnames).values(hostname=host, source_id=source_id))
        except IntegrityError:
            raise Conflict(f"the hostname {host!r} is already bound to another source; a hostname is bound "
                           "by at most one source in the installation", field=f"hostnames[{i}]") from None
