"""SSRF protection for every outbound HTTP request ims makes on a user's behalf.

Two checks, for http sources, S3 endpoints and webhook URLs:

* ``check_public_url`` — before the URL is saved (outside the write transaction):
  scheme, host, the host resolves, and (unless private networks are allowed) no
  address it resolves to is forbidden. ``check_url_form`` is its syntactic half,
  for inside the transaction.
* ``guarded_async_client`` — again at connect time, for every connection including
  each redirect hop, because DNS can answer differently later (DNS rebinding).
  The client resolves the host itself, refuses forbidden addresses with
  ``ForbiddenAddress`` and connects to the address it checked; TLS still verifies
  the certificate against (and sends SNI for) the host name of the URL.
  ``resolve_checked`` is that check on its own, for clients that are not httpx
  (``ims.webhooks.sender``).

``allow_private`` lets every address through (``IMS_ALLOW_PRIVATE_NETWORKS=1``);
``allow_loopback`` only this machine's own (127.0.0.0/8, ``::1`` and their IPv4-mapped
spelling): the development mode's webhook receivers (``ims serve --dev``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import typing
from urllib.parse import urlsplit

import httpcore
import httpx

from ims.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges that ``is_global`` does not already exclude on every supported Python.
_EXTRA_FORBIDDEN = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",  # carrier-grade NAT
        "169.254.169.254/32",  # cloud metadata
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "64:ff9b:1::/48",  # local-use NAT64
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class ForbiddenAddress(Exception):
    """A connection was refused because the host resolves to a forbidden address."""

    def __init__(self, host: str, address: str) -> None:
        self.host = host
        self.address = address
        super().__init__(
            f"{host} resolves to {address}, a loopback, private, link-local or reserved address"
        )


def is_loopback_ip(ip: str | IPAddress) -> bool:
    """True for this machine's own addresses: 127.0.0.0/8, ``::1``, ``::ffff:127.x.y.z``."""
    ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def is_refused_ip(ip: str | IPAddress, *, allow_loopback: bool) -> bool:
    """``is_forbidden_ip``, except for this machine's own addresses when ``allow_loopback``."""
    if allow_loopback and is_loopback_ip(ip):
        return False
    return is_forbidden_ip(ip)


def is_forbidden_ip(ip: str | IPAddress) -> bool:
    """True for addresses a user-supplied URL must not reach.

    Loopback, private, link-local (and so cloud metadata), unspecified, multicast,
    reserved, CGNAT, and IPv6 addresses that embed such an IPv4 address
    (IPv4-mapped, 6to4, NAT64).
    """
    ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64:
            # Well-known NAT64 prefix (DNS64 on IPv6-only hosts): judge the IPv4 inside.
            return is_forbidden_ip(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        embedded = ip.ipv4_mapped if ip.ipv4_mapped is not None else ip.sixtofour
        if embedded is not None and is_forbidden_ip(embedded):
            return True
        if ip.scope_id:
            return True
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip in net for net in _EXTRA_FORBIDDEN)
    )


def check_url_form(url: str, *, field: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL ims may save; ``ValidationFailed(field=field)`` if malformed.

    No name resolution: cheap enough for a write transaction. ``check_public_url``
    adds the address check and must run before the transaction starts.
    """
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https"):
        raise ValidationFailed(f"{field} must be an http:// or https:// URL", field=field)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValidationFailed(f"{field} has an invalid port", field=field) from None
    if not host:
        raise ValidationFailed(f"{field} must include a host name", field=field)
    if parts.username or parts.password:
        raise ValidationFailed(f"{field} must not contain a user name or password", field=field)
    return host, port or (443 if parts.scheme == "https" else 80)


def check_public_url(url: str, *, allow_private: bool, field: str, allow_loopback: bool = False,
                     loopback_hint: str = "") -> None:
    """Refuse, with ``ValidationFailed(field=field)``, a URL ims must not call.

    ``allow_loopback``: this machine's own addresses pass; ``loopback_hint`` is added to
    the message when a refused address is one (how this caller's allowance is switched on).

    Blocking (it resolves the host); call it from a thread in async code, and
    never inside a write transaction (a slow resolver would hold the write lock).
    Numeric spellings (``127.1``, ``2130706433``, ``[::ffff:7f00:1]``) are judged
    by the address getaddrinfo makes of them.
    """
    host, port = check_url_form(url, field=field)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise ValidationFailed(f"{field} host {host!r} does not resolve: {reason}", field=field) from None
    if allow_private:
        return
    for address in _addresses(infos):
        if is_refused_ip(address, allow_loopback=allow_loopback):
            hint = loopback_hint if loopback_hint and is_loopback_ip(address) else ""
            raise ValidationFailed(
                f"{field} host {host!r} resolves to {address}, a loopback, private, "
                f"link-local or metadata address; set IMS_ALLOW_PRIVATE_NETWORKS=1 to allow it{hint}",
                field=field,
            )


def check_webhook_url(url: str, *, allow_private: bool, allow_loopback: bool, field: str) -> None:
    """``check_public_url`` for a webhook receiver, which the development mode
    (``allow_loopback``) may put on this machine; a refused loopback one says how."""
    check_public_url(url, allow_private=allow_private, field=field, allow_loopback=allow_loopback,
                     loopback_hint="; or, for a receiver on this machine, start the service with "
                                   "`ims serve --dev` (what `make run` does)")


async def resolve_checked(host: str, port: int, *, allow_private: bool, allow_loopback: bool = False) -> list[str]:
    """The addresses to connect to for ``host``, in order, each one checked.

    Unless private networks are allowed, raises ``ForbiddenAddress`` if *any* address
    is forbidden (``allow_loopback``: loopback ones are not): the next connection
    might get another one of them. Lets
    ``socket.gaierror`` (or ``UnicodeError`` for a bad name) through if it does not resolve.
    Callers must connect to these addresses, not to the host name again.
    """
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = _addresses(infos)
    if not allow_private:
        for address in addresses:
            if is_refused_ip(address, allow_loopback=allow_loopback):
                raise ForbiddenAddress(host, address)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that checks addresses when it connects.

    It resolves the host, refuses the connection if any address is forbidden
    (unless private networks are allowed), then connects to the checked address.
    httpcore starts TLS with the URL's host name, so SNI and certificate checks are
    unaffected by connecting to an IP.
    """

    def __init__(self, *, allow_private: bool, inner: httpcore.AsyncNetworkBackend | None = None):
        self.allow_private = allow_private
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(
                resolve_checked(host, port, allow_private=self.allow_private), timeout
            )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (socket.gaierror, UnicodeError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise httpcore.ConnectError(f"{host} does not resolve: {reason}") from None
        error: Exception = httpcore.ConnectError(f"{host} has no addresses")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectTimeout as e:
                error = e
            except httpcore.ConnectError as e:
                error = httpcore.ConnectError(f"{address} port {port}: {os_reason(e)}")
        raise error

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ANN001
        raise ForbiddenAddress(path, "a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_async_client(
    *,
    allow_private: bool,
    timeout: float,
    follow_redirects: bool,
    max_redirects: int = 3,
    verify: typing.Any = True,
    **kw: typing.Any,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection goes through ``GuardedBackend``.

    Environment proxies are ignored (``trust_env=False``): a proxy would resolve
    the host for us and the address check would be meaningless.
    A refused connection raises ``ForbiddenAddress`` out of the request call.
    """
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
    # httpx has no public hook for the network backend; rebuild its pool with ours,
    # using the SSL context httpx made from ``verify``.
    ssl_context = transport._pool._ssl_context  # noqa: SLF001
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001
        ssl_context=ssl_context,
        max_connections=100,  # httpx's defaults
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow_private=allow_private),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        trust_env=False,
        **kw,
    )


def os_reason(error: BaseException) -> str:
    """The most specific OS message in an exception chain ("Connection refused")."""
    pending, seen = [error], set()
    while pending:
        e = pending.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno:
            return os.strerror(e.errno)
        pending += [c for c in (e.__cause__, e.__context__) if c is not None]
        pending += list(getattr(e, "exceptions", ()))
    return str(error) or type(error).__name__


def _addresses(infos: list) -> list[str]:
    """Unique addresses from getaddrinfo results, in order, scope ids dropped."""
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]).split("%", 1)[0], None)
    return list(seen)
