"""Verify a webhook delivery from ims, for receivers (SPEC §4).

    from ims.webhooks import verify, WebhookVerificationError
    verify(secret, raw_body, request.headers)   # raises WebhookVerificationError

ims signs every delivery twice: ``x-ims-signature-256`` (the seed's scheme: HMAC
of the body with the secret string, no timestamp) and the Standard Webhooks
headers ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature``.

The rule:

1. If any Standard Webhooks header is present, all three must be, the timestamp
   must be within ``tolerance`` seconds of now, and one of the space-separated
   ``v1,`` signatures must match. This alone decides: the timestamp is what stops
   a captured delivery from being replayed later, so a failure here is never
   rescued by the other header. ``x-ims-signature-256`` is *not* required to
   match as well, because during a secret rotation it is made with the new secret
   only, while ``webhook-signature`` carries one signature per valid secret — a
   receiver still holding the old secret must keep accepting deliveries.
2. Otherwise ``x-ims-signature-256`` must be present and match (the seed's check;
   it has no replay protection, like the seed's Ruby example).
3. With neither, the delivery is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping

from ims.signing import ims_signature_256, standard_signature

STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class WebhookVerificationError(Exception):
    """The delivery is not proven to come from ims; ``str(error)`` says why."""


def verify(
    secret: str,
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> None:
    """Return if ``body`` + ``headers`` were signed with ``secret``; raise otherwise.

    ``body`` must be the raw request body, byte for byte (not re-serialised JSON).
    ``headers`` is any mapping; names are matched case-insensitively.
    """
    if not secret:
        raise WebhookVerificationError("no webhook secret configured")
    raw = body.encode() if isinstance(body, str) else bytes(body)
    lower = {name.lower(): value for name, value in headers.items()}
    if any(name in lower for name in STANDARD_HEADERS):
        _verify_standard(secret, raw, lower, tolerance, time.time() if now is None else now)
    elif "x-ims-signature-256" in lower:
        expected = ims_signature_256(secret, raw)
        if not _same(expected, lower["x-ims-signature-256"].strip()):
            raise WebhookVerificationError("x-ims-signature-256 does not match the body")
    else:
        raise WebhookVerificationError(
            "no signature: expected webhook-signature or x-ims-signature-256 headers"
        )


def _verify_standard(
    secret: str, body: bytes, headers: dict[str, str], tolerance: int, now: float
) -> None:
    missing = [name for name in STANDARD_HEADERS if not headers.get(name)]
    if missing:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    msg_id = headers["webhook-id"]
    try:
        timestamp = int(headers["webhook-timestamp"].strip())
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not unix seconds") from None
    if timestamp < now - tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(now - timestamp)} s old (tolerance {tolerance} s)"
        )
    if timestamp > now + tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(timestamp - now)} s in the future (tolerance {tolerance} s)"
        )
    try:
        expected = _b64(standard_signature(secret, msg_id, timestamp, body).partition(",")[2])
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    for candidate in headers["webhook-signature"].split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = _b64(value)
        except ValueError:
            continue
        if hmac.compare_digest(expected, given):
            return
    raise WebhookVerificationError("no v1 signature in webhook-signature matches")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
