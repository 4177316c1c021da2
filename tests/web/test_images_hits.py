"""Cache hits answered in front of FastAPI (``ims.web.hits``) — SQLite and PostgreSQL.

A hit must be indistinguishable from the same request answered by the full path: the same
status, headers (names, order, values) and bytes; 304 and HEAD alike; a purge, a bad
signature or a cache file that disappears must be honoured exactly as the full path would.
"full path" below is the same app with the hit layer told to pass every request on.
"""

from __future__ import annotations

import contextlib
import os

import pytest
import pyvips

import ims.cache
import ims.web.images
from ims.cache import CHUNK, ResultCache
from ims.signing import sign_url
from ims.web.hits import Hits

CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"


@pytest.fixture
def photo(app, kit):
    """default/a.jpg: a 300×200 JPEG; default/noise.png: a PNG of several chunks once rendered."""
    kit.put(kit.default_dir(app), "a.jpg", kit.image(300, 200, suffix=".jpg"))
    noise = pyvips.Image.gaussnoise(400, 400).cast("uchar").bandjoin([pyvips.Image.gaussnoise(400, 400).cast("uchar")] * 2)
    kit.put(kit.default_dir(app), "noise.png", noise.write_to_buffer(".png"))


@pytest.fixture
def rendered(monkeypatch):
    """Count the requests that reach the full path's image function (a hit never does)."""
    calls = []
    real = ims.web.images._image

    async def counted(path, request, svc):
        calls.append(path)
        return await real(path, request, svc)

    monkeypatch.setattr(ims.web.images, "_image", counted)
    return calls


def full_path(monkeypatch) -> None:
    """From now on the hit layer answers nothing: every request goes the full path."""
    async def nothing(self, path, scope, headers):
        return None

    monkeypatch.setattr(Hits, "_answer", nothing)


def raw(reply) -> list[tuple[bytes, bytes]]:
    return list(reply.headers.raw)


@pytest.mark.parametrize("url, headers", [
    pytest.param("/default/a.jpg?w=100", {}, id="plain"),
    pytest.param("/default/a.jpg?w=100&auto=format", {"accept": CHROME_ACCEPT}, id="auto-format"),
    pytest.param("/default/a.jpg?w=100&dl=caf%C3%A9.jpg", {}, id="download"),
    pytest.param("/default/a.jpg?ch=Width,DPR&w=100", {"width": "80", "dpr": "2"}, id="client-hints"),
    pytest.param("/default/noise.png?w=300&fm=png", {}, id="several-chunks"),
])
def test_a_hit_is_the_reply_the_full_path_gives(app, photo, rendered, monkeypatch, url, headers):
    first = app.client.get(url, headers=headers)
    assert first.status_code == 200 and first.headers["x-ims-cache"] == "miss"

    hit = app.client.get(url, headers=headers)
    assert rendered == [url.split("?")[0][1:]]  # the first request only: the hit never reached FastAPI
    full_path(monkeypatch)
    slow = app.client.get(url, headers=headers)

    assert hit.status_code == slow.status_code == 200
    assert raw(hit) == raw(slow)
    assert hit.headers["x-ims-cache"] == "hit"
    assert hit.content == slow.content == first.content
    assert int(hit.headers["content-length"]) == len(hit.content)


def test_a_large_hit_is_read_in_chunks_never_whole(app, photo, monkeypatch):
    url = "/default/noise.png?w=300&fm=png"
    body = app.client.get(url).content
    assert len(body) > 2 * CHUNK   # (several chunks, or the test proves nothing)

    def whole(*_a, **_k):
        raise AssertionError("the hit read the whole entry")

    monkeypatch.setattr(ResultCache, "get", whole)
    reads = []
    real_chunks = ims.cache.CachedFile.chunks

    def chunks(self, chunk=CHUNK):
        for data in real_chunks(self, chunk):
            reads.append(len(data))
            yield data

    monkeypatch.setattr(ims.cache.CachedFile, "chunks", chunks)
    hit = app.client.get(url)
    assert hit.headers["x-ims-cache"] == "hit" and hit.content == body
    assert len(reads) >= 3 and max(reads) <= CHUNK and sum(reads) == len(body)


def test_head_of_a_hit_has_the_get_headers_and_no_body(app, photo, rendered, monkeypatch):
    url = "/default/a.jpg?w=100"
    get = app.client.get(url)
    head = app.client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["x-ims-cache"] == "hit" and len(rendered) == 1
    assert raw(head) == raw(app.client.get(url))
    assert int(head.headers["content-length"]) == len(get.content)
    full_path(monkeypatch)
    assert raw(app.client.head(url)) == raw(head)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_none_match_on_the_hit_path_is_the_full_paths_304(app, photo, rendered, monkeypatch, method):
    url = "/default/a.jpg?w=100&auto=format"
    etag = app.client.get(url, headers={"accept": CHROME_ACCEPT}).headers["etag"]
    headers = {"accept": CHROME_ACCEPT, "if-none-match": etag}

    fast = app.client.request(method, url, headers=headers)
    assert fast.status_code == 304 and fast.content == b"" and len(rendered) == 1
    full_path(monkeypatch)
    slow = app.client.request(method, url, headers=headers)
    assert slow.status_code == 304 and raw(fast) == raw(slow)
    assert fast.headers["etag"] == etag and fast.headers["vary"] == "Accept"


def test_a_purged_object_is_not_served_from_the_cache(app, photo, rendered):
    url = "/default/a.jpg?w=100"
    first = app.client.get(url)
    assert app.client.get(url).headers["x-ims-cache"] == "hit" and len(rendered) == 1
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]

    reply = app.api("POST", f"/api/v1/sources/{source['id']}/purge", json={"object_key": "a.jpg"})
    assert reply.status_code == 200, reply.text

    after = app.client.get(url)
    assert after.headers["x-ims-cache"] == "miss" and len(rendered) == 2
    assert after.headers["etag"] != first.headers["etag"]
    assert app.client.get(url).headers["x-ims-cache"] == "hit" and len(rendered) == 2


def test_a_signed_source_refuses_a_bad_signature_on_the_hit_path(app, kit, rendered, monkeypatch):
    source, directory = kit.fs_source(app, "signed", access="signed")
    kit.put(directory, "a.png", kit.image(300, 200))
    url = sign_url("/signed/a.png", "w=100&fm=png", source["signing_key"])
    assert app.client.get(url).headers["x-ims-cache"] == "miss"
    assert app.client.get(url).headers["x-ims-cache"] == "hit"
    assert len(rendered) == 1

    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    fast = {"tampered": app.client.get(tampered), "unsigned": app.client.get("/signed/a.png?w=100&fm=png"),
            "other key": app.client.get(sign_url("/signed/a.png", "w=100&fm=png", "wrong-key-0123456789"))}
    kit.error(fast["tampered"], 403, field="s")
    kit.error(fast["unsigned"], 401, field="s")
    kit.error(fast["other key"], 403, field="s")
    assert len(rendered) == 1  # refused by the hit layer itself …
    full_path(monkeypatch)
    for name, request in (("tampered", tampered), ("unsigned", "/signed/a.png?w=100&fm=png")):
        slow = app.client.get(request)  # … with the reply the full path gives
        assert (slow.status_code, slow.json(), raw(slow)) == (fast[name].status_code, fast[name].json(),
                                                               raw(fast[name])), name


def test_a_cache_file_deleted_before_the_lookup_is_a_render_not_an_error(app, photo):
    url = "/default/a.jpg?w=100"
    body = app.client.get(url).content
    cache_dir = app.svc.settings.data_dir / "cache"
    entries = [p for p in cache_dir.rglob("*") if p.is_file() and p.parent.name != "tmp"]
    assert entries
    for path in entries:
        path.unlink()

    reply = app.client.get(url)
    assert reply.status_code == 200 and reply.headers["x-ims-cache"] == "miss" and reply.content == body
    assert app.client.get(url).headers["x-ims-cache"] == "hit"


def test_a_cache_file_deleted_between_lookup_and_send_is_still_sent_whole(app, photo, monkeypatch):
    url = "/default/noise.png?w=300&fm=png"
    body = app.client.get(url).content
    real_open = ResultCache.open
    removed = []

    def open_then_evict(self, key):
        entry = real_open(self, key)
        if entry is not None:  # evicted (or replaced) by another process right after the lookup
            path = self._path(key)
            path.unlink()
            removed.append(path)
        return entry

    monkeypatch.setattr(ResultCache, "open", open_then_evict)
    reply = app.client.get(url)
    assert removed and not removed[0].exists()
    assert reply.status_code == 200 and reply.headers["x-ims-cache"] == "hit" and reply.content == body


def test_a_damaged_cache_file_is_rendered_again_and_removed(app, photo):
    url = "/default/a.jpg?w=100"
    body = app.client.get(url).content
    cache_dir = app.svc.settings.data_dir / "cache"
    (entry,) = [p for p in cache_dir.rglob("*") if p.is_file() and p.parent.name != "tmp"]
    entry.write_bytes(entry.read_bytes()[:-10])  # a truncated record: its header's size is wrong

    reply = app.client.get(url)
    assert reply.status_code == 200 and reply.headers["x-ims-cache"] == "miss" and reply.content == body
    assert entry.exists() and entry.stat().st_size > 0  # (the render wrote it back whole)
    assert app.client.get(url).content == body


def test_hits_are_counted_and_logged_like_any_image_request(app, photo):
    url = "/default/a.jpg?w=100"
    app.client.get(url)
    before = _metric(app, 'ims_result_cache_total{result="hit"}')
    requests_before = _metric(app, 'ims_http_requests_total{method="GET",route="/{path:path}",status="200"}')
    for _ in range(3):
        assert app.client.get(url).headers["x-ims-cache"] == "hit"
    assert _metric(app, 'ims_result_cache_total{result="hit"}') == before + 3
    assert _metric(app, 'ims_http_requests_total{method="GET",route="/{path:path}",status="200"}') == \
        requests_before + 3


def _metric(app, name: str) -> float:
    text = app.client.get("/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics:\n{text[:2000]}")


def test_every_hit_closes_its_cache_file(app, photo):
    url = "/default/noise.png?w=300&fm=png"
    etag = app.client.get(url).headers["etag"]
    for _ in range(3):  # (whatever the first hits open for good: connections, the version reader)
        app.client.get(url)
    cache_dir = str(app.svc.settings.data_dir / "cache")

    def open_cache_files() -> int:
        names = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
        return sum(name.startswith(cache_dir) for name in names)

    before = os.listdir("/proc/self/fd")
    for _ in range(10):
        assert app.client.get(url).headers["x-ims-cache"] == "hit"
        assert app.client.head(url).status_code == 200
        assert app.client.get(url, headers={"if-none-match": etag}).status_code == 304
    assert open_cache_files() == 0
    assert len(os.listdir("/proc/self/fd")) <= len(before)
