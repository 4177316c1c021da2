"""A lean HTTP/1.1 client for webhook POSTs: h11 over asyncio streams.

Sending webhooks is the largest CPU cost on a worker's hot path, and httpx spends
about four times what h11 does on a small POST. This client does only what a webhook
needs: one POST, keep-alive connections per origin, no redirects (a 3xx is an answer),
no proxies, no environment settings, no cookies.

Every new connection passes the SSRF guard (``ims.netguard.resolve_checked``) and is
made to an address that was checked; over https the certificate is still verified
against, and SNI still names, the URL's host. Timeouts are the caller's
(``asyncio.timeout``); cancelling a POST closes the connection it was using.

Errors — ``ims.netguard.ForbiddenAddress`` comes through as it is, everything else is:

    SendError
     ├── InvalidURL       not an http:// or https:// URL with a host
     ├── ResolveFailed    the host name does not resolve
     ├── ConnectFailed    no checked address took the connection (``refused``: the OS said so)
     ├── ClosedEarly      the connection closed before the response was complete
     └── ProtocolError    the response is not valid HTTP/1.1
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import h11

from ims.netguard import os_reason, resolve_checked

USER_AGENT = "ims-webhooks"
DRAIN_BYTES = 64 * 1024  # past the excerpt, read at most this much more to keep the connection
READ_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]  # scheme, host, port


class SendError(Exception):
    """A webhook POST got no complete answer."""


class InvalidURL(SendError):
    """The URL is not an http:// or https:// URL with a host."""


class ResolveFailed(SendError):
    """The host name does not resolve."""


class ConnectFailed(SendError):
    """No checked address accepted the connection (or TLS failed)."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused  # every address answered "connection refused"


class ClosedEarly(SendError):
    """The connection closed (or was reset) before the response was complete."""


class ProtocolError(SendError):
    """The server's answer is not valid HTTP/1.1."""


@dataclass(frozen=True)
class Response:
    status: int
    excerpt: bytes  # the first ``excerpt_bytes`` of the body


class WebhookSender:
    """POSTs to webhook URLs over kept-alive HTTP/1.1 connections, refusing forbidden addresses.

    Belongs to the event loop it is first used in.
    """

    def __init__(self, allow_private: bool, *, allow_loopback: bool = False,
                 ssl_context: ssl.SSLContext | None = None,
                 max_idle_per_origin: int = 16, idle_seconds: float = 5.0) -> None:
        """``allow_loopback``: receivers on this machine may be reached (``ims serve --dev``)."""
        self.allow_private = allow_private
        self.allow_loopback = allow_loopback
        self.ssl_context = ssl_context  # made on first https use if not given: loading CAs costs
        self.max_idle_per_origin = max_idle_per_origin
        self.idle_seconds = idle_seconds
        self._idle: dict[Origin, list[_Connection]] = {}  # oldest first
        self._swept_at = time.monotonic()
        self._closed = False

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, excerpt_bytes: int,
                   on_status: Callable[[int], object] | None = None) -> Response:
        """POST ``body`` to ``url``; the status and the first ``excerpt_bytes`` of the answer.

        ``on_status`` is called with the status code as soon as it arrives, before the
        body is read, so a caller that gives up while the body is read still knows it.
        """
        origin, target = _parse(url)
        fields = {"host": _host_header(origin), "user-agent": USER_AGENT}
        fields |= {name.lower(): value for name, value in headers.items()}
        fields["content-length"] = str(len(body))
        request = h11.Request(method="POST", target=target, headers=list(fields.items()))
        self._sweep()
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return await self._exchange(origin, conn, request, body, excerpt_bytes, on_status)
            except ClosedEarly:
                if conn.got_bytes:
                    raise
                # The server closed the idle connection as we reused it: try once on a fresh one.
        conn = await self._connect(origin)
        return await self._exchange(origin, conn, request, body, excerpt_bytes, on_status)

    async def aclose(self) -> None:
        """Close the idle connections; connections in use are closed when their POST ends."""
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    async def _exchange(self, origin: Origin, conn: _Connection, request: h11.Request, body: bytes,
                        excerpt_bytes: int, on_status: Callable[[int], object] | None) -> Response:
        """One request on ``conn``; the connection goes back to the pool only after a clean answer."""
        reusable = False
        try:
            response, reusable = await conn.exchange(request, body, excerpt_bytes, on_status)
            return response
        except OSError as e:
            raise ClosedEarly(f"{_reason(e)} ({conn.progress()})") from e
        finally:  # also on cancellation: a half-used connection is never pooled
            if reusable and not self._closed:
                conn.idle_since = time.monotonic()
                idle = self._idle.setdefault(origin, [])
                idle.append(conn)
                while len(idle) > self.max_idle_per_origin:
                    idle.pop(0).close()
            else:
                conn.close()

    def _take_idle(self, origin: Origin) -> _Connection | None:
        """The most recently used idle connection that is still open, if any."""
        idle = self._idle.get(origin, [])
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.is_open() and now - conn.idle_since < self.idle_seconds:
                return conn
            conn.close()
        return None

    def _sweep(self) -> None:
        """At most once per ``idle_seconds``, close connections idle longer than that, in every origin."""
        now = time.monotonic()
        if now - self._swept_at < self.idle_seconds:
            return
        self._swept_at = now
        for origin, idle in list(self._idle.items()):
            while idle and now - idle[0].idle_since >= self.idle_seconds:
                idle.pop(0).close()
            if not idle:
                del self._idle[origin]

    async def _connect(self, origin: Origin) -> _Connection:
        """Resolve and check the host, then connect to the first checked address that answers."""
        scheme, host, port = origin
        try:
            addresses = await resolve_checked(host, port, allow_private=self.allow_private,
                                              allow_loopback=self.allow_loopback)
        except (socket.gaierror, UnicodeError) as e:
            raise ResolveFailed(f"{host} does not resolve: {getattr(e, 'strerror', None) or e}") from None
        tls = None
        if scheme == "https":
            if self.ssl_context is None:
                self.ssl_context = ssl.create_default_context()
            tls = self.ssl_context
        failures: list[str] = []
        all_refused = True
        for address in addresses:
            try:
                reader, writer = await asyncio.open_connection(
                    address, port, ssl=tls, server_hostname=host if tls else None)
                return _Connection(reader, writer)
            except OSError as e:
                failures.append(f"{address} port {port}: {_reason(e)}")
                all_refused = all_refused and isinstance(e, ConnectionRefusedError)
        if not failures:
            raise ConnectFailed(f"{host} has no addresses", refused=False)
        raise ConnectFailed("; ".join(failures), refused=all_refused)


class _Connection:
    """One HTTP/1.1 connection: asyncio streams and the h11 state machine that reads them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.got_bytes = False  # whether any byte of the current response arrived
        self.eof = False

    async def exchange(self, request: h11.Request, body: bytes, excerpt_bytes: int,
                       on_status: Callable[[int], object] | None) -> tuple[Response, bool]:
        """Send the request, read the answer; also whether the connection can be used again."""
        self.got_bytes = False
        self.writer.write(self.h11.send(request) + self.h11.send(h11.Data(data=body))
                          + self.h11.send(h11.EndOfMessage()))
        await self.writer.drain()
        event = await self._next_event()
        while isinstance(event, h11.InformationalResponse):  # 100 Continue and the like
            event = await self._next_event()
        status = event.status_code
        if on_status is not None:
            on_status(status)
        excerpt, skipped = bytearray(), 0
        while isinstance(event := await self._next_event(), h11.Data):
            kept = event.data[: excerpt_bytes - len(excerpt)]
            excerpt += kept
            skipped += len(event.data) - len(kept)
            if skipped > DRAIN_BYTES:  # reading the rest costs more than a new connection
                return Response(status, bytes(excerpt)), False
        # Not reusable if the server said "Connection: close" or spoke HTTP/1.0.
        reusable = self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE
        if reusable:
            self.h11.start_next_cycle()
        return Response(status, bytes(excerpt)), reusable

    async def _next_event(self):
        """The next h11 event of the response, reading from the socket as needed."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as e:
                if self.eof:
                    raise ClosedEarly(f"the server closed the connection ({self.progress()})") from None
                raise ProtocolError(f"invalid response: {e}") from None
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(READ_BYTES)
            self.got_bytes = self.got_bytes or bool(data)
            self.eof = not data
            self.h11.receive_data(data)

    def progress(self) -> str:
        return "after part of a response" if self.got_bytes else "before any response"

    def is_open(self) -> bool:
        """False once the server closed or reset the connection while it was idle."""
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.transport.abort()  # no goodbyes: the connection is either idle or broken


def _parse(url: str) -> tuple[Origin, str]:
    """The origin and the request target (path and query) of an http(s) URL."""
    try:
        parts = urlsplit(url)
        port, host = parts.port, parts.hostname
        if host and not host.isascii():
            host = host.encode("idna").decode("ascii")  # the Host header and TLS need the ASCII form
    except (ValueError, UnicodeError) as e:
        raise InvalidURL(f"{url!r}: {e}") from None
    if parts.scheme not in _DEFAULT_PORTS or not host:
        raise InvalidURL(f"{url!r} is not an http:// or https:// URL with a host")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Leaves existing %-escapes and reserved characters alone; escapes only what HTTP forbids.
    target = quote(target, safe="!#$%&'()*+,/:;=?@[]~")
    return (parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme]), target


def _host_header(origin: Origin) -> str:
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    return host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"


def _reason(error: OSError) -> str:
    # An SSL error's errno is OpenSSL's, not the OS's; its text says what went wrong.
    return str(error) if isinstance(error, ssl.SSLError) else os_reason(error)
