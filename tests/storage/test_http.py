"""http ("web folder") adapter against a real local origin: errors, limits, guard."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest

from ims.config import Limits
from ims.errors import FetchTimeout, ObjectNotFound, PayloadTooLarge, StorageError, ValidationFailed
from ims.storage import HttpStorage

pytestmark = pytest.mark.anyio


@pytest.fixture
async def site(http_origin):
    """A fresh folder on the origin and an adapter for it (private networks allowed)."""
    folder, base_url = http_origin.folder()
    storage = HttpStorage(base_url, limits=Limits(fetch_seconds=2.0), allow_private=True)
    prefix = base_url.removeprefix(http_origin.url)
    yield storage, folder, prefix
    await storage.aclose()


async def test_read_only(site):
    storage, _, _ = site
    with pytest.raises(StorageError, match="http sources are read-only"):
        await storage.put("a.png", b"x", "image/png")
    with pytest.raises(StorageError, match="http sources are read-only"):
        await storage.delete("a.png")


async def test_loopback_origin_refused_at_connect_time(http_origin):
    folder, base_url = http_origin.folder()
    (folder / "a.png").write_bytes(b"png")
    storage = HttpStorage(base_url, limits=Limits(fetch_seconds=2.0), allow_private=False)
    try:
        with pytest.raises(StorageError, match=r"resolves to a private address \(127\.0\.0\.1\)"):
            await storage.get("a.png", max_bytes=100)
        with pytest.raises(StorageError, match="private address"):
            await storage.check()
    finally:
        await storage.aclose()
    assert not [p for _, p, _ in http_origin.requests if p.startswith(base_url.removeprefix(http_origin.url))]


async def test_key_is_percent_quoted_keeping_slashes(site, http_origin):
    storage, folder, prefix = site
    key = "a dir/ü?#%.png"
    (folder / "a dir").mkdir()
    (folder / key).write_bytes(b"x")

    await storage.get(key, max_bytes=10)

    assert http_origin.requests[-1][1] == f"{prefix}/a%20dir/%C3%BC%3F%23%25.png"


async def test_redirects_are_followed(site, http_origin):
    storage, folder, prefix = site
    (folder / "real.png").write_bytes(b"real")
    http_origin.route(f"{prefix}/moved.png", status=301, location=f"{prefix}/real.png")

    got = await storage.get("moved.png", max_bytes=10)

    assert got.data == b"real"


async def test_redirect_loop_is_cut_after_three_hops(site, http_origin):
    storage, _, prefix = site
    http_origin.route(f"{prefix}/loop.png", status=302, location=f"{prefix}/loop.png")

    with pytest.raises(StorageError, match=r"Too many redirects \(more than 3\)"):
        await storage.get("loop.png", max_bytes=10)

    assert http_origin.requests_to(f"{prefix}/loop.png") == ["GET"] * 4


async def test_slow_origin_is_a_fetch_timeout(http_origin):
    folder, base_url = http_origin.folder()
    prefix = base_url.removeprefix(http_origin.url)
    http_origin.route(f"{prefix}/slow.png", delay=1.5, body=b"late")
    storage = HttpStorage(base_url, limits=Limits(fetch_seconds=0.3), allow_private=True)
    started = time.monotonic()
    try:
        with pytest.raises(FetchTimeout, match="0.3 s"):
            await storage.get("slow.png", max_bytes=100)
    finally:
        await storage.aclose()
    assert time.monotonic() - started < 1.2


async def test_trickling_origin_hits_the_overall_deadline(http_origin):
    # Each byte arrives well within the read timeout, but the whole body does not.
    folder, base_url = http_origin.folder()
    prefix = base_url.removeprefix(http_origin.url)
    http_origin.route(f"{prefix}/drip.png", body=b"x" * 40, trickle=0.05)
    storage = HttpStorage(base_url, limits=Limits(fetch_seconds=0.5), allow_private=True)
    started = time.monotonic()
    try:
        with pytest.raises(FetchTimeout):
            await storage.get("drip.png", max_bytes=100)
    finally:
        await storage.aclose()
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (500, StorageError, "The origin answered 500 for 'e.png'"),
        (503, StorageError, "answered 503"),
        (403, StorageError, "Access denied: the origin answered 403"),
        (401, StorageError, "Access denied"),
        (404, ObjectNotFound, "'e.png' does not exist"),
        (410, ObjectNotFound, "does not exist"),
        (429, StorageError, "answered 429"),
    ],
)
async def test_origin_status_mapping(site, http_origin, status, error, message):
    storage, _, prefix = site
    http_origin.route(f"{prefix}/e.png", status=status, body=b"nope")

    with pytest.raises(error, match=message):
        await storage.get("e.png", max_bytes=100)
    with pytest.raises(error):
        await storage.head("e.png")


async def test_declared_length_over_limit_is_refused_before_reading(site, http_origin):
    storage, folder, _ = site
    (folder / "huge.bin").write_bytes(b"h" * 5000)

    with pytest.raises(PayloadTooLarge):
        await storage.get("huge.bin", max_bytes=4999)


async def test_undeclared_length_is_counted_while_streaming(site, http_origin):
    storage, _, prefix = site
    http_origin.route(f"{prefix}/chunked.bin", body=b"c" * 300, chunked=True)

    with pytest.raises(PayloadTooLarge):
        await storage.get("chunked.bin", max_bytes=100)
    assert (await storage.get("chunked.bin", max_bytes=300)).data == b"c" * 300


async def test_version_falls_back_to_last_modified_and_length(site, http_origin):
    storage, folder, _ = site
    (folder / "lm.png").write_bytes(b"abc")
    http_origin.etags = False
    try:
        info = await storage.head("lm.png")
        got = await storage.get("lm.png", max_bytes=10)
    finally:
        http_origin.etags = True

    assert info.version == got.info.version
    assert info.version.endswith("|3")
    assert "GMT" in info.version


async def test_version_uses_the_etag(site, http_origin):
    storage, _, prefix = site
    http_origin.route(f"{prefix}/tagged.png", body=b"abc", headers={"ETag": '"v42"'})

    assert (await storage.head("tagged.png")).version == '"v42"'
    assert (await storage.get("tagged.png", max_bytes=10)).info.version == '"v42"'


async def test_head_falls_back_to_a_ranged_get_when_head_is_not_allowed(site, http_origin):
    storage, folder, prefix = site
    (folder / "nohead.png").write_bytes(b"12345")
    http_origin.allow_head = False
    try:
        info = await storage.head("nohead.png")
    finally:
        http_origin.allow_head = True

    assert info.size == 5
    assert info.content_type == "image/png"
    methods = http_origin.requests_to(f"{prefix}/nohead.png")
    assert methods == ["HEAD", "GET"]
    assert http_origin.requests[-1][2].get("Range") == "bytes=0-0"


async def test_check_accepts_any_non_5xx_status(http_origin):
    name = uuid.uuid4().hex
    http_origin.route(f"/{name}/", status=403)
    storage = HttpStorage(f"{http_origin.url}/{name}", limits=Limits(fetch_seconds=2), allow_private=True)
    try:
        await storage.check()
        http_origin.route(f"/{name}/", status=502)
        with pytest.raises(StorageError, match="answered 502"):
            await storage.check()
    finally:
        await storage.aclose()


async def test_unsafe_keys_never_reach_the_origin(site, http_origin):
    storage, _, _ = site
    before = len(http_origin.requests)
    with pytest.raises(ValidationFailed):
        await storage.get("../../etc/passwd", max_bytes=10)
    assert len(http_origin.requests) == before


class _DropsReusedConnections:
    """An origin that answers the first request of each connection with keep-alive, then closes the
    connection when a second request arrives on it, answering nothing: what a client meets when
    it reuses a pooled connection the origin closed in the meantime. ``drop_new`` drops every
    request, fresh connections too."""

    def __init__(self, drop_new: bool = False) -> None:
        self.drop_new = drop_new
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn) -> None:
        with conn:
            answered = self.drop_new
            buffer = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    request, buffer = buffer.split(b"\r\n\r\n", 1)
                    if answered:
                        return  # close, answering nothing
                    body = b"" if request.startswith(b"HEAD") else b"abc"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 3\r\n"
                                 b"ETag: \"v1\"\r\n\r\n" + body)
                    answered = True

    def close(self) -> None:
        self.listener.close()


async def test_a_pooled_connection_the_origin_dropped_is_asked_again_on_a_new_one():
    origin = _DropsReusedConnections()
    storage = HttpStorage(origin.url, limits=Limits(fetch_seconds=2.0), allow_private=True)
    try:
        for _ in range(3):  # each request after the first meets the dropped connection first
            assert (await storage.get("a.png", max_bytes=100)).data == b"abc"
            assert (await storage.head("a.png")).version == '"v1"'
        assert origin.connections == 6
    finally:
        await storage.aclose()
        origin.close()


async def test_an_origin_that_drops_every_request_is_a_storage_error_after_two_tries():
    origin = _DropsReusedConnections(drop_new=True)
    storage = HttpStorage(origin.url, limits=Limits(fetch_seconds=2.0), allow_private=True)
    try:
        with pytest.raises(StorageError, match="Server disconnected without sending a response"):
            await storage.get("a.png", max_bytes=100)
        assert origin.connections == 2
    finally:
        await storage.aclose()
        origin.close()
