"""Where ``mark`` and ``blend`` images come from: only the project's own sources.

    Overlays.resolve(source_id, params)     the objects the overlay values name, each with
                                            its source's storage; a 400 naming the parameter
                                            for anything else (no I/O but the source rows)
    Overlays.check(project, source, params) the same refusals before a job is queued
    locate(name, ref, main, sources, own)   pure: one reference → (source row, key)

A reference (``params.Overlay.ref``; its own parameters are already parsed) is, in order:

1. not a URL (``/logo.png``, ``logo.png``): a key of the same source;
2. an ``http``/``https`` URL whose host is a hostname bound to one of the project's sources:
   the path is that source's key;
3. a URL under one of the project's ``http`` sources' ``base_url``: the rest is its key;
4. a URL on one of this service's own hosts (``localhost``, ``IMS_HOST``, ``IMS_PUBLIC_HOSTS``,
   IP literals): ims's path form ``/<source name or id>/<key>``, for a source of the project.

Anything else (another host, another project's source, ``file:``/``data:`` — those are
refused by the parser already) is a 400. ims never fetches the URL as written: it reads the
object from the source's storage (an http source through its guarded client, as for the main
image), so no value can make ims reach a host that is not one of the project's sources.

An image from another source than the main image's must not open a way around that source's
access: it must be ``public``, or both sources ``private`` (the caller then holds the project's
API key). A ``signed`` source's objects are overlaid only on its own images (its signing key
signed the URL).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ims.errors import InvalidParameter, NotFound, ValidationFailed
from ims.params import Params, image_overlays
from ims.storage import Storage, check_key
from ims.storages import StorageRef, Storages

SourcesOf = Callable[[str], Awaitable[tuple[dict | None, list[dict]]]]


@dataclass(frozen=True)
class Target:
    """One overlay image to fetch: the parameter it came from, where it is, its own parameters."""

    role: str            # "mark" | "blend"
    source_id: str
    key: str
    storage: Storage
    params: Params


class Overlays:
    def __init__(self, sources_of: SourcesOf, storages: Storages, is_own_host: Callable[[str], bool]) -> None:
        """``sources_of(source_id)``: (that source, every source of its project, each with its
        ``hostnames``); ``is_own_host``: whether a host name is this service's own."""
        self._sources_of = sources_of
        self._storages = storages
        self._is_own_host = is_own_host

    async def resolve(self, source_id: str, params: Params) -> tuple[Target, ...]:
        wanted = image_overlays(params)
        if not wanted:
            return ()
        main, rows = await self._sources_of(source_id)
        if main is None:
            raise NotFound(f"the source {source_id!r} was deleted", field="source_id")
        targets = []
        for role, overlay in wanted.items():
            row, key = locate(role, overlay.ref, main, rows, self._is_own_host)
            targets.append(Target(role, row["id"], key, self._storages.get(StorageRef.of(row)), overlay.params))
        return tuple(targets)

    async def check(self, project_id: str, source_id: str, params: Params) -> None:
        """What ``resolve`` would refuse, found before a job is queued (a 400 naming the parameter).
        A source outside ``project_id`` is left to the caller's own check, its 404: nothing about
        another project's sources may show in the message."""
        wanted = image_overlays(params)
        if not wanted:
            return
        main, rows = await self._sources_of(source_id)
        if main is None or main["project_id"] != project_id:
            return
        for role, overlay in wanted.items():
            locate(role, overlay.ref, main, rows, self._is_own_host)


def locate(role: str, ref: str, main: dict, rows: list[dict], is_own_host: Callable[[str], bool]) -> tuple[dict, str]:
    """The (source row, key) ``ref`` names, or ``InvalidParameter`` naming ``role``."""
    url = urlsplit(ref)
    if not url.scheme:
        return main, _key(role, unquote(ref).lstrip("/"))
    host = (url.hostname or "").rstrip(".")
    if url.scheme.lower() not in ("http", "https") or not host or url.username is not None:
        raise _nowhere(role, host)
    path = unquote(url.path).lstrip("/")
    for row in rows:
        if host in row["hostnames"]:
            return _allowed(role, main, row), _key(role, path)
    for row in rows:
        if row["kind"] == "http":
            base = urlsplit(row["config"]["base_url"])
            prefix = base.path.rstrip("/") + "/"
            if (url.scheme.lower(), url.netloc.lower()) == (base.scheme.lower(), base.netloc.lower()) \
                    and url.path.startswith(prefix):
                return _allowed(role, main, row), _key(role, unquote(url.path[len(prefix):]))
    if is_own_host(host):
        name, _, key = path.partition("/")
        for row in rows:
            if name in (row["name"], row["id"]):
                return _allowed(role, main, row), _key(role, key)
        raise InvalidParameter(
            f"{role} names ims's path /{name}/…, but {name!r} is not a source of this project", field=role)
    raise _nowhere(role, host)


def _allowed(role: str, main: dict, row: dict) -> dict:
    if row["id"] == main["id"] or row["access"] == "public" or main["access"] == row["access"] == "private":
        return row
    raise InvalidParameter(
        f"{role} names an image of the {row['access']} source {row['name']!r}: an image from another "
        f"source must come from a public one (or both sources be private)", field=role)


def _key(role: str, key: str) -> str:
    try:
        return check_key(key, field=role)
    except ValidationFailed as error:
        raise InvalidParameter(error.message, field=role) from None


def _nowhere(role: str, host: str) -> InvalidParameter:
    return InvalidParameter(
        f"{role} must name an image of this project: a key of this source ({role}=/logo.png) or a URL "
        f"of one of its sources (on a hostname bound to one, under an http source's base URL, or ims's "
        f"own /<source>/<key>); {host or 'that URL'!r} is none of them", field=role)
