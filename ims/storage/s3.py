"""An S3 bucket (AWS or any S3-compatible endpoint) through obstore.

obstore reports most failures as text; ``_translate`` turns them into the error
tree: a missing object is ``ObjectNotFound``, a slow endpoint ``FetchTimeout``,
everything else ``StorageError`` with a short reason (the S3 error code when
there is one). Every call is bounded by ``limits.fetch_seconds`` including
obstore's own retries.

Private networks (SSRF). obstore's HTTP client (reqwest) resolves host names
itself, follows redirects, and offers no resolver or connect hook. So unless
private networks are allowed, the client goes through ``ims.egress`` (its
``proxy_url``): a proxy in this process that checks the addresses of every
connection, redirect hops included, and connects to the address it checked —
for https too (a CONNECT tunnel; TLS stays end to end). Before a call the
endpoint host is also checked here (again once the last check is
``RECHECK_SECONDS`` old), so a private endpoint fails with a clear
``StorageError`` before any request. With ``IMS_ALLOW_PRIVATE_NETWORKS=1``
nothing is checked and no proxy is used.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import PermissionDeniedError, UnauthenticatedError
from obstore.store import S3Store

from ims import egress
from ims.config import Limits
from ims.errors import FetchTimeout, ObjectNotFound, PayloadTooLarge, StorageError, ValidationFailed
from ims.netguard import ForbiddenAddress, resolve_checked
from ims.storage.base import ObjectInfo, StoredObject, not_found, too_large
from ims.storage.keys import check_key

DEFAULT_REGION = "us-east-1"
_CHUNK = 1024 * 1024
_S3_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")
_STATUS = re.compile(r"status code: (\d{3})")
_DENIED = {"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken"}
RECHECK_SECONDS = 5.0  # how long one address check of the endpoint host is trusted


def check_endpoint_url(url: str, field: str = "endpoint_url") -> str:
    """Return ``url`` if it is a usable S3 endpoint (``http(s)://host[:port][/]``)."""
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        port_ok = parts is not None and (parts.port or 1) > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValidationFailed(
            f"{field} must be an http:// or https:// URL with a host, e.g. https://s3.example.com",
            field=field,
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValidationFailed(
            f"{field} must be only scheme, host and port (no path, query or credentials)",
            field=field,
        )
    return url


class S3Storage:
    blocking_put = False

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        credentials: Mapping[str, str] | None = None,
        limits: Limits,
        allow_private: bool = False,
    ) -> None:
        """``allow_private``: let the endpoint host resolve to loopback/private/link-local
        addresses (``IMS_ALLOW_PRIVATE_NETWORKS``; a local MinIO or SeaweedFS needs it)."""
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix, field="prefix")
        self.limits = limits
        seconds = timedelta(seconds=limits.fetch_seconds)
        options: dict = {"region": region or DEFAULT_REGION}
        endpoint = check_endpoint_url(endpoint_url).rstrip("/") if endpoint_url else None
        if endpoint:
            options["endpoint"] = endpoint
            options["virtual_hosted_style_request"] = False
        if credentials:
            options["access_key_id"] = credentials["access_key_id"]
            options["secret_access_key"] = credentials["secret_access_key"]
        else:
            # Anonymous: never lend the server's own (env / instance-role) credentials
            # to a bucket a tenant named.
            options["skip_signature"] = True
        client_options = {
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
            "timeout": seconds,
            "connect_timeout": seconds,
        }
        retry = {"max_retries": 2, "retry_timeout": seconds}

        if not allow_private:
            # Every connection through the checking proxy (module docstring); a proxy from
            # the environment would resolve names for us, so none is ever used instead.
            client_options["proxy_url"] = egress.shared().url
        self.store = S3Store(bucket, client_options=client_options, retry_config=retry, **options)
        # The endpoint host to check before calls; None when nothing is checked (private
        # networks allowed, or AWS itself: without endpoint_url the host is AWS's).
        parts = urlsplit(endpoint) if endpoint and not allow_private else None
        self._host = parts.hostname if parts else None
        self._port = (parts.port or (443 if parts.scheme == "https" else 80)) if parts else 0
        self._checked_at = float("-inf")

    async def _client(self) -> S3Store:
        """The store, once the endpoint host is known not to resolve privately (module docstring)."""
        if self._host is None or time.monotonic() - self._checked_at < RECHECK_SECONDS:
            return self.store
        try:
            await resolve_checked(self._host, self._port, allow_private=False)
        except ForbiddenAddress as e:
            raise StorageError(
                f"the S3 endpoint host {self._host!r} of bucket {self.bucket!r} resolves to {e.address}, "
                "a loopback, private, link-local or reserved address; set IMS_ALLOW_PRIVATE_NETWORKS=1 to allow it"
            ) from None
        except (socket.gaierror, UnicodeError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise StorageError(f"the S3 endpoint host {self._host!r} does not resolve: {reason}") from None
        self._checked_at = time.monotonic()
        return self.store

    async def get(self, key: str, *, max_bytes: int) -> StoredObject:
        path = self._path(key)
        async with self._errors(key):
            result = await obstore.get_async(await self._client(), path)
            meta = result.meta
            if meta["size"] > max_bytes:
                raise PayloadTooLarge(too_large(max_bytes))
            data = bytearray()
            async for chunk in result.stream(min_chunk_size=min(_CHUNK, max_bytes + 1)):
                data += chunk
                if len(data) > max_bytes:
                    raise PayloadTooLarge(too_large(max_bytes))
        info = ObjectInfo(key, len(data), _etag(meta), result.attributes.get("Content-Type"))
        return StoredObject(info, bytes(data))

    async def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        async with self._errors(key):
            # A HEAD through get_async, because head_async does not return Content-Type.
            result = await obstore.get_async(await self._client(), path, options={"head": True})
        meta = result.meta
        return ObjectInfo(key, meta["size"], _etag(meta), result.attributes.get("Content-Type"))

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        path = self._path(key)
        async with self._errors(key):
            result = await obstore.put_async(
                await self._client(), path, data, attributes={"Content-Type": content_type}
            )
        etag = result.get("e_tag")
        if not etag:
            return await self.head(key)
        return ObjectInfo(key, len(data), etag, content_type)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        async with self._errors(key):
            store = await self._client()
            try:
                await obstore.delete_async(store, path)
            except FileNotFoundError:
                return

    async def check(self) -> None:
        """List one key: proves the endpoint answers, the bucket exists and we may read it."""
        try:
            async with self._errors(None):
                stream = obstore.list(await self._client(), prefix=self.prefix or None, chunk_size=1)
                async for _ in stream:
                    break
        except FetchTimeout:
            raise StorageError(
                f"bucket {self.bucket!r} did not answer within {self.limits.fetch_seconds:g} s"
            ) from None

    async def list_keys(self, prefix: str = "", *, limit: int, start_after: str | None = None) -> list[str]:
        """Up to ``limit`` keys starting with ``prefix`` (within the storage's own prefix) and after
        ``start_after``, in the bucket's listing order: one ListObjectsV2 walk from ``StartAfter``
        (obstore's ``offset``). AWS lists in string order; SeaweedFS folder by folder (``a/x.jpg``
        before ``a.jpg``) — either way a walk resumed after the last key misses nothing. obstore's
        ``prefix`` is a folder (it adds the ``/``), so the walk lists the folder ``prefix`` is in
        from just before it, keeps the keys that start with it, and stops at the first key past
        them (the keys sharing a prefix are together in either order)."""
        base = f"{self.prefix}/" if self.prefix else ""
        folder = prefix.rpartition("/")[0]
        inside = start_after is not None and start_after.startswith(prefix)
        offset = start_after if inside else _before(prefix)
        keys: list[str] = []
        async with self._errors(None):
            stream = obstore.list(await self._client(), prefix=(base + folder) or None,
                                  offset=(base + offset) if offset else None, chunk_size=min(max(limit, 1), 1000))
            async for chunk in stream:
                for meta in chunk:
                    key = meta["path"][len(base):]
                    if not key.startswith(prefix):
                        if inside:
                            return keys
                        continue
                    inside = True
                    keys.append(key)
                    if len(keys) >= limit:
                        return keys
        return keys

    async def aclose(self) -> None:
        return None

    def full_key(self, key: str) -> str:
        """The object's key in the bucket, the prefix included (what GetObject takes)."""
        return self._path(key)

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @asynccontextmanager
    async def _errors(self, key: str | None) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.limits.fetch_seconds):
                yield
        except TimeoutError:
            raise FetchTimeout(
                f"S3 took longer than {self.limits.fetch_seconds:g} s"
                + (f" for {key!r}" if key else "")
            ) from None
        except FileNotFoundError:
            if key is None:
                raise StorageError(f"bucket {self.bucket!r} does not exist") from None
            raise ObjectNotFound(not_found(key)) from None
        except ValueError as e:
            # obstore refuses some keys S3 would accept; check_key refuses most of them first.
            raise ValidationFailed(f"object_key {key!r} cannot be used with S3: {e}", field="object_key") from None
        except (PermissionDeniedError, UnauthenticatedError) as e:
            raise StorageError(self._describe(e, key, denied=True)) from None
        except obstore.exceptions.BaseError as e:
            if "timed out" in str(e).lower() or "operation timed out" in str(e).lower():
                raise FetchTimeout("S3 timed out" + (f" for {key!r}" if key else "")) from None
            raise StorageError(self._describe(e, key)) from None

    def _describe(self, e: Exception, key: str | None, *, denied: bool = False) -> str:
        text = str(e)
        code = _S3_CODE.search(text)
        status = _STATUS.search(text)
        code_name = code.group(1) if code else None
        where = f"bucket {self.bucket!r}"
        if code_name == "PrivateAddressRefused":  # ims.egress refused a connection (e.g. a redirect)
            message = re.search(r"<Message>([^<]*)</Message>", text)
            return f"S3 request of {where} refused: {message.group(1) if message else 'a private address'}"
        if code_name == "NoSuchBucket":
            return f"{where} does not exist"
        if denied or code_name in _DENIED or (status and status.group(1) in ("401", "403")):
            action = f"reading {key!r} in" if key else "listing"
            detail = f" ({code_name})" if code_name else ""
            return f"access denied {action} {where}{detail}"
        if code_name or status:
            return f"S3 error on {where}: {code_name or 'HTTP ' + status.group(1)}"
        if "connection refused" in text.lower() or "error sending request" in text.lower():
            return f"cannot connect to the S3 endpoint of {where}"
        return f"S3 error on {where}: {text.splitlines()[0][:200]}"


def _before(prefix: str) -> str | None:
    """A key just before every key that starts with ``prefix`` (None: from the start): ``prefix``
    without its last character, so a listing from there, after it, reaches ``prefix`` itself."""
    return prefix[:-1] or None


def _etag(meta: Mapping) -> str:
    return meta.get("e_tag") or f"{meta['last_modified'].isoformat()}|{meta['size']}"
