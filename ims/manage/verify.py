"""``?verify=1``: try the storage a source or destination body describes before saving it.

The route has run ``storage_config.precheck`` on the body first; the storage's own
connect-time guard (http and s3 alike) checks the addresses again when it connects.
"""

from __future__ import annotations

import asyncio

from ims.config import Settings
from ims.errors import ImsError, ValidationFailed
from ims.manage import storage_config
from ims.storage import open_storage

MAIN_FIELD = {"fs": "path", "s3": "bucket", "http": "base_url"}


async def verify_storage(settings: Settings, kind: str, body) -> None:
    values = {f: getattr(body, f, None) for f in storage_config.STORAGE_FIELDS}
    extra = frozenset({"bucket"}) if kind == "fs" and values.get("bucket") else frozenset()
    config, credentials = await asyncio.to_thread(  # fs paths touch the disk
        storage_config.build, kind, values, fs_roots=settings.fs_roots,
        allow_private=settings.allow_private_networks, extra_allowed=extra,
    )
    storage = open_storage(
        kind, config, credentials, limits=settings.limits, allow_private_networks=settings.allow_private_networks
    )
    try:
        await storage.check()
    except ImsError as error:
        raise ValidationFailed(f"verify failed: {error.message}", field=MAIN_FIELD[kind]) from None
    finally:
        await storage.aclose()
