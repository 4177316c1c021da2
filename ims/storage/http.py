"""A read-only "web folder": objects are fetched from ``base_url + "/" + quoted key``.

Every connection, including each of at most three redirects, goes through the
network guard, so an origin whose name starts resolving to a private address is
refused at connect time. Reads are bounded twice: the whole request must finish
within ``limits.fetch_seconds`` (a slow trickle cannot hold a worker), and at most
``max_bytes + 1`` bytes are read.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar
from urllib.parse import quote

import httpx

from ims import __version__
from ims.config import Limits
from ims.errors import FetchTimeout, ObjectNotFound, PayloadTooLarge, StorageError
from ims.netguard import ForbiddenAddress, guarded_async_client
from ims.storage.base import ObjectInfo, StoredObject, not_found, too_large
from ims.storage.keys import check_key

T = TypeVar("T")

MAX_REDIRECTS = 3
_CONTENT_RANGE_TOTAL = re.compile(r"/\s*(\d+)\s*$")


class HttpStorage:
    blocking_put = False

    def __init__(self, base_url: str, *, limits: Limits, allow_private: bool) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self.allow_private = allow_private
        self._client: httpx.AsyncClient | None = None

    async def get(self, key: str, *, max_bytes: int) -> StoredObject:
        async with self._guard(key):
            return await _again_if_stale(lambda: self._get(key, max_bytes))

    async def _get(self, key: str, max_bytes: int) -> StoredObject:
        async with self._http.stream("GET", self._url(key)) as resp:
            _raise_for_status(resp, key)
            declared = _content_length(resp)
            if declared is not None and declared > max_bytes:
                raise PayloadTooLarge(too_large(max_bytes))
            data = bytearray()
            async for chunk in resp.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise PayloadTooLarge(too_large(max_bytes))
        data = bytes(data)
        version = _version(resp, len(data)) or "sha256:" + hashlib.sha256(data).hexdigest()
        return StoredObject(ObjectInfo(key, len(data), version, _content_type(resp)), data)

    async def head(self, key: str) -> ObjectInfo:
        async with self._guard(key):
            resp = await _again_if_stale(lambda: self._head(key))
        size = _total_size(resp)
        version = _version(resp, size) if size is not None else None
        if version is None:
            # Nothing to tell versions apart without reading the object: hash it.
            return (await self.get(key, max_bytes=self.limits.source_bytes)).info
        return ObjectInfo(key, size, version, _content_type(resp))

    async def _head(self, key: str) -> httpx.Response:
        url = self._url(key)
        resp = await self._http.head(url)
        if resp.status_code in (405, 501):
            # No HEAD support: ask for one byte and read the size from Content-Range.
            async with self._http.stream("GET", url, headers={"Range": "bytes=0-0"}) as resp:
                pass
        _raise_for_status(resp, key)
        return resp

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        check_key(key)
        raise StorageError("http sources are read-only")

    async def delete(self, key: str) -> None:
        check_key(key)
        raise StorageError("http sources are read-only")

    async def check(self) -> None:
        """The base URL answers with any status below 500."""
        try:
            async with self._guard(None), self._http.stream("GET", self.base_url + "/") as resp:
                status = resp.status_code
        except FetchTimeout:
            raise StorageError(
                f"{self.base_url} did not answer within {self.limits.fetch_seconds:g} s"
            ) from None
        if status >= 500:
            raise StorageError(f"{self.base_url} answered {status}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = guarded_async_client(
                allow_private=self.allow_private,
                timeout=self.limits.fetch_seconds,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                # Compressed transfer would let a small response expand past max_bytes
                # before we can count it.
                headers={"User-Agent": f"ims/{__version__}", "Accept-Encoding": "identity"},
            )
        return self._client

    def _url(self, key: str) -> str:
        return f"{self.base_url}/{quote(check_key(key), safe='/')}"

    @asynccontextmanager
    async def _guard(self, key: str | None) -> AsyncIterator[None]:
        """Bound the whole exchange by the fetch deadline and map transport errors."""
        what = f"fetching {key!r} from {self.base_url}" if key else f"connecting to {self.base_url}"
        try:
            async with asyncio.timeout(self.limits.fetch_seconds):
                yield
        except (TimeoutError, httpx.TimeoutException):
            raise FetchTimeout(
                f"The origin took longer than {self.limits.fetch_seconds:g} s ({what})"
            ) from None
        except ForbiddenAddress as e:
            raise StorageError(
                f"Refused {what}: {e.host} resolves to a private address ({e.address}); "
                "set IMS_ALLOW_PRIVATE_NETWORKS=1 to allow it"
            ) from None
        except httpx.TooManyRedirects:
            raise StorageError(f"Too many redirects (more than {MAX_REDIRECTS}) {what}") from None
        except httpx.HTTPError as e:
            raise StorageError(f"Failed {what}: {_reason(e)}") from None


async def _again_if_stale(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, once more if the origin dropped the connection before answering: a keep-alive
    connection it closed while the connection sat idle in the pool fails the next request that way
    (httpx does not retry it). GET and HEAD are idempotent; a second drop is the origin's error.
    (The caller's guard bounds both tries by the one fetch deadline.)"""
    try:
        return await call()
    except httpx.RemoteProtocolError:
        return await call()


def _raise_for_status(resp: httpx.Response, key: str) -> None:
    status = resp.status_code
    if status in (200, 203, 206):
        return
    if status in (404, 410):
        raise ObjectNotFound(not_found(key))
    if status in (401, 403):
        raise StorageError(f"Access denied: the origin answered {status} for {key!r}")
    raise StorageError(f"The origin answered {status} for {key!r}")


def _content_length(resp: httpx.Response) -> int | None:
    raw = resp.headers.get("content-length")
    return int(raw) if raw and raw.strip().isdigit() else None


def _total_size(resp: httpx.Response) -> int | None:
    if resp.status_code == 206:
        match = _CONTENT_RANGE_TOTAL.search(resp.headers.get("content-range", ""))
        return int(match.group(1)) if match else None
    return _content_length(resp)


def _version(resp: httpx.Response, size: int) -> str | None:
    if etag := resp.headers.get("etag"):
        return etag
    if modified := resp.headers.get("last-modified"):
        return f"{modified}|{size}"
    return None


def _content_type(resp: httpx.Response) -> str | None:
    raw = resp.headers.get("content-type", "")
    return raw.split(";", 1)[0].strip().lower() or None


def _reason(e: httpx.HTTPError) -> str:
    text = str(e) or type(e).__name__
    return text.splitlines()[0][:200]
