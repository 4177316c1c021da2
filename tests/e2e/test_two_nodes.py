"""Scale-out on one machine (issue 15 item 7): two `ims serve` nodes — their own data dirs and
disk caches, one PostgreSQL, one SeaweedFS result store (IMS_RESULT_STORE) — and two `ims worker`s.

A URL rendered by node A is a hit on node B (``X-Ims-Cache``), byte for byte with the same
ETag; a purge through A is honoured by B on its very next request, though B holds the
rendition on its own disk too; two nodes asked for one new URL at the same moment render it
once between them (``ims_render_seconds`` counts renders in each process); 500 jobs submitted
half to each node all complete, each with one webhook.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter

import psycopg
import pytest
import pyvips

from tests.support.procs import Server, ims_env, poll

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


def test_500_jobs_submitted_half_to_each_node_all_complete_with_one_webhook_each(nodes):
    stack, a, b = nodes
    tiny = stack.data_dir / "tiny.png"
    pyvips.Image.black(16, 16).new_from_image([30, 120, 200]).pngsave(str(tiny))
    stack.put_original("tiny.png", tiny)
    for _ in range(2):
        stack.worker(workers=2)
    assert a.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url}).status_code == 201
    source_id = a.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    jobs = "/api/processes/v1/background_processes"
    for node, start in ((a, 0), (b, 250)):
        items = [{"source_id": source_id, "object_key": "tiny.png", "destination_object_key": f"j/{i}.png",
                  "parameters": {"w": 8}} for i in range(start, start + 250)]
        reply = node.http.post(f"{jobs}/batch", json={"items": items}, timeout=120)
        assert reply.json()["response"]["accepted"] == 250, reply.text[:500]

    def succeeded() -> bool:
        with psycopg.connect(stack.database_url) as conn:
            return conn.execute("SELECT count(*) FROM jobs WHERE status = 'succeeded'").fetchone()[0] == 500
    poll(succeeded, timeout=300, every=0.5, what="500 jobs")
    deliveries = stack.receiver.wait_for(500, timeout=120)
    per_job = Counter(json.loads(d.body)["response"]["job_id"] for d in deliveries)
    assert len(per_job) == 500 and set(per_job.values()) == {1}
    assert len(list((stack.data_dir / "destinations/default/j").iterdir())) == 500
