"""ims.results: the disk cache in front of a shared S3 result store (real SeaweedFS), render
leases between nodes (SQLite and PostgreSQL), and what a store that is down or holds a broken
object does (a miss, counted — never an error)."""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import replace
from pathlib import Path

import obstore
import pytest
from obstore.store import S3Store

from ims.cache import ResultCache, encode_record
from ims.config import Limits, Settings, SettingsError
from ims.db import Database
from ims.metrics import Metrics
from ims.results import Results
from ims.results.leases import Leases
from ims.results.shared import SharedStore

pytestmark = pytest.mark.anyio

META = {"mime": "image/webp", "format": "webp", "width": 40, "height": 30, "vary_accept": False}


def variant() -> str:
    return secrets.token_hex(32)


def store_settings(tmp_path: Path, seaweed, bucket: str, *, cache_mb: int = 0, **changes) -> Settings:
    return replace(Settings(data_dir=tmp_path, cache_size_mb=cache_mb, result_store=f"s3://{bucket}/renditions",
                            result_store_endpoint_url=seaweed.endpoint_url,
                            result_store_access_key_id=seaweed.access_key,
                            result_store_secret_access_key=seaweed.secret_key), **changes)


def node(settings: Settings, db: Database | None = None) -> tuple[Results, Metrics]:
    metrics = Metrics()
    return Results.open(settings, db or Database(f"sqlite:///{settings.data_dir / 'ims.db'}"), metrics), metrics


def count(metrics: Metrics, op: str, result: str) -> float:
    return metrics.result_store.labels(op, result)._value.get()


def raw_store(seaweed, bucket: str) -> S3Store:
    return S3Store(bucket, endpoint=seaweed.endpoint_url, access_key_id=seaweed.access_key,
                   secret_access_key=seaweed.secret_key, region="us-east-1", client_options={"allow_http": True},
                   virtual_hosted_style_request=False)


@pytest.fixture(scope="module")
def bucket(seaweed):
    return seaweed.create_bucket("results-" + secrets.token_hex(4))


async def test_a_rendition_stored_by_one_node_is_a_hit_on_another(tmp_path, seaweed, bucket):
    one, _ = node(store_settings(tmp_path / "a", seaweed, bucket, cache_mb=10))
    two, metrics = node(store_settings(tmp_path / "b", seaweed, bucket, cache_mb=10))
    key = variant()
    assert await two.get(key) is None
    await one.put(key, b"rendered bytes", META)
    hit = await two.get(key)
    assert hit is not None and hit.body == b"rendered bytes" and hit.meta == META
    assert count(metrics, "get", "hit") == 1 and count(metrics, "get", "miss") == 1
    assert two.local.get(key).body == b"rendered bytes"  # copied to the second node's disk: level 1
    # The object in the bucket is one whole record under the configured prefix.
    stored = obstore.get(raw_store(seaweed, bucket), f"renditions/{key[:2]}/{key}").bytes()
    assert bytes(stored) == encode_record(key, b"rendered bytes", META)


async def test_without_a_disk_cache_the_shared_store_alone_serves(tmp_path, seaweed, bucket):
    one, _ = node(store_settings(tmp_path / "a", seaweed, bucket))
    two, _ = node(store_settings(tmp_path / "b", seaweed, bucket))
    assert one.enabled and not one.local.enabled
    key = variant()
    await one.put(key, b"x" * 5000, META)
    assert (await two.get(key)).body == b"x" * 5000


@pytest.mark.parametrize("damage", ["truncated", "another key", "not a record"])
async def test_a_broken_or_foreign_object_in_the_store_is_a_miss(tmp_path, seaweed, bucket, damage):
    results, metrics = node(store_settings(tmp_path, seaweed, bucket))
    key = variant()
    record = encode_record(key, b"0123456789" * 100, META)
    data = {"truncated": record[:-7], "another key": encode_record(variant(), b"0123456789" * 100, META),
            "not a record": b"<html>hello</html>"}[damage]
    obstore.put(raw_store(seaweed, bucket), f"renditions/{key[:2]}/{key}", data)
    assert await results.get(key) is None
    assert count(metrics, "get", "error") == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_store_that_is_down_is_a_counted_miss_then_left_alone_for_a_while(tmp_path, caplog):
    settings = Settings(data_dir=tmp_path, cache_size_mb=10, result_store="s3://nowhere/x",
                        result_store_endpoint_url=f"http://127.0.0.1:{closed_port()}",
                        result_store_access_key_id="a", result_store_secret_access_key="b")
    results, metrics = node(settings)
    key = variant()
    await results.put(key, b"body", META)          # the disk level still works
    assert count(metrics, "put", "error") == 1
    assert "result store s3://nowhere/x: put" in caplog.text
    assert (await results.get(key)).body == b"body"
    other = variant()
    assert await results.get(other) is None         # not tried: resting after the failure
    assert count(metrics, "get", "skipped") == 1


def test_the_result_store_setting_is_checked():
    assert Settings.from_env({}).result_store is None
    assert Settings.from_env({"IMS_RESULT_STORE": "local"}).result_store is None
    assert Settings.from_env({"IMS_RESULT_STORE": "s3://b/p/q"}).result_store == "s3://b/p/q"
    for bad in ("s3://", "gs://bucket/x", "bucket/x", "s3://b/x?y=1", "s3://b c/x"):
        with pytest.raises(SettingsError, match="IMS_RESULT_STORE"):
            Settings.from_env({"IMS_RESULT_STORE": bad})


def test_a_bad_store_prefix_or_endpoint_is_a_settings_error(tmp_path):
    for url, endpoint in (("s3://b/a//b", None), ("s3://b/x", "ftp://host")):
        with pytest.raises(SettingsError, match="IMS_RESULT_STORE"):
            SharedStore(url, endpoint_url=endpoint, region=None, access_key_id=None, secret_access_key=None,
                        limits=Limits(), counter=Metrics().result_store)


# --- leases: one render of a new rendition between nodes -------------------------------------


@pytest.fixture
def shared_db(tmp_path, database_url):
    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()


async def test_a_node_waits_for_the_render_another_node_holds_the_lease_of(tmp_path, seaweed, bucket, shared_db):
    one, _ = node(store_settings(tmp_path / "a", seaweed, bucket), shared_db)
    two, _ = node(store_settings(tmp_path / "b", seaweed, bucket), shared_db)
    key = variant()
    rendered = []

    async def render_on_one():
        async with one.turn(key) as hit:
            assert hit is None
            rendered.append("one")
            await asyncio.sleep(0.5)  # the render
            await one.put(key, b"from one", META)

    async def ask_two():
        await asyncio.sleep(0.1)  # one holds the lease by now
        async with two.turn(key) as hit:
            if hit is None:
                rendered.append("two")
            return hit

    _, hit = await asyncio.gather(render_on_one(), ask_two())
    assert rendered == ["one"] and hit.body == b"from one"
    async with two.turn(key) as again:  # the lease was released: a later turn is immediate
        assert again is None


async def test_a_failed_render_gives_the_lease_up_so_the_waiter_renders_at_once(
        tmp_path, seaweed, bucket, shared_db):
    one, _ = node(store_settings(tmp_path / "a", seaweed, bucket), shared_db)
    two, _ = node(store_settings(tmp_path / "b", seaweed, bucket), shared_db)
    key = variant()

    async def failing_on_one():
        with pytest.raises(ValueError):
            async with one.turn(key):
                await asyncio.sleep(0.3)
                raise ValueError("the image was bad")

    async def ask_two():
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with two.turn(key) as hit:
            return hit, loop.time() - started

    _, (hit, waited) = await asyncio.gather(failing_on_one(), ask_two())
    assert hit is None
    assert waited < one._leases.seconds  # it did not wait for the lease to run out


def test_an_expired_lease_is_taken_over(tmp_path, shared_db):
    old, new = Leases(shared_db, seconds=-1), Leases(shared_db, seconds=60)
    key = variant()
    assert old.take(key)            # held, but already out of time (a holder that died)
    assert not old.held(key)
    assert new.take(key) and new.held(key)
    assert not old.take(key)        # now really held
    old.release(key)                # not its lease any more: nothing happens
    assert new.held(key)
    new.release(key)
    assert not new.held(key)
