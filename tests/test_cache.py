"""ims.cache.ResultCache: the on-disk result cache of on-demand renders."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from ims import cache as cache_module
from ims.cache import CachedResult, ResultCache

META = {
    "mime": "image/webp",
    "format": "webp",
    "width": 400,
    "height": 267,
    "vary_accept": True,
    "etag": '"abc123"',
}


def body_for(key: str, size: int = 1000) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def entry_path(directory: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return directory / digest[:2] / digest[2:4] / digest


def files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and p.parent.name != "tmp"]


def disk_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in files(directory))


def record_size(tmp_path: Path, key: str, meta=None, size: int = 1000) -> int:
    probe = ResultCache(tmp_path / "probe", 10**9)
    probe.put(key, body_for(key, size), meta or {})
    return entry_path(tmp_path / "probe", key).stat().st_size


# --- basics --------------------------------------------------------------------------


def test_round_trip(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    assert cache.get("/default/a.jpg?w=400") is None
    cache.put("/default/a.jpg?w=400", b"\x89PNG body", META)
    assert cache.get("/default/a.jpg?w=400") == CachedResult(body=b"\x89PNG body", meta=META)
    assert cache.get("/default/a.jpg?w=401") is None


def test_entries_are_one_file_per_key_in_fan_out_dirs(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("k", b"body", META)
    assert files(tmp_path) == [entry_path(tmp_path, "k")]
    assert entry_path(tmp_path, "k").read_bytes().endswith(b"body")


def test_put_replaces_an_entry(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("k", b"old", {"etag": '"1"'})
    cache.put("k", b"new", {"etag": '"2"'})
    assert cache.get("k") == CachedResult(b"new", {"etag": '"2"'})
    assert len(files(tmp_path)) == 1


def test_empty_body_round_trips(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("k", b"", META)
    assert cache.get("k") == CachedResult(b"", META)


def test_disabled_cache_stores_nothing(tmp_path):
    directory = tmp_path / "cache"
    cache = ResultCache(directory, 0)
    assert not cache.enabled
    cache.put("k", b"body", META)
    assert cache.get("k") is None
    assert not directory.exists()


def test_entry_larger_than_the_whole_cache_is_not_stored(tmp_path):
    cache = ResultCache(tmp_path, 500)
    cache.put("big", b"x" * 1000, META)
    assert cache.get("big") is None
    assert files(tmp_path) == []


# --- eviction ---------------------------------------------------------------------------


def test_least_recently_used_is_evicted_first(tmp_path):
    record = record_size(tmp_path, "a")  # keys of one length: every record the same size
    directory = tmp_path / "cache"
    cache = ResultCache(directory, 3 * record + record // 2)

    def stored() -> str:  # looks at the files, so it does not refresh anything itself
        return "".join(k for k in "abcde" if entry_path(directory, k).exists())

    for key in "abc":
        cache.put(key, body_for(key), {})
    assert cache.get("a") is not None  # a is now more recent than b and c
    cache.put("d", body_for("d"), {})
    assert stored() == "acd"
    cache.put("e", body_for("e"), {})  # c is now the oldest
    assert stored() == "ade"
    assert disk_bytes(directory) <= cache.max_bytes


def test_eviction_frees_down_to_the_low_water_mark(tmp_path):
    record = record_size(tmp_path, "k00")
    directory = tmp_path / "cache"
    cache = ResultCache(directory, 10 * record)
    for i in range(11):
        cache.put(f"k{i:02}", body_for(f"k{i:02}"), {})
    # 11 records > 10: evict the oldest until at most 90 % (9 records) remain.
    assert disk_bytes(directory) == 9 * record
    assert cache.get("k00") is None and cache.get("k01") is None
    assert all(cache.get(f"k{i:02}") is not None for i in range(2, 11))


def test_puts_do_not_rescan_the_directory_each_time(tmp_path, monkeypatch):
    cache = ResultCache(tmp_path, 10**9)
    scans = []
    real = cache._entries
    monkeypatch.setattr(cache, "_entries", lambda: scans.append(1) or real())
    for i in range(100):
        cache.put(f"k{i}", b"x" * 100, {})
    assert len(scans) == 1  # only the first put measures the directory
    monkeypatch.setattr(cache_module, "RESCAN_EVERY", 10)
    for i in range(100):
        cache.put(f"j{i}", b"x" * 100, {})
    assert len(scans) == 1 + 10


def test_stale_temp_files_of_a_crashed_writer_are_removed(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("k", b"body", {})
    stale, fresh = tmp_path / "tmp" / "dead.part", tmp_path / "tmp" / "live.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - 2 * cache_module.STALE_TMP_SECONDS
    os.utime(stale, (old, old))
    cache.rescan()
    assert not stale.exists() and fresh.exists()
    assert cache.get("k") is not None


# --- damaged or vanished entries ---------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"garbage",
        lambda data: b"",
        lambda data: data[:-1],  # truncated body
        lambda data: data[:12],  # truncated header
        lambda data: data + b"x",  # trailing bytes
        lambda data: b"XXXXX" + data[5:],  # wrong magic
        lambda data: data[:5] + b"\xff\xff\xff\xff" + data[9:],  # absurd header length
    ],
)
def test_a_damaged_entry_is_a_miss_and_is_removed(tmp_path, damage):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("k", b"body bytes", META)
    path = entry_path(tmp_path, "k")
    path.write_bytes(damage(path.read_bytes()))
    assert cache.get("k") is None
    assert not path.exists()
    cache.put("k", b"body bytes", META)
    assert cache.get("k") == CachedResult(b"body bytes", META)


def test_an_entry_holding_another_key_is_a_miss(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("a", b"body of a", META)
    target = entry_path(tmp_path, "b")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(entry_path(tmp_path, "a").read_bytes())
    assert cache.get("b") is None
    assert cache.get("a") == CachedResult(b"body of a", META)


def test_an_entry_removed_behind_the_cache_is_a_miss(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("k", b"body", META)
    entry_path(tmp_path, "k").unlink()
    assert cache.get("k") is None
    cache.rescan()  # and the size bookkeeping copes


# --- opened for sending (the hit path: ims.web.hits) ----------------------------------------


def test_an_opened_entry_is_read_in_chunks_from_the_file(tmp_path):
    cache = ResultCache(tmp_path, 10**7)
    body = body_for("k", 3 * cache_module.CHUNK + 1234)
    cache.put("k", body, META)
    with cache.open("k") as entry:
        assert (entry.meta, entry.size) == (META, len(body))
        sizes = []
        data = b""
        for chunk in entry.chunks():
            sizes.append(len(chunk))
            data += chunk
    assert data == body and sizes == [cache_module.CHUNK] * 3 + [1234]


def test_an_opened_entry_is_whole_after_it_was_replaced_or_evicted(tmp_path):
    cache = ResultCache(tmp_path, 10**7)
    body = body_for("k", 200_000)
    cache.put("k", body, META)
    entry = cache.open("k")
    cache.put("k", b"another body", META)      # replaced (os.replace) meanwhile …
    entry_path(tmp_path, "k").unlink()           # … and evicted
    with entry:
        assert b"".join(entry.chunks()) == body
    assert cache.open("k") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"garbage",
        lambda data: b"",
        lambda data: data[:-1],  # truncated body
        lambda data: data[:12],  # truncated header
        lambda data: data + b"x",  # trailing bytes
        lambda data: b"XXXXX" + data[5:],  # wrong magic
        lambda data: data[:5] + b"\xff\xff\xff\xff" + data[9:],  # absurd header length
    ],
)
def test_a_damaged_entry_is_not_opened_and_is_removed(tmp_path, damage):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("k", b"body bytes", META)
    path = entry_path(tmp_path, "k")
    path.write_bytes(damage(path.read_bytes()))
    assert cache.open("k") is None
    assert not path.exists()


def test_another_keys_entry_or_a_disabled_cache_opens_nothing(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("a", b"body of a", META)
    target = entry_path(tmp_path, "b")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(entry_path(tmp_path, "a").read_bytes())
    assert cache.open("b") is None
    assert ResultCache(tmp_path, 0).open("a") is None
    with cache.open("a") as entry:
        assert b"".join(entry.chunks()) == b"body of a"


def test_opening_an_entry_makes_it_recent(tmp_path):
    cache = ResultCache(tmp_path, 10**6)
    cache.put("old", b"o" * 100, META)
    cache.put("new", b"n" * 100, META)
    cache.open("old").close()
    assert entry_path(tmp_path, "old").stat().st_mtime_ns > entry_path(tmp_path, "new").stat().st_mtime_ns


# --- sharing -----------------------------------------------------------------------------


def test_two_instances_share_one_directory(tmp_path):
    record = record_size(tmp_path, "a")
    directory = tmp_path / "cache"
    one = ResultCache(directory, 3 * record + record // 2)
    two = ResultCache(directory, 3 * record + record // 2)
    one.put("a", body_for("a"), {"by": 1})
    assert two.get("a") == CachedResult(body_for("a"), {"by": 1})
    two.put("b", body_for("b"), {"by": 2})
    assert one.get("b") == CachedResult(body_for("b"), {"by": 2})
    one.put("c", body_for("c"), {})
    assert two.get("a") is not None  # a hit through two makes a recent for everyone
    two.put("d", body_for("d"), {})  # two's estimate has not counted one's c yet ...
    assert disk_bytes(directory) > two.max_bytes
    two.rescan()  # ... its next rescan (scheduled, or this one) sees the whole directory
    assert disk_bytes(directory) <= two.max_bytes
    assert not entry_path(directory, "b").exists()  # least recently used, whoever used it
    assert all(entry_path(directory, k).exists() for k in "acd")


def test_scheduled_rescans_notice_other_instances_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "RESCAN_EVERY", 5)
    record = record_size(tmp_path, "k0")  # all keys below are two characters long
    directory = tmp_path / "cache"
    one = ResultCache(directory, 6 * record)
    two = ResultCache(directory, 6 * record)
    one.put("k0", body_for("k0"), {})  # one measures the directory: 1 record
    for key in ("t0", "t1", "t2", "t3"):  # two measures 2 records, then counts its own
        two.put(key, body_for(key), {})
    for key in ("k1", "k2", "k3"):
        one.put(key, body_for(key), {})
    # 8 records on disk; one believes 4, two believes 5: nobody has evicted yet.
    assert disk_bytes(directory) == 8 * record
    two.put("t4", body_for("t4"), {})
    assert disk_bytes(directory) == 9 * record
    two.put("t5", body_for("t5"), {})  # two's 5th put since it measured: rescan
    assert disk_bytes(directory) <= 6 * record


def test_concurrent_threads(tmp_path):
    cache = ResultCache(tmp_path, 40_000)
    errors: list[str] = []

    def work(worker: int) -> None:
        for i in range(200):
            key = f"k{(i * 7 + worker) % 60}"
            cache.put(key, body_for(key, 500 + (i % 5) * 100), {"key": key})
            hit = cache.get(f"k{(i + worker * 3) % 60}")
            if hit is not None and (
                hit.meta["key"] != f"k{(i + worker * 3) % 60}"
                or hit.body != body_for(hit.meta["key"], len(hit.body))
            ):
                errors.append(f"wrong entry for {hit.meta['key']}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cache.rescan()
    assert disk_bytes(tmp_path) <= 40_000
    assert list((tmp_path / "tmp").iterdir()) == []


def _process_worker(directory: str, worker: int, queue) -> None:
    cache = ResultCache(Path(directory), 60_000)
    bad = 0
    for i in range(150):
        key = f"k{(i * 5 + worker) % 80}"
        cache.put(key, body_for(key, 700), {"key": key})
        other = f"k{(i * 3 + worker * 11) % 80}"
        hit = cache.get(other)
        if hit is not None and (hit.meta != {"key": other} or hit.body != body_for(other, 700)):
            bad += 1
    queue.put(bad)


def test_concurrent_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(str(tmp_path), n, queue)) for n in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert results == [0, 0, 0, 0]
    ResultCache(tmp_path, 60_000).rescan()
    assert disk_bytes(tmp_path) <= 60_000
    assert list((tmp_path / "tmp").iterdir()) == []
