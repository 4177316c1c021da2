"""Object keys: the one check every storage adapter runs before touching a key.

SPEC §3: no ``..`` segment, no leading ``/``, no NUL, not empty, at most 1024
bytes of UTF-8. On top of that we refuse what no backend can store the same way
(backslashes, control characters, empty or ``.`` segments, a trailing ``/``), so
a key means the same object on fs, S3 and HTTP.
"""

from __future__ import annotations

import functools

from ims.errors import ValidationFailed

MAX_KEY_BYTES = 1024

_ALLOWED = (
    "use 1-1024 bytes of UTF-8 text separated by '/', "
    "without '..', '.' or empty segments, a leading or trailing '/', backslashes "
    "or control characters"
)


def check_key(key: str, field: str = "object_key") -> str:
    """Return ``key`` unchanged if it is a safe object key, else raise ``ValidationFailed``."""
    # (only keys that could be valid are remembered: a refused 1 MB one held 1024 times would be a GB)
    problem = _known_problem(key) if type(key) is str and len(key) <= MAX_KEY_BYTES else _problem(key)
    if problem:
        raise ValidationFailed(f"{field} {problem}; {_ALLOWED}", field=field)
    return key


@functools.lru_cache(maxsize=1024)
def _known_problem(key: str) -> str | None:
    """``_problem``, remembered: an image request checks its key twice (the route, the storage)."""
    return _problem(key)


def _problem(key: object) -> str | None:
    if not isinstance(key, str):
        return "must be a string"
    if not key:
        return "is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"is {size} bytes long"
    if "\x00" in key:
        return "contains a NUL character"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        return "contains a control character"
    if "\\" in key:
        return "contains a backslash"
    if key.startswith("/"):
        return "starts with '/'"
    if key.endswith("/"):
        return "ends with '/'"
    segments = key.split("/")
    if ".." in segments:
        return "contains a '..' segment"
    if "." in segments:
        return "contains a '.' segment"
    if "" in segments:
        return "contains an empty segment ('//')"
    return None
