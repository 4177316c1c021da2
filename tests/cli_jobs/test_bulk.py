"""`ims jobs bulk` and `ims jobs watch` of a bulk process, against a real `ims serve` (SQLite)
and SPEC §3's bulk API: one job per object under the prefix, followed to the end of the last."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.cli_service import ID, Service, size

BATCH = 24


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    s = Service(tmp_path_factory.mktemp("cli-bulk") / "var", workers=4)
    s.original("photos/a.jpg")  # the README's example
    for n in range(BATCH):
        s.original(f"batch/{n:02d}.jpg")
    s.original("batchless.jpg")  # beside the prefix: no job for it
    broken = s.data_dir / "sources" / "default" / "broken" / "b.jpg"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not an image at all")
    s.original("broken/a.jpg")
    reply = s.server.http.post("/api/v1/presets", json={"name": "tiny", "parameters": {"w": 32, "fm": "png"}})
    assert reply.status_code == 201, reply.text
    yield s
    s.server.stop()


def test_bulk_with_a_preset_makes_every_object_under_the_prefix_and_exits_0(service):
    done = service.jobs("bulk", "--source", "default", "--prefix", "batch/", "--preset", "tiny",
                        "--dest-key", "tiny/{dir}/{stem}.{ext}")

    assert done.returncode == 0, done
    [line] = done.stdout.splitlines()
    bulk_id = ID.search(line).group()
    assert re.fullmatch(rf"bulk {bulk_id}: succeeded, {BATCH} listed · succeeded {BATCH} · failed 0 · canceled 0"
                        r"( in .*)?", line), line
    for n in range(BATCH):
        assert size(service.made(f"tiny/batch/{n:02d}.png")) == (32, 18)
    assert not service.made("tiny/batchless.png").exists()
    progress = done.stderr.splitlines()
    assert progress and all(p.startswith(f"bulk {bulk_id}: ") for p in progress), done.stderr
    assert progress[-1].startswith(f"bulk {bulk_id}: succeeded, {BATCH}/{BATCH} ended")


def test_a_bulk_with_a_failed_job_exits_1_and_watch_says_the_same(service):
    done = service.jobs("bulk", "--source", "default", "--prefix", "broken/", "-p", "w=48",
                        "--dest-key", "broken-out/{key}")

    assert done.returncode == 1, done
    lines = done.stdout.splitlines()
    bulk_id = ID.search(lines[0]).group()
    assert re.fullmatch(rf"bulk {bulk_id}: failed, 2 listed · succeeded 1 · failed 1 · canceled 0( in .*)?",
                        lines[0]), lines
    assert lines[1] == f"  the failed jobs: GET /api/processes/v1/background_processes?bulk_id={bulk_id}&status=failed"
    assert size(service.made("broken-out/broken/a.jpg")) == (48, 27)

    watched = service.jobs("watch", bulk_id)  # not a job's id: the bulk route answers
    assert (watched.returncode, watched.stdout) == (1, done.stdout), watched
    as_json = service.jobs("watch", "--bulk", bulk_id, "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["status"] == "failed"


def test_bulk_from_an_outputs_file_without_waiting_then_watched(service, tmp_path):
    (tmp_path / "outputs.json").write_text(json.dumps([
        {"name": "s", "parameters": {"w": 16}, "destination_object_key": "two/{name}/{key}"},
        {"name": "m", "parameters": {"w": 64, "fm": "webp"}, "destination_object_key": "two/{name}/{dir}/{stem}.{ext}"}]))

    done = service.jobs("bulk", "--source", "default", "--prefix", "batch/1", "--file", str(tmp_path / "outputs.json"),
                        "--no-job-webhooks", "--no-wait")

    assert done.returncode == 0, done
    bulk_id = done.stdout.strip()
    assert ID.fullmatch(bulk_id), done.stdout
    watched = service.jobs("watch", "--bulk", bulk_id)
    assert watched.returncode == 0, watched
    assert watched.stdout.startswith(f"bulk {bulk_id}: succeeded, 10 listed · succeeded 10 ·")  # batch/10 … 19
    for n in range(10, 20):
        assert size(service.made(f"two/s/batch/{n}.jpg")) == (16, 9)
        assert size(service.made(f"two/m/batch/{n}.webp")) == (64, 36)


def test_a_bulk_the_service_refuses_exits_2_naming_the_field(service):
    done = service.jobs("bulk", "--source", "default", "--prefix", "../etc/", "-p", "w=10")

    assert done.returncode == 2, done
    assert done.stderr.startswith("ims: the service refused the request (400): ") and "prefix" in done.stderr
    assert done.stdout == ""

    done = service.jobs("bulk", "--source", "default", "--prefix", "batch/", "-p", "w=wide")
    assert done.returncode == 2 and "  parameters.w: " in done.stderr, done


def test_watch_a_canceled_bulk_exits_1(tmp_path):
    """No worker: the bulk cannot end by itself; it is canceled through the API, and the watch
    that follows it ends with exit 1."""
    idle = Service(tmp_path / "var", workers=0)
    try:
        for n in range(5):
            idle.original(f"batch/{n}.jpg")
        bulk_id = idle.jobs("bulk", "--source", "default", "--prefix", "batch/", "-p", "w=10",
                            "--no-wait").stdout.strip()
        reply = idle.server.http.post(f"/api/processes/v1/bulk_processes/{bulk_id}/cancel")
        assert reply.status_code == 200, reply.text

        watched = idle.jobs("watch", bulk_id)

        assert watched.returncode == 1, watched
        assert watched.stdout.startswith(f"bulk {bulk_id}: canceled, "), watched.stdout
    finally:
        idle.server.stop()

