"""open_storage builds adapters from what the management API stores."""

from __future__ import annotations

import pytest

from ims.config import Limits
from ims.errors import StorageError, ValidationFailed
from ims.storage import FsStorage, HttpStorage, S3Storage, Storage, open_storage

pytestmark = pytest.mark.anyio


def _open(kind, config, credentials=None, allow_private=False):
    return open_storage(kind, config, credentials, limits=Limits(), allow_private_networks=allow_private)


async def test_fs(tmp_path):
    storage = _open("fs", {"path": str(tmp_path)})
    assert isinstance(storage, FsStorage) and isinstance(storage, Storage)
    await storage.put("a.png", b"x", "image/png")
    assert (tmp_path / "a.png").read_bytes() == b"x"


async def test_s3_round_trip(seaweed):
    bucket = seaweed.create_bucket("open-storage-test")
    config = {"bucket": bucket, "prefix": "p", "endpoint_url": seaweed.endpoint_url, "region": "us-east-1"}
    storage = _open("s3", config, seaweed.credentials, allow_private=True)
    assert isinstance(storage, S3Storage)
    await storage.put("k.png", b"png", "image/png")
    assert seaweed.client().get_object(Bucket=bucket, Key="p/k.png")["Body"].read() == b"png"


async def test_http_carries_the_private_network_setting(http_origin):
    folder, base_url = http_origin.folder()
    (folder / "a.png").write_bytes(b"png")

    allowed = _open("http", {"base_url": base_url + "/"}, allow_private=True)
    refused = _open("http", {"base_url": base_url + "/"}, allow_private=False)
    try:
        assert isinstance(allowed, HttpStorage)
        assert (await allowed.get("a.png", max_bytes=10)).data == b"png"
        with pytest.raises(StorageError, match="private address"):
            await refused.get("a.png", max_bytes=10)
    finally:
        await allowed.aclose()
        await refused.aclose()


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("fs", {}, "path"),
        ("fs", {"path": "relative/dir"}, "path"),
        ("s3", {"prefix": "x"}, "bucket"),
        ("s3", {"bucket": "b", "endpoint_url": "s3.example.com"}, "endpoint_url"),
        ("http", {"base_url": "ftp://example.com/"}, "base_url"),
        ("gcs", {"bucket": "b"}, "kind"),
    ],
)
def test_bad_configs_name_the_field(kind, config, field):
    with pytest.raises(ValidationFailed) as e:
        _open(kind, config)
    assert e.value.field == field
