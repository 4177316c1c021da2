"""Scale-out on one machine (issue 15 item 7): two `ims serve` nodes — their own data dirs and
disk caches, one PostgreSQL, one SeaweedFS result store (IMS_RESULT_STORE).

A URL rendered by node A is a hit on node B (``X-Ims-Cache``), byte for byte with the same
ETag; a purge through A is honoured by B on its very next request, though B holds the
rendition on its own disk too; two nodes asked for one new URL at the same moment render it
once between them (``ims_render_seconds`` counts renders in each process).
"""

from __future__ import annotations

import re
import threading

import pytest

from tests.support.procs import Server, ims_env

pytestmark = pytest.mark.slow
URL = "/default/photo.jpg?w=320&fm=webp"


def renders(server: Server) -> float:
    text = server.http.get("/metrics").text
    return sum(float(v) for v in re.findall(r'^ims_render_seconds_count\{format="webp"\} (\S+)$', text, re.M))


@pytest.fixture
def nodes(pg_stack, tmp_path):
    stack = pg_stack
    bucket = stack.s3_bucket()
    stack.put_original("photo.jpg")
    roots = f"{stack.data_dir / 'sources'}:{stack.data_dir / 'destinations'}"  # A's default source, for both
    shared = {"IMS_RESULT_STORE": f"s3://{bucket}/renditions", "IMS_RESULT_STORE_ENDPOINT_URL": stack.seaweed.endpoint_url,
              "IMS_RESULT_STORE_ACCESS_KEY_ID": stack.seaweed.access_key,
              "IMS_RESULT_STORE_SECRET_ACCESS_KEY": stack.seaweed.secret_key,
              "IMS_CACHE_SIZE_MB": "64", "IMS_FS_ROOTS": roots}
    a = stack.serve(**shared)
    (tmp_path / "b").mkdir()
    b = Server(ims_env(tmp_path / "b", stack.database_url, IMS_WORKERS="0", **shared), tmp_path / "b" / "serve.log")
    stack.procs.append(b)
    return stack, a, b


def test_a_rendition_of_node_a_is_a_hit_on_node_b_and_a_purge_through_a_reaches_b(nodes):
    stack, a, b = nodes
    first = a.http.get(URL)
    assert first.status_code == 200, first.text
    assert first.headers["x-ims-cache"] == "miss"
    on_b = b.http.get(URL)
    assert on_b.status_code == 200 and on_b.headers["x-ims-cache"] == "hit", stack.logs()
    assert on_b.content == first.content and on_b.headers["etag"] == first.headers["etag"]
    assert renders(b) == 0  # B never rendered it
    assert b.http.get(URL).headers["x-ims-cache"] == "hit"  # now from B's own disk

    source_id = a.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    purged = a.http.post(f"/api/v1/sources/{source_id}/purge", json={"object_key": "photo.jpg"})
    assert purged.status_code == 200, purged.text
    after = b.http.get(URL)  # the very next request on B, its disk cache notwithstanding
    assert after.headers["x-ims-cache"] == "miss" and after.headers["etag"] != first.headers["etag"]
    assert a.http.get(URL).headers["x-ims-cache"] == "hit"  # B's new rendition, from the shared store
    assert after.headers["surrogate-key"].split() == [source_id, purged.json()["response"]["surrogate_keys"][0]]


def test_one_new_url_asked_of_both_nodes_at_once_is_rendered_once(nodes):
    stack, a, b = nodes
    replies = {}
    start = threading.Barrier(2)

    def ask(name, server):
        start.wait()
        replies[name] = server.http.get(URL.replace("w=320", "w=330"))

    threads = [threading.Thread(target=ask, args=(n, s)) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in replies.values()), stack.logs()
    assert replies["a"].content == replies["b"].content
    assert sorted(r.headers["x-ims-cache"] for r in replies.values()) == ["hit", "miss"]
    assert renders(a) + renders(b) == 1, stack.logs()


def test_a_result_store_that_is_down_makes_renders_miss_never_fail(pg_stack):
    stack = pg_stack
    stack.put_original("photo.jpg")
    server = stack.serve(IMS_RESULT_STORE="s3://gone/renditions", IMS_RESULT_STORE_ENDPOINT_URL="http://127.0.0.1:9",
                         IMS_RESULT_STORE_ACCESS_KEY_ID="a", IMS_RESULT_STORE_SECRET_ACCESS_KEY="b")
    for _ in range(3):
        reply = server.http.get(URL)
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/webp"
    metrics = server.http.get("/metrics").text
    assert re.search(r'^ims_result_store_total\{op="get",result="error"\} [1-9]', metrics, re.M), metrics
    assert "result store s3://gone/renditions: get" in server.output()
