"""One delivery attempt: sign the stored body, POST it, and say what came back (SPEC §4).

``post`` never raises for anything the receiver or the network does: a timeout, a refused
or forbidden address, a redirect, a non-2xx are all the attempt's ``Outcome``, with the
first 4 KB of the answer as text any database column takes.
"""

from __future__ import annotations

import asyncio
import time

from ims.crypto import Sealer
from ims.db.types import utcnow
from ims.jsonsafe import printable
from ims.netguard import ForbiddenAddress
from ims.signing import webhook_headers
from ims.webhooks.delivery_queue import Claim, Outcome
from ims.webhooks.sender import ClosedEarly, ConnectFailed, ResolveFailed, Response, SendError, WebhookSender

EXCERPT_BYTES = 4096  # "first 4 KB of the response" (SPEC §4)
SEND_TIMEOUT = 15.0  # "success = any 2xx within 15 s"


def active_secrets(endpoint, sealer: Sealer, now=None) -> list[str]:
    """The secrets to sign with: the endpoint's current one first, then the previous one while it
    is valid (a rotation keeps it for 24 h, ``ims.manage.endpoints``)."""
    now = now or utcnow()
    secrets = [sealer.open(endpoint["secret"])]
    if (endpoint["previous_secret"] and endpoint["previous_secret_expires_at"]
            and endpoint["previous_secret_expires_at"] > now):
        secrets.append(sealer.open(endpoint["previous_secret"]))
    return secrets


async def post(client: WebhookSender, claim: Claim, timeout: float) -> Outcome:
    """POST the stored body bytes, signed with the claim's secrets; the whole exchange must answer
    within ``timeout``."""
    headers = webhook_headers(claim.secrets, claim.id, int(time.time()), claim.body, claim.event)
    started = time.monotonic()
    statuses: list[int] = []  # the sender adds the status as soon as it arrives
    response: Response | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(timeout):
            response = await client.post(claim.url, claim.body, headers, excerpt_bytes=EXCERPT_BYTES,
                                         on_status=statuses.append)
    except TimeoutError:
        # An answer whose status arrived in time counts; only its excerpt is cut short.
        if not statuses:
            error = f"timeout after {timeout:g} s"
    except ForbiddenAddress as e:
        error = f"refused at connect: {e}"
    except ResolveFailed as e:
        error = f"connection failed: {e}"
    except ConnectFailed as e:
        error = "connection refused" if e.refused else f"connection failed: {e}"
    except ClosedEarly as e:
        error = f"connection closed without a complete response: {e}"
    except SendError as e:
        error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    latency_ms = int((time.monotonic() - started) * 1000)
    status = statuses[0] if statuses else None
    if error is None:
        error = _status_error(status)
    excerpt = response.excerpt if response is not None else b""
    text = storable_text(excerpt.decode("utf-8", "replace")) if status is not None else None
    return Outcome(status, latency_ms, storable_text(error), text)


def storable_text(text: str | None) -> str | None:
    """Text any database column takes: PostgreSQL's text refuses NUL, and UTF-8 lone surrogates
    (a receiver answering with a NUL byte must not make its attempt unloggable, and so resent forever)."""
    if text is None:
        return None
    return printable(text.replace("\x00", "\ufffd"))


def _status_error(status: int | None) -> str | None:
    if status is None or 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"redirect not followed ({status})"
    return f"HTTP {status}"
