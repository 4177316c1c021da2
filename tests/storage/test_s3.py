"""s3 adapter specifics against a real SeaweedFS: prefix, endpoint checks, failures."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from ims.config import Limits
from ims.errors import FetchTimeout, ObjectNotFound, StorageError, ValidationFailed
from ims.storage import S3Storage, check_endpoint_url
from tests.storage.backends import s3_storage

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def bucket(seaweed):
    return seaweed.create_bucket("s3-" + uuid.uuid4().hex[:12])


async def test_prefix_is_joined_to_keys(seaweed, bucket):
    storage = s3_storage(seaweed, bucket, prefix="/tenant/a/")

    await storage.put("photos/x.jpg", b"jpeg", "image/jpeg")

    stored = seaweed.client().get_object(Bucket=bucket, Key="tenant/a/photos/x.jpg")
    assert stored["Body"].read() == b"jpeg"
    assert stored["ContentType"] == "image/jpeg"
    assert (await storage.get("photos/x.jpg", max_bytes=10)).info.key == "photos/x.jpg"


async def test_without_prefix_keys_are_bucket_keys(seaweed, bucket):
    seaweed.client().put_object(Bucket=bucket, Key="root-level.png", Body=b"png", ContentType="image/png")
    storage = s3_storage(seaweed, bucket)

    got = await storage.get("root-level.png", max_bytes=10)

    assert got.data == b"png"
    assert got.info.content_type == "image/png"
    assert got.info.version == seaweed.client().head_object(Bucket=bucket, Key="root-level.png")["ETag"]


async def test_prefix_confines_reads(seaweed, bucket):
    seaweed.client().put_object(Bucket=bucket, Key="outside.png", Body=b"png")
    storage = s3_storage(seaweed, bucket, prefix="inside")

    with pytest.raises(ObjectNotFound):
        await storage.get("outside.png", max_bytes=10)


def test_unsafe_prefix_refused(seaweed, bucket):
    with pytest.raises(ValidationFailed) as e:
        s3_storage(seaweed, bucket, prefix="a/../b")
    assert e.value.field == "prefix"


async def test_wrong_secret_is_access_denied(seaweed, bucket):
    creds = {"access_key_id": seaweed.access_key, "secret_access_key": "not-the-secret"}
    storage = s3_storage(seaweed, bucket, credentials=creds)

    with pytest.raises(StorageError, match=f"access denied reading 'k.png' in bucket '{bucket}'"):
        await storage.get("k.png", max_bytes=10)
    with pytest.raises(StorageError, match="access denied"):
        await storage.put("k.png", b"x", "image/png")


async def test_anonymous_access_to_a_private_bucket_is_denied(seaweed, bucket):
    seaweed.client().put_object(Bucket=bucket, Key="private.png", Body=b"png")
    storage = S3Storage(bucket, endpoint_url=seaweed.endpoint_url, credentials=None, limits=Limits(),
                        allow_private=True)

    with pytest.raises(StorageError, match="access denied"):
        await storage.get("private.png", max_bytes=10)


async def test_unreachable_endpoint_is_a_storage_error_quickly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    storage = S3Storage("b-bucket", endpoint_url=f"http://127.0.0.1:{port}", credentials=None,
                        limits=Limits(fetch_seconds=3), allow_private=True)
    started = time.monotonic()

    with pytest.raises(StorageError, match="cannot connect to the S3 endpoint of bucket 'b-bucket'"):
        await storage.check()

    assert time.monotonic() - started < 3


@pytest.fixture
def blackhole():
    """An endpoint that accepts TCP connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_silent_endpoint_is_a_fetch_timeout(blackhole):
    storage = S3Storage("slow-bucket", endpoint_url=blackhole, credentials=None, limits=Limits(fetch_seconds=0.5),
                        allow_private=True)
    started = time.monotonic()

    with pytest.raises(FetchTimeout, match="0.5 s"):
        await storage.get("a.png", max_bytes=10)
    with pytest.raises(FetchTimeout):
        await storage.head("a.png")
    with pytest.raises(StorageError, match="bucket 'slow-bucket' did not answer within 0.5 s"):
        await storage.check()

    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "url", ["https://s3.example.com", "http://127.0.0.1:8333", "http://127.0.0.1:8333/", "https://[::1]:9000"]
)
def test_endpoint_urls_accepted(url):
    assert check_endpoint_url(url) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("s3.example.com", "http:// or https://"),
        ("ftp://s3.example.com", "http:// or https://"),
        ("http://", "with a host"),
        ("http://host:notaport", "http:// or https://"),
        ("https://s3.example.com/bucket", "no path"),
        ("https://key:secret@s3.example.com", "credentials"),
    ],
)
def test_endpoint_urls_refused(url, problem):
    with pytest.raises(ValidationFailed, match=problem) as e:
        check_endpoint_url(url, field="endpoint_url")
    assert e.value.field == "endpoint_url"


# --- the private-network guard at connect time (issue 9 item 5) ------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_private_endpoint_is_refused_at_connect_time(seaweed, bucket, host):
    """Whatever was saved, every call checks the endpoint host when private networks are refused."""
    endpoint = seaweed.endpoint_url.replace("127.0.0.1", host)
    storage = S3Storage(bucket, endpoint_url=endpoint, credentials=seaweed.credentials, limits=Limits(),
                        allow_private=False)
    seaweed.client().put_object(Bucket=bucket, Key="guarded.png", Body=b"png")

    calls = [storage.get("guarded.png", max_bytes=10), storage.head("guarded.png"),
             storage.put("guarded-put.png", b"x", "image/png"), storage.delete("guarded.png"), storage.check()]
    for call in calls:
        with pytest.raises(StorageError, match="resolves to .*private.*IMS_ALLOW_PRIVATE_NETWORKS=1"):
            await call

    keys = [o["Key"] for o in seaweed.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "guarded.png" in keys and "guarded-put.png" not in keys


@pytest.fixture
def fake_dns(monkeypatch):
    """Offline there is no public DNS: ``s3.example.test`` resolves to whatever the test says,
    and only 127.0.0.1 counts as public (a stand-in for a public S3 endpoint)."""
    from ims import netguard
    from ims.storage import s3

    answers = {"s3.example.test": "127.0.0.1"}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kw):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(netguard, "is_forbidden_ip", lambda ip: str(ip) != "127.0.0.1")
    monkeypatch.setattr(s3, "RECHECK_SECONDS", 0.0)  # check before every call
    return answers


async def test_every_connection_goes_to_an_address_that_was_checked(seaweed, bucket, fake_dns):
    """reqwest never resolves s3.example.test itself (it could not: only our patched resolver
    knows it): the checking proxy does, and connects to the checked address; a later private
    answer is refused."""
    port = seaweed.endpoint_url.rsplit(":", 1)[1]
    storage = S3Storage(bucket, endpoint_url=f"http://s3.example.test:{port}", credentials=seaweed.credentials,
                        limits=Limits(), allow_private=False)

    await storage.put("proxied.png", b"png", "image/png")
    assert (await storage.get("proxied.png", max_bytes=10)).data == b"png"
    assert (await storage.head("proxied.png")).size == 3
    await storage.check()

    fake_dns["s3.example.test"] = "10.0.0.1"  # the name now points inside (DNS rebinding)
    with pytest.raises(StorageError, match="'s3.example.test' of bucket .* resolves to 10.0.0.1"):
        await storage.get("proxied.png", max_bytes=10)


async def test_a_redirect_to_a_private_address_is_not_followed(fake_dns):
    """obstore follows redirects: a public endpoint answering 302 to an internal server must
    not make ims fetch (and serve) the internal bytes. (Only 127.0.0.1 counts as public
    here, so the internal address is 127.0.0.2: the checking proxy must refuse it.)"""
    from tests.support.receiver import Receiver, Reply

    internal = Receiver(default=Reply(200, body=b"internal secret")).start()
    port = internal.url.rsplit(":", 1)[1]
    front = Receiver(default=Reply(302, location=f"http://127.0.0.2:{port}/b/x.png")).start()
    try:
        endpoint = front.url.replace("127.0.0.1", "s3.example.test")
        storage = S3Storage("b", endpoint_url=endpoint, limits=Limits(fetch_seconds=5), allow_private=False)

        with pytest.raises(StorageError, match="refused: 127.0.0.2 resolves to 127.0.0.2, a loopback"):
            await storage.get("x.png", max_bytes=100)

        assert front.requests and internal.requests == []
    finally:
        front.stop()
        internal.stop()
