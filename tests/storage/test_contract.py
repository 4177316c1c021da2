"""The storage contract: every backend (fs, s3 on SeaweedFS, http, memory) passes these."""

from __future__ import annotations

import re
import socket
import uuid

import pytest

from ims.errors import ObjectNotFound, PayloadTooLarge, StorageError, ValidationFailed
from ims.storage import FsStorage, HttpStorage

from tests.storage.backends import LIMITS, s3_storage

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_round_trip_keeps_bytes_and_content_type(backend):
    await backend.seed("photos/a.png", PNG, "image/png")

    got = await backend.storage.get("photos/a.png", max_bytes=10_000)

    assert got.data == PNG
    assert got.info.key == "photos/a.png"
    assert got.info.size == len(PNG)
    assert got.info.content_type == "image/png"
    assert got.info.version


async def test_a_large_object_round_trips_too(backend):
    # past fs's inline-read size (64 KiB), so that backend reads it in a thread
    data = PNG * 300
    await backend.seed("photos/large.png", data, "image/png")
    got = await backend.storage.get("photos/large.png", max_bytes=len(data))
    assert got.data == data and got.info.size == len(data)
    with pytest.raises(PayloadTooLarge):
        await backend.storage.get("photos/large.png", max_bytes=len(data) - 1)


async def test_nested_keys_are_separate_objects(backend):
    await backend.seed("a/b/c/deep.jpg", b"deep", "image/jpeg")
    await backend.seed("a/b/shallow.jpg", b"shallow", "image/jpeg")

    assert (await backend.storage.get("a/b/c/deep.jpg", max_bytes=100)).data == b"deep"
    assert (await backend.storage.get("a/b/shallow.jpg", max_bytes=100)).data == b"shallow"
    assert (await backend.storage.get("a/b/c/deep.jpg", max_bytes=100)).info.content_type == "image/jpeg"


async def test_head_agrees_with_get(backend):
    await backend.seed("h/one.png", PNG, "image/png")

    info = await backend.storage.head("h/one.png")
    got = await backend.storage.get("h/one.png", max_bytes=len(PNG))

    assert info == got.info
    assert info.size == len(PNG)


async def test_overwrite_changes_version(backend):
    await backend.seed("v/img.png", b"first", "image/png")
    before = await backend.storage.head("v/img.png")

    await backend.seed("v/img.png", b"other", "image/png")  # same size on purpose
    after = await backend.storage.head("v/img.png")
    got = await backend.storage.get("v/img.png", max_bytes=100)

    assert after.version != before.version
    assert got.data == b"other"
    assert got.info.version == after.version


async def test_missing_object_is_not_found(backend):
    await backend.seed("present/x.png", b"x", "image/png")

    with pytest.raises(ObjectNotFound, match="present/nope.png"):
        await backend.storage.get("present/nope.png", max_bytes=100)
    with pytest.raises(ObjectNotFound, match="nope.png"):
        await backend.storage.head("nope.png")


async def test_object_over_max_bytes_is_too_large(backend):
    data = b"z" * 100
    await backend.seed("big/z.bin", data, "application/octet-stream")

    with pytest.raises(PayloadTooLarge, match="99 bytes"):
        await backend.storage.get("big/z.bin", max_bytes=99)
    assert (await backend.storage.get("big/z.bin", max_bytes=100)).data == data


async def test_empty_object(backend):
    await backend.seed("empty.png", b"", "image/png")

    got = await backend.storage.get("empty.png", max_bytes=0)

    assert got.data == b""
    assert got.info.size == 0


@pytest.mark.parametrize(
    "key",
    [
        "dir with space/file name.png",
        "ünï/cødé-日本語.png",
        "plus+sign/a+b (1).png",
        "q?u#e%41&x=1.png",
        "~tilde/.hidden.png",
    ],
)
async def test_unusual_but_valid_keys(backend, key):
    await backend.seed(key, PNG, "image/png")

    got = await backend.storage.get(key, max_bytes=len(PNG))
    info = await backend.storage.head(key)

    assert got.data == PNG
    assert info.key == key
    assert info.size == len(PNG)


@pytest.mark.parametrize("key", ["../escape.png", "/abs.png", "nul\x00.png", "a\\b.png", ""])
async def test_unsafe_keys_refused_before_any_io(backend, key):
    with pytest.raises(ValidationFailed) as e:
        await backend.storage.get(key, max_bytes=100)
    assert e.value.field == "object_key"
    with pytest.raises(ValidationFailed):
        await backend.storage.head(key)


async def test_check_passes_on_a_usable_storage(backend):
    await backend.storage.check()


# --- writable backends (fs, s3, memory); http is read-only, see test_http.py -------------


async def test_put_returns_what_head_reports(writable):
    info = await writable.storage.put("out/result.webp", b"RIFFxxxxWEBP", "image/webp")

    assert info.key == "out/result.webp"
    assert info.size == 12
    assert info.content_type == "image/webp"
    assert info == await writable.storage.head("out/result.webp")


async def test_put_is_an_idempotent_overwrite(writable):
    first = await writable.storage.put("o/a.jpg", b"one", "image/jpeg")
    second = await writable.storage.put("o/a.jpg", b"two", "image/jpeg")
    again = await writable.storage.put("o/a.jpg", b"two", "image/jpeg")

    assert second.version != first.version
    assert (await writable.storage.get("o/a.jpg", max_bytes=10)).data == b"two"
    assert again.size == second.size == 3


async def test_delete_removes_and_is_idempotent(writable):
    await writable.storage.put("d/gone.png", b"x", "image/png")
    await writable.storage.put("d/kept.png", b"y", "image/png")

    await writable.storage.delete("d/gone.png")
    await writable.storage.delete("d/gone.png")
    await writable.storage.delete("d/never-existed.png")

    with pytest.raises(ObjectNotFound):
        await writable.storage.get("d/gone.png", max_bytes=10)
    assert (await writable.storage.get("d/kept.png", max_bytes=10)).data == b"y"


async def test_list_keys_in_key_order_under_a_prefix(writable):
    for key in ("b/2.jpg", "a.jpg", "b/1.jpg", "b/sub/3.jpg", "c.png"):
        await writable.storage.put(key, b"x", "image/jpeg")

    assert await writable.storage.list_keys(limit=10) == ["a.jpg", "b/1.jpg", "b/2.jpg", "b/sub/3.jpg", "c.png"]
    assert await writable.storage.list_keys(limit=2) == ["a.jpg", "b/1.jpg"]
    assert await writable.storage.list_keys("b/", limit=10) == ["b/1.jpg", "b/2.jpg", "b/sub/3.jpg"]
    assert await writable.storage.list_keys("zzz/", limit=10) == []


async def test_list_keys_pages_after_a_key_miss_nothing_and_repeat_nothing(writable):
    """Pages resumed after their last key (as a bulk process lists) make the whole listing once, in
    the storage's listing order (AWS and fs: the strings' order; SeaweedFS: folder by folder). A
    prefix need not end at a folder."""
    keys = ["a.jpg", "a/x.jpg", "a/y/z.jpg", "a0.jpg", "b-1.jpg", "b/1.jpg", "b/2.jpg", "b/sub/3.jpg", "ba.jpg",
            "c.png"]
    for key in reversed(keys):
        await writable.storage.put(key, b"x", "image/jpeg")

    async def pages(prefix: str, size: int) -> list[list[str]]:
        out, after = [], None
        while page := await writable.storage.list_keys(prefix, limit=size, start_after=after):
            assert len(page) <= size
            out.append(page)
            after = page[-1]
        return out

    for prefix, expected in (("", keys), ("b", keys[4:9]), ("b/", keys[5:8]), ("a/y", ["a/y/z.jpg"]), ("d", [])):
        for size in (1, 3, 100):
            listed = [k for p in await pages(prefix, size) for k in p]
            assert sorted(listed) == sorted(expected), (prefix, size)
            assert len(set(listed)) == len(listed)
    if writable.kind != "s3":
        assert await writable.storage.list_keys(limit=3) == ["a.jpg", "a/x.jpg", "a/y/z.jpg"]


async def test_put_refuses_unsafe_keys(writable):
    with pytest.raises(ValidationFailed, match=r"'\.\.'"):
        await writable.storage.put("a/../../etc/passwd", b"x", "text/plain")


# --- check() failing, with a message that says what is wrong ------------------------------


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture(params=["fs-missing-dir", "fs-not-a-dir", "s3-missing-bucket", "s3-bad-secret", "http-dead-host"])
async def broken(request, tmp_path):
    kind = request.param
    if kind == "fs-missing-dir":
        made, message = FsStorage(tmp_path / "nope"), f"directory '{re.escape(str(tmp_path / 'nope'))}' does not exist"
    elif kind == "fs-not-a-dir":
        (tmp_path / "file").write_bytes(b"")
        made, message = FsStorage(tmp_path / "file"), "is not a directory"
    elif kind == "s3-missing-bucket":
        seaweed = request.getfixturevalue("seaweed")
        name = "missing-" + uuid.uuid4().hex[:10]
        made, message = s3_storage(seaweed, name), f"bucket '{name}' does not exist"
    elif kind == "s3-bad-secret":
        seaweed = request.getfixturevalue("seaweed")
        bucket = request.getfixturevalue("contract_bucket")
        creds = {"access_key_id": seaweed.access_key, "secret_access_key": "wrong"}
        made = s3_storage(seaweed, bucket, credentials=creds)
        message = f"access denied listing bucket '{bucket}'"
    else:
        url = f"http://127.0.0.1:{_dead_port()}/images"
        made = HttpStorage(url, limits=LIMITS, allow_private=True)
        message = f"connecting to {re.escape(url)}: .*Connection refused"
    yield made, message
    await made.aclose()


async def test_check_says_what_failed(broken):
    storage, message = broken

    with pytest.raises(StorageError, match=message):
        await storage.check()


async def test_a_blocking_put_is_declared_and_writes_what_put_writes(backend):
    """``blocking_put`` says whether the backend also offers ``put_blocking`` (jobs call it from the
    pixel thread); a backend that declares it reads back what it wrote that way."""
    assert isinstance(backend.storage.blocking_put, bool)
    if not backend.storage.blocking_put:
        return
    import asyncio

    await asyncio.to_thread(backend.storage.put_blocking, "photos/blocking.png", PNG, "image/png")
    got = await backend.storage.get("photos/blocking.png", max_bytes=10_000)
    assert got.data == PNG
