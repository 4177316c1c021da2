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
    storage = S3Storage(bucket, endpoint_url=seaweed.endpoint_url, credentials=None, limits=Limits())

    with pytest.raises(StorageError, match="access denied"):
        await storage.get("private.png", max_bytes=10)


async def test_unreachable_endpoint_is_a_storage_error_quickly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    storage = S3Storage("b-bucket", endpoint_url=f"http://127.0.0.1:{port}", credentials=None,
                        limits=Limits(fetch_seconds=3))
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
    storage = S3Storage("slow-bucket", endpoint_url=blackhole, credentials=None, limits=Limits(fetch_seconds=0.5))
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
