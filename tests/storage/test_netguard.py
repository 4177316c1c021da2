"""netguard: forbidden addresses, URL checks at save time, and the connect-time guard."""

from __future__ import annotations

import datetime
import ssl

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ims.errors import ValidationFailed
from ims.netguard import (
    ForbiddenAddress,
    check_public_url,
    check_webhook_url,
    guarded_async_client,
    is_forbidden_ip,
    is_refused_ip,
    resolve_checked,
)
from tests.support.origin import HttpOrigin

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    ],
)
def test_forbidden_addresses(ip):
    assert is_forbidden_ip(ip)


@pytest.mark.parametrize("ip", ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses(ip):
    assert not is_forbidden_ip(ip)


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])
def test_loopback_addresses_pass_when_loopback_is_allowed(ip):
    assert is_refused_ip(ip, allow_loopback=False) and not is_refused_ip(ip, allow_loopback=True)


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "::", "fe80::1", "fc00::1",
           "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::7f00:1"],  # 6to4 and NAT64 of 127.0.0.1: not this machine
)
def test_allowing_loopback_allows_nothing_else(ip):
    assert is_refused_ip(ip, allow_loopback=True)


@pytest.mark.parametrize("url", ["http://localhost:9000/hooks", "http://127.0.0.1:9000/", "http://[::1]:9000/"])
def test_a_webhook_receiver_on_this_machine_in_development_mode(url):
    check_webhook_url(url, allow_private=False, allow_loopback=True, field="url")
    with pytest.raises(ValidationFailed, match=r"start the service with `ims serve --dev`") as e:
        check_webhook_url(url, allow_private=False, allow_loopback=False, field="url")
    assert e.value.field == "url"


def test_a_private_webhook_receiver_in_development_mode_is_refused_without_the_loopback_hint():
    with pytest.raises(ValidationFailed, match="IMS_ALLOW_PRIVATE_NETWORKS=1 to allow it$") as e:
        check_webhook_url("http://10.1.2.3/", allow_private=False, allow_loopback=True, field="webhook_url")
    assert e.value.field == "webhook_url"


async def test_connect_time_check_lets_loopback_through_only_when_allowed():
    assert "127.0.0.1" in await resolve_checked("127.0.0.1", 80, allow_private=False, allow_loopback=True)
    with pytest.raises(ForbiddenAddress):
        await resolve_checked("127.0.0.1", 80, allow_private=False)
    with pytest.raises(ForbiddenAddress):
        await resolve_checked("10.0.0.1", 80, allow_private=False, allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://localhost:8080/x", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/",
     "http://[::1]/", "http://[::ffff:127.0.0.1]/"],
)
def test_private_urls_refused(url):
    with pytest.raises(ValidationFailed, match="loopback, private, link-local or metadata") as e:
        check_public_url(url, allow_private=False, field="base_url")
    assert e.value.field == "base_url"
    assert "IMS_ALLOW_PRIVATE_NETWORKS" in e.value.message


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://localhost:8080/x", "http://[::1]/"])
def test_private_urls_allowed_when_configured(url):
    check_public_url(url, allow_private=True, field="url")


def test_public_ip_literal_accepted():
    check_public_url("https://93.184.215.14/images/", allow_private=False, field="url")


def test_unresolvable_host_refused_with_reason():
    with pytest.raises(ValidationFailed, match=r"host 'no-such-host\.invalid' does not resolve: \S+") as e:
        check_public_url("https://no-such-host.invalid/", allow_private=True, field="url")
    assert e.value.field == "url"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("example.com/images", "http:// or https://"),
        ("http:///nohost", "host name"),
        ("http://user:pw@93.184.215.14/", "user name or password"),
        ("http://93.184.215.14:99999/", "invalid port"),
    ],
)
def test_malformed_urls_refused(url, problem):
    with pytest.raises(ValidationFailed, match=problem):
        check_public_url(url, allow_private=True, field="url")


# --- the connect-time guard ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_guarded_client_refuses_loopback_at_connect(http_origin, host):
    url = f"http://{host}:{http_origin.port}/guard-refused"
    async with guarded_async_client(allow_private=False, timeout=5, follow_redirects=False) as client:
        with pytest.raises(ForbiddenAddress, match="resolves to (127.0.0.1|::1)"):
            await client.get(url)
    assert http_origin.requests_to("/guard-refused") == []


async def test_guarded_client_connects_when_private_allowed(http_origin):
    http_origin.route("/guard-ok", body=b"hello")
    async with guarded_async_client(allow_private=True, timeout=5, follow_redirects=False) as client:
        resp = await client.get(f"http://localhost:{http_origin.port}/guard-ok")
    assert resp.status_code == 200
    assert resp.text == "hello"
    # The Host header still names the host, not the address we connected to.
    assert http_origin.requests[-1][2]["Host"] == f"localhost:{http_origin.port}"


async def test_every_redirect_hop_is_checked_again(http_origin, monkeypatch):
    # Stand-in for "a public origin redirects to a private address": both servers
    # are on loopback, so only 127.0.0.2 counts as forbidden here.
    import ims.netguard

    monkeypatch.setattr(ims.netguard, "is_forbidden_ip", lambda ip: str(ip) == "127.0.0.2")
    target = HttpOrigin()
    target.host = "127.0.0.2"
    target.start()
    try:
        target.route("/inside", body=b"private data")
        http_origin.route("/hop", status=302, location=f"{target.url}/inside")
        async with guarded_async_client(allow_private=False, timeout=5, follow_redirects=True) as client:
            with pytest.raises(ForbiddenAddress, match="127.0.0.2"):
                await client.get(f"{http_origin.url}/hop")
        assert http_origin.requests_to("/hop") == ["GET"]
        assert target.requests_to("/inside") == []
    finally:
        target.stop()


def _tls_pair(tmp_path, name: str):
    """A CA and a server certificate for ``name``; returns (server context, CA file)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ims test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, str(ca_file)


@pytest.fixture
def tls_origin(tmp_path):
    def start(cert_name: str) -> tuple[HttpOrigin, str, list[str]]:
        server_ctx, ca_file = _tls_pair(tmp_path, cert_name)
        seen_sni: list[str] = []
        server_ctx.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
        origin = HttpOrigin(tmp_path / "www", ssl_context=server_ctx)
        (tmp_path / "www").mkdir()
        (tmp_path / "www" / "a.txt").write_text("over tls")
        started.append(origin.start())
        return origin, ca_file, seen_sni

    started: list[HttpOrigin] = []
    yield start
    for origin in started:
        origin.stop()


async def test_tls_verifies_the_host_name_while_connecting_to_the_checked_ip(tls_origin):
    origin, ca_file, seen_sni = tls_origin("localhost")
    verify = ssl.create_default_context(cafile=ca_file)

    async with guarded_async_client(allow_private=True, timeout=5, follow_redirects=False, verify=verify) as client:
        resp = await client.get(f"https://localhost:{origin.port}/a.txt")

    assert resp.text == "over tls"
    assert seen_sni == ["localhost"]


async def test_tls_refuses_a_certificate_for_another_name(tls_origin):
    origin, ca_file, seen_sni = tls_origin("other.example")
    verify = ssl.create_default_context(cafile=ca_file)

    async with guarded_async_client(allow_private=True, timeout=5, follow_redirects=False, verify=verify) as client:
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            await client.get(f"https://localhost:{origin.port}/a.txt")
    assert seen_sni == ["localhost"]
