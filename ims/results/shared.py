"""The shared result store: renditions in an S3 bucket every node reads and writes
(``IMS_RESULT_STORE=s3://bucket/prefix``).

An entry is one object ``{prefix}/{variant[:2]}/{variant}`` holding the same record as the
local disk cache (``ims.cache.encode_record``: key, size and meta in a header, then the
body), written in one PUT — S3 makes an object visible whole or not at all — and checked
on every read (the header must name this key and the body's size), so a half-written or
foreign object is a miss, never an answer.

A store that fails makes renders slower, never failing: every error is logged and counted
(``ims_result_store{op, result="error"}``) and the request goes on as a miss (a read) or
without the store (a write). After a failure the store is left alone for ``REST_SECONDS``
(``result="skipped"``), and each call is bounded by ``STORE_SECONDS``, so a store that
hangs costs a request at most that once in a while, not on every request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from urllib.parse import urlsplit

from ims.cache import CachedResult, decode_record
from ims.config import Limits, SettingsError
from ims.errors import ImsError, ObjectNotFound
from ims.storage.s3 import S3Storage

log = logging.getLogger("ims.results")

STORE_SECONDS = 2.0       # one read or write of the store, at most
REST_SECONDS = 5.0        # after a failure the store is not used for this long
MAX_RECORD_BYTES = 512 * 2**20


def parse_store_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix`` (checked by ``ims.config``)."""
    parts = urlsplit(url)
    return parts.netloc, parts.path.strip("/")


class SharedStore:
    def __init__(self, url: str, *, endpoint_url: str | None, region: str | None,
                 access_key_id: str | None, secret_access_key: str | None, limits: Limits, counter) -> None:
        """``counter``: ``Metrics.result_store`` (labels op, result)."""
        bucket, prefix = parse_store_url(url)
        credentials = ({"access_key_id": access_key_id, "secret_access_key": secret_access_key}
                       if access_key_id and secret_access_key else None)
        try:
            # The operator's own bucket: no private-network guard (a local SeaweedFS or MinIO is normal).
            self._storage = S3Storage(bucket, prefix=prefix, endpoint_url=endpoint_url, region=region,
                                      credentials=credentials, allow_private=True,
                                      limits=replace(limits, fetch_seconds=STORE_SECONDS))
        except ImsError as error:
            raise SettingsError(f"IMS_RESULT_STORE_ENDPOINT_URL / IMS_RESULT_STORE: {error.message}") from None
        self.where = url
        self._count = counter
        self._resting_until = 0.0

    async def get(self, variant: str) -> CachedResult | None:
        if self._resting("get"):
            return None
        try:
            stored = await self._storage.get(_object_key(variant), max_bytes=MAX_RECORD_BYTES)
        except ObjectNotFound:
            self._count.labels("get", "miss").inc()
            return None
        except ImsError as error:
            self._failed("get", variant, error.message)
            return None
        result = decode_record(variant, stored.data)
        if result is None:  # not a whole record of this key: never served
            self._failed("get", variant, "the stored object is not a whole record of this rendition")
            return None
        self._count.labels("get", "hit").inc()
        return result

    async def put(self, variant: str, record: bytes) -> bool:
        """Store one record (``ims.cache.encode_record``); False if the store failed (logged)."""
        if self._resting("put"):
            return False
        try:
            await self._storage.put(_object_key(variant), record, "application/vnd.ims.rendition")
        except ImsError as error:
            self._failed("put", variant, error.message)
            return False
        self._count.labels("put", "stored").inc()
        return True

    def _resting(self, op: str) -> bool:
        if time.monotonic() < self._resting_until:
            self._count.labels(op, "skipped").inc()
            return True
        return False

    def _failed(self, op: str, variant: str, reason: str) -> None:
        self._count.labels(op, "error").inc()
        self._resting_until = time.monotonic() + REST_SECONDS
        log.warning("result store %s: %s of %s failed (%s); renders go on without it for %g s",
                    self.where, op, variant[:16], reason, REST_SECONDS)


def _object_key(variant: str) -> str:
    return f"{variant[:2]}/{variant}"
