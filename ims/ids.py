"""24-hex ids shaped like a MongoDB ObjectId: 4-byte big-endian seconds + 8 random bytes."""

from __future__ import annotations

import re
import secrets
import time

_ID = re.compile(r"[0-9a-f]{24}")


def new_id(now: float | None = None) -> str:
    seconds = int(time.time() if now is None else now)
    return seconds.to_bytes(4, "big").hex() + secrets.token_bytes(8).hex()


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None
