"""A forward proxy on 127.0.0.1 that checks every address before it connects (SSRF).

For HTTP clients ims cannot hook, obstore's (reqwest) above all: reqwest resolves
host names itself and follows redirects, so checking the endpoint before a call is
not enough — a redirect or a changed DNS answer could still reach a private
address. Pointed at this proxy (``proxy_url``), every connection the client makes,
each redirect hop included, goes through ``netguard.resolve_checked`` here, and the
proxy connects to the address it checked:

* ``CONNECT host:port`` (https): checked, then a plain byte tunnel — TLS stays
  end to end between the client and the server, certificate checked for the name.
* ``GET http://host:port/… HTTP/1.1`` (plain http): checked, the request line is
  sent on in origin form, then bytes are piped. Later requests on the same client
  connection go to the same checked upstream.

A refused destination gets ``403`` with an S3-style ``PrivateAddressRefused`` body.
The proxy always refuses private addresses: clients that may reach them
(``IMS_ALLOW_PRIVATE_NETWORKS=1``) simply do not use it. One proxy serves the whole
process, on a thread of its own, started on first use (``shared``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from urllib.parse import urlsplit

from ims.netguard import ForbiddenAddress, resolve_checked

CONNECT_SECONDS = 10.0
_HEAD_LIMIT = 64 * 1024
_DROP = ("proxy-connection", "proxy-authorization")

_lock = threading.Lock()
_shared: EgressProxy | None = None


def shared() -> EgressProxy:
    """The process's proxy, started on first use (a daemon thread; it lives as long as the process).
    A forked child gets its own: the parent's thread does not exist there."""
    global _shared
    with _lock:
        if _shared is None or _shared.pid != os.getpid():
            _shared = EgressProxy()
        return _shared


class EgressProxy:
    """The proxy itself, listening on an ephemeral port of 127.0.0.1 (``url``)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="ims-egress-proxy", daemon=True).start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result()
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_SECONDS)
            if len(head) > _HEAD_LIMIT:
                return
            line, *headers = head[:-4].decode("latin-1").split("\r\n")
            method, target, version = line.split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                host = host.strip("[]")
                first = b""
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    await _answer(writer, 400, "BadProxyRequest", f"not an absolute http URL: {target[:100]}")
                    return
                host, port = parts.hostname, str(parts.port or 80)
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                kept = [h for h in headers if h.split(":", 1)[0].strip().lower() not in _DROP]
                first = "\r\n".join([f"{method} {path} {version}", *kept, "", ""]).encode("latin-1")
            try:
                upstream = await _open_checked(host, int(port))
            except ForbiddenAddress as e:
                await _answer(writer, 403, "PrivateAddressRefused", str(e) +
                              "; set IMS_ALLOW_PRIVATE_NETWORKS=1 to allow it")
                return
            except (OSError, ValueError, TimeoutError, UnicodeError) as e:
                await _answer(writer, 502, "ConnectFailed", f"cannot connect to {host}:{port}: {e}")
                return
            up_reader, up_writer = upstream
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                up_writer.write(first)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError, OSError):
            pass
        finally:
            for w in (writer, upstream[1] if upstream else None):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()


async def _open_checked(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the first reachable checked address of ``host`` (ForbiddenAddress if any is private)."""
    async with asyncio.timeout(CONNECT_SECONDS):
        try:
            addresses = await resolve_checked(host, port, allow_private=False)
        except socket.gaierror as e:
            raise OSError(f"{host} does not resolve: {e.strerror or e}") from None
        error: OSError = OSError(f"{host} has no addresses")
        for address in addresses:
            try:
                return await asyncio.open_connection(address, port)
            except OSError as e:
                error = e
        raise error


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _answer(writer: asyncio.StreamWriter, status: int, code: str, message: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    body = f"<Error><Code>{code}</Code><Message>{_xml(message)}</Message></Error>".encode()
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n"
                 "Connection: close\r\n\r\n".encode() + body)
    with contextlib.suppress(Exception):
        await writer.drain()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
