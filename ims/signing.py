"""URL and webhook signatures (SPEC §2 "Signature", §4 "Webhooks").

Pure functions; every comparison of a secret-derived value is constant-time
(``hmac.compare_digest``).

URL signatures
    ``s`` = lowercase hex HMAC-SHA256(key = signing key as UTF-8, message), or for
    ``imgix-md5`` sources md5(signing key + message), where message is
    ``path + "?" + query`` (or the path alone when the query is empty). ``path`` is
    the URL path as sent and ``query`` the query string as sent with ``s`` removed;
    no re-encoding or re-ordering happens anywhere, so the receiver signs exactly
    the bytes the signer signed. ``expires`` is an ordinary, signed parameter.

Webhook signatures
    ``x-ims-signature-256`` = ``sha256=`` + hex HMAC-SHA256(key = the whole secret
    string, ``whsec_`` included, message = body) — what the seed's Ruby receiver
    computes. ``webhook-signature`` = Standard Webhooks ``v1,`` + base64
    HMAC-SHA256(key = base64-decoded part after ``whsec_``, message =
    ``id.timestamp.body``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets as _secrets
from collections.abc import Sequence
from datetime import datetime, timezone
from urllib.parse import unquote_plus

import ims
from ims.errors import Forbidden, Gone, InvalidParameter, Unauthorized

SCHEMES = ("hmac-sha256", "imgix-md5")
WEBHOOK_SECRET_PREFIX = "whsec_"
_DIGITS = re.compile(r"[0-9]{1,15}")


# --- URL signatures -------------------------------------------------------------


def url_signature(path: str, query: str, key: str, scheme: str = "hmac-sha256") -> str:
    """The ``s`` value for ``path`` and ``query`` (both exactly as they appear in the URL)."""
    message = f"{path}?{query}" if query else path
    if scheme == "hmac-sha256":
        return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    if scheme == "imgix-md5":
        return hashlib.md5((key + message).encode()).hexdigest()
    raise ValueError(f"unknown signature scheme {scheme!r}; use one of {', '.join(SCHEMES)}")


def sign_url(
    path: str,
    query: str,
    key: str,
    scheme: str = "hmac-sha256",
    expires: int | None = None,
) -> str:
    """Return ``path?query[&expires=…]&s=…``; ``s`` goes last, ``expires`` is signed.

    A signature already in ``query`` is replaced (re-signing a signed URL works).
    """
    query, _ = strip_signature(query)
    if expires is not None:
        query = f"{query}&expires={int(expires)}" if query else f"expires={int(expires)}"
    s = url_signature(path, query, key, scheme)
    return f"{path}?{query}&s={s}" if query else f"{path}?s={s}"


def strip_signature(raw_query: str) -> tuple[str, str | None]:
    """Split ``raw_query`` into (the query without ``s``, the ``s`` value or None).

    The other parameters keep their order and their percent-encoding as sent.
    A parameter counts as ``s`` when its decoded name is ``s`` (so ``%73=`` is too).
    ``s`` given more than once is ambiguous and raises ``InvalidParameter`` (400).
    """
    kept: list[str] = []
    found: list[str] = []
    for part in raw_query.split("&") if raw_query else ():
        name, _, value = part.partition("=")
        if unquote_plus(name) == "s":
            found.append(value)
        else:
            kept.append(part)
    if len(found) > 1:
        raise InvalidParameter("s must appear only once in a signed URL", field="s")
    return "&".join(kept), (found[0] if found else None)


def check_url_signature(
    path: str,
    raw_query: str,
    key: str,
    scheme: str = "hmac-sha256",
    now: float | None = None,
) -> None:
    """Raise unless ``path?raw_query`` carries a valid, unexpired signature.

    Order matters: the signature is checked before ``expires`` is even parsed, so
    an unsigned request learns nothing about the URL. ``expires`` equal to ``now``
    is still valid; it is expired once it is strictly before ``now``.

    Raises Unauthorized (401, no ``s``), Forbidden (403, wrong ``s``),
    InvalidParameter (400, ``s`` repeated or ``expires`` not unix seconds),
    Gone (410, expired).
    """
    query, given = strip_signature(raw_query)
    if given is None:
        raise Unauthorized("this source requires a signed URL: add the s parameter", field="s")
    expected = url_signature(path, query, key, scheme)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise Forbidden("signature does not match", field="s")
    expires = _expires(query)
    if expires is not None:
        current = datetime.now(timezone.utc).timestamp() if now is None else now
        if expires < current:
            raise Gone(f"this signed URL expired at {_iso(expires)}", field="expires")


def _expires(query: str) -> int | None:
    values = [
        unquote_plus(value)
        for name, _, value in (part.partition("=") for part in query.split("&") if part)
        if unquote_plus(name) == "expires"
    ]
    if not values:
        return None
    if len(values) > 1 or not _DIGITS.fullmatch(values[0]):
        raise InvalidParameter(
            "expires must be given once, as an integer number of unix seconds", field="expires"
        )
    return int(values[0])


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- webhook signatures ---------------------------------------------------------


def new_webhook_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode()


def ims_signature_256(secret: str, body: bytes) -> str:
    """``x-ims-signature-256``: the key is the whole secret string, ``whsec_`` included."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks ``v1,`` signature of ``msg_id.timestamp.body``."""
    message = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(webhook_secret_bytes(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_secret_bytes(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64-decode the part after ``whsec_``.

    Missing padding is tolerated, as the reference ``standardwebhooks`` library does.
    """
    encoded = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def webhook_headers(
    secrets: Sequence[str],
    msg_id: str,
    timestamp: int,
    body: bytes,
    event: str,
) -> dict[str, str]:
    """Every signed header of one delivery attempt (SPEC §4).

    ``secrets[0]`` is the current secret; the others are still-valid old ones during
    a rotation. ``x-ims-signature-256`` can hold one signature only, so it uses the
    current secret; ``webhook-signature`` lists one ``v1,`` signature per secret.
    """
    if not secrets:
        raise ValueError("at least one webhook secret is needed to sign a delivery")
    return {
        "content-type": "application/json",
        "x-ims-signature-256": ims_signature_256(secrets[0], body),
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(
            standard_signature(secret, msg_id, timestamp, body) for secret in secrets
        ),
        "x-ims-event": event,
        "user-agent": f"ims-webhooks/{ims.__version__}",
    }
