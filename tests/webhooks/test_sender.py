"""The webhook HTTP client against real servers on 127.0.0.1: pooling, answers, failures, TLS."""

from __future__ import annotations

import asyncio
import datetime
import re
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ims.netguard import ForbiddenAddress
from ims.webhooks.sender import (
    DRAIN_BYTES,
    ClosedEarly,
    ConnectFailed,
    InvalidURL,
    ProtocolError,
    ResolveFailed,
    WebhookSender,
)
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.anyio

BODY = '{"status_code": 200, "note": "café"}'.encode()


@pytest.fixture
async def sender():
    s = WebhookSender(allow_private=True)
    yield s
    await s.aclose()


async def post(sender: WebhookSender, url: str, *, excerpt_bytes: int = 4096, **headers: str):
    return await asyncio.wait_for(sender.post(url, BODY, headers, excerpt_bytes=excerpt_bytes), 10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- requests and keep-alive ------------------------------------------------------------------


async def test_the_request_is_a_plain_post_with_the_given_headers_and_exact_body(sender, receiver):
    response = await post(sender, receiver.url + "/hook/é?a=1&b=%2F", **{"webhook-id": "msg_1"})

    assert (response.status, response.excerpt) == (200, b"")
    [got] = receiver.requests
    assert (got.method, got.path, got.body) == ("POST", "/hook/%C3%A9?a=1&b=%2F", BODY)
    assert got.headers["host"] == receiver.url.removeprefix("http://")
    assert got.headers["content-length"] == str(len(BODY))
    assert got.headers["user-agent"] == "ims-webhooks"
    assert got.headers["webhook-id"] == "msg_1"


async def test_a_given_user_agent_replaces_the_default(sender, receiver):
    await post(sender, receiver.url, **{"User-Agent": "custom/1"})
    assert receiver.requests[0].headers["user-agent"] == "custom/1"


async def test_sequential_posts_reuse_one_connection(sender, receiver):
    for _ in range(3):
        assert (await post(sender, receiver.url)).status == 200
    assert len({r.peer for r in receiver.requests}) == 1


async def test_concurrent_posts_use_separate_connections_and_keep_at_most_max_idle(receiver):
    receiver.default = Reply(200, delay=0.2)
    sender = WebhookSender(allow_private=True, max_idle_per_origin=2)
    try:
        await asyncio.gather(*(post(sender, receiver.url) for _ in range(3)))
        first = {r.peer for r in receiver.requests}
        await asyncio.gather(*(post(sender, receiver.url) for _ in range(3)))
        second = {r.peer for r in receiver.requests[3:]}
    finally:
        await sender.aclose()
    assert len(first) == 3 and len(second) == 3
    assert len(first & second) == 2  # two kept idle and reused, one new connection


async def test_a_connection_idle_longer_than_idle_seconds_is_not_reused(receiver):
    sender = WebhookSender(allow_private=True, idle_seconds=0.1)
    try:
        await post(sender, receiver.url)
        await asyncio.sleep(0.2)  # the behaviour under test is the passing of time
        await post(sender, receiver.url)
    finally:
        await sender.aclose()
    first, second = receiver.requests
    assert first.peer != second.peer


async def test_server_closing_the_idle_connection_does_not_fail_the_next_post(sender, receiver):
    receiver.program(Reply(200, close_after=True), Reply(201, close_after=True), 202)

    assert (await post(sender, receiver.url)).status == 200
    await asyncio.sleep(0.1)  # the close has arrived: the pool sees it before reusing
    assert (await post(sender, receiver.url)).status == 201
    assert (await post(sender, receiver.url)).status == 202  # right after: may race with the close

    assert len(receiver.requests) == 3
    assert len({r.peer for r in receiver.requests}) == 3


async def test_a_reused_connection_closed_before_any_answer_is_retried_once_on_a_new_one(sender, receiver):
    receiver.program(200, Reply(close=True), 204)

    await post(sender, receiver.url)
    assert (await post(sender, receiver.url)).status == 204

    first, dropped, retried = receiver.requests
    assert first.peer == dropped.peer != retried.peer
    assert dropped.body == retried.body == BODY


async def test_the_retry_is_not_retried(sender, receiver):
    receiver.program(200, Reply(close=True), Reply(close=True), 204)

    await post(sender, receiver.url)
    with pytest.raises(ClosedEarly, match="before any response"):
        await post(sender, receiver.url)
    assert len(receiver.requests) == 3


async def test_connection_close_from_the_server_is_honoured(sender, receiver):
    receiver.program(Reply(200, headers={"Connection": "close"}), 200)
    await post(sender, receiver.url)
    await post(sender, receiver.url)
    first, second = receiver.requests
    assert first.peer != second.peer


# -- answers ------------------------------------------------------------------------------------


async def test_a_redirect_is_an_answer_and_is_not_followed(sender, receiver):
    receiver.program(Reply(302, location=receiver.url + "/new"))
    response = await post(sender, receiver.url + "/old")
    assert response.status == 302
    assert [r.path for r in receiver.requests] == ["/old"]


async def test_an_error_status_comes_with_the_first_bytes_of_its_body(sender, receiver):
    receiver.program(Reply(500, body=b"oops: " + b"x" * 100), 200)
    response = await post(sender, receiver.url, excerpt_bytes=10)
    assert (response.status, response.excerpt) == (500, b"oops: xxxx")
    await post(sender, receiver.url)  # the rest was read: the connection is reused
    first, second = receiver.requests
    assert first.peer == second.peer


async def test_a_body_beyond_the_drain_limit_is_not_read_and_its_connection_not_reused(sender, receiver):
    body = bytes(range(256)) * ((DRAIN_BYTES + 4096 + 100_000) // 256)
    receiver.program(Reply(200, body=body), 200)
    response = await post(sender, receiver.url)
    assert response.excerpt == body[:4096]
    await post(sender, receiver.url)
    first, second = receiver.requests
    assert first.peer != second.peer


async def test_a_chunked_body_is_read_across_chunks(sender, receiver):
    body = b"".join(b"%04d" % i for i in range(1000))  # 4000 bytes in four 1000-byte chunks
    receiver.program(Reply(500, body=body, chunked=True), 200)
    response = await post(sender, receiver.url, excerpt_bytes=2500)
    assert (response.status, response.excerpt) == (500, body[:2500])
    await post(sender, receiver.url)
    first, second = receiver.requests
    assert first.peer == second.peer


async def test_the_status_is_reported_before_the_body_arrives(sender):
    async with RawServer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc") as server:  # and then nothing
        statuses = []
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                sender.post(server.url, BODY, {}, excerpt_bytes=100, on_status=statuses.append), 0.3)
    assert statuses == [200]


# -- failures -------------------------------------------------------------------------------------


async def test_closing_without_an_answer_is_closed_early(sender, receiver):
    receiver.program(Reply(close=True))
    with pytest.raises(ClosedEarly, match="closed the connection \\(before any response\\)"):
        await post(sender, receiver.url)
    assert len(receiver.requests) == 1  # a new connection is not retried


async def test_closing_mid_answer_is_closed_early_and_never_retried(sender):
    async with RawServer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                         (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", "close")) as server:
        await post(sender, server.url)
        with pytest.raises(ClosedEarly, match="after part of a response"):
            await post(sender, server.url)
    assert (server.requests, server.connections) == (2, 1)


async def test_a_malformed_answer_is_a_protocol_error(sender):
    async with RawServer(b"HTTP/1.1 two hundred\r\n\r\n") as server:
        with pytest.raises(ProtocolError, match="invalid response"):
            await post(sender, server.url)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_forbidden_address_is_refused_before_connecting(receiver, host):
    sender = WebhookSender(allow_private=False)
    url = receiver.url.replace("127.0.0.1", host)
    with pytest.raises(ForbiddenAddress, match=r"resolves to (127\.0\.0\.1|::1), a loopback"):
        await post(sender, url)
    assert receiver.requests == []


async def test_an_unresolvable_host_says_so(sender):
    with pytest.raises(ResolveFailed, match=r"no-such-host\.invalid does not resolve: \S+"):
        await post(sender, "http://no-such-host.invalid/hook")


async def test_a_closed_port_is_connection_refused(sender):
    port = free_port()
    with pytest.raises(ConnectFailed, match=f"127.0.0.1 port {port}: Connection refused") as e:
        await post(sender, f"http://127.0.0.1:{port}/hook")
    assert e.value.refused


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///no-host", "http://example.com:99999/"])
async def test_an_invalid_url_is_refused(sender, url):
    with pytest.raises(InvalidURL):
        await post(sender, url)


async def test_cancelling_a_post_closes_its_connection(sender, receiver):
    receiver.program(200, Reply(500, body=b"late answer", delay=1.0), 201)
    await post(sender, receiver.url)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sender.post(receiver.url, BODY, {}, excerpt_bytes=100), 0.2)
    response = await post(sender, receiver.url)

    # Had the cancelled connection gone back to the pool, this would read the late 500.
    assert response.status == 201
    first, cancelled, after = receiver.requests
    assert first.peer == cancelled.peer != after.peer


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def tls_receiver(tmp_path):
    started = []

    def start(cert_name: str) -> tuple[Receiver, ssl.SSLContext, list[str]]:
        server_ctx, client_ctx = _tls_contexts(tmp_path, cert_name)
        seen_sni: list[str] = []
        server_ctx.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
        started.append(Receiver(ssl_context=server_ctx).start())
        return started[-1], client_ctx, seen_sni

    yield start
    for r in started:
        r.stop()


async def test_https_verifies_the_url_host_while_connecting_to_the_checked_ip(tls_receiver):
    receiver, client_ctx, seen_sni = tls_receiver("localhost")
    port = receiver.server.server_address[1]
    sender = WebhookSender(allow_private=True, ssl_context=client_ctx)
    try:
        for _ in range(2):
            assert (await post(sender, f"https://localhost:{port}/hook")).status == 200
    finally:
        await sender.aclose()
    assert seen_sni == ["localhost"]  # one handshake: the second post reused the connection
    first, second = receiver.requests
    assert first.peer == second.peer and first.peer[0] == "127.0.0.1"
    assert first.headers["host"] == f"localhost:{port}"


async def test_https_refuses_a_certificate_for_another_name(tls_receiver):
    receiver, client_ctx, seen_sni = tls_receiver("other.example")
    port = receiver.server.server_address[1]
    sender = WebhookSender(allow_private=True, ssl_context=client_ctx)
    with pytest.raises(ConnectFailed, match="certificate verify failed") as e:
        await post(sender, f"https://localhost:{port}/hook")
    assert not e.value.refused
    assert "localhost" in seen_sni and receiver.requests == []


def _tls_contexts(tmp_path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for ``name`` from a new CA; a client context trusting that CA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ims test CA")])

    def certificate(subject, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )

    ca = (
        certificate(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


# -- a server for answers a real one would not give -------------------------------------------------


class RawServer:
    """Reads each request, then sends the next scripted raw answer: bytes, or (bytes, "close")."""

    def __init__(self, *answers: bytes | tuple[bytes, str]) -> None:
        self.answers = [a if isinstance(a, tuple) else (a, "keep") for a in answers]
        self.requests = 0
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for writer in self._writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(int(re.search(rb"(?i)content-length: *(\d+)", head)[1]))
                self.requests += 1
                answer, then = self.answers.pop(0)
                writer.write(answer)
                await writer.drain()
                if then == "close":
                    return
            await reader.read()  # until the client closes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
