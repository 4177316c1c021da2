"""`ims jobs submit | watch` as a user runs them: real `ims jobs …` subprocesses against a real
`ims serve` (SQLite), the results read back from the destination folder.

The bulk command's tests are in test_bulk.py."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import pytest

from tests.support.cli import IMS, run
from tests.support.cli_service import ID, PHOTO, Service, size
from tests.support.procs import BOOTSTRAP_KEY, ImsProcess, free_port, poll


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    s = Service(tmp_path_factory.mktemp("cli-jobs") / "var")
    s.original("photos/a.jpg")
    yield s
    s.server.stop()


# -- submit ---------------------------------------------------------------------------------------


def test_submit_with_flags_follows_the_job_to_its_output_and_exits_0(service):
    done = service.jobs("submit", "--source", "default", "--object-key", "photos/a.jpg",
                        "--param", "w=320", "-p", "fm=webp", "--dest-key", "cli/flags.webp",
                        FORCE_COLOR="1")  # (CI runners set it: still no animation in a log)

    assert done.returncode == 0, done
    [line] = done.stdout.splitlines()
    job_id = ID.search(line).group()
    assert re.fullmatch(rf"job {job_id}: succeeded in [0-9.]+ s → local/cli/flags\.webp "
                        r"\(image/webp, [0-9.]+ (B|KB), 320×180\)", line), line
    assert size(service.made("cli/flags.webp")) == (320, 180)
    assert service.job(job_id)["parameters"] == {"w": "320", "fm": "webp"}
    assert f"job {job_id}: succeeded" in done.stderr  # the progress, on standard error
    assert "\x1b" not in done.stderr + done.stdout  # not a terminal: no animation, no colours


def test_submit_from_a_json_file_with_outputs_flags_beside_it_win(service, tmp_path):
    job = {"source_id": "default",  # a source's name works where the API wants its id
           "object_key": "photos/a.jpg",
           "metadata": {"order": 17},
           "outputs": [{"name": "small", "parameters": {"w": 100}, "destination_object_key": "cli/file/{name}.{ext}"},
                       {"name": "card", "parameters": {"w": 200, "fm": "png"},
                        "destination_object_key": "cli/file/{name}_{w}x{h}.{ext}"}]}
    (tmp_path / "job.json").write_text(json.dumps(job))

    done = service.jobs("submit", "--file", str(tmp_path / "job.json"), "--metadata", '{"order": 18}', "--json")

    assert done.returncode == 0, done
    view = json.loads(done.stdout)
    assert view["status"] == "succeeded" and view["metadata"] == {"order": 18}
    assert [(o["name"], o["width"], o["height"]) for o in view["result"]["outputs"]] == [("small", 100, 56),
                                                                                        ("card", 200, 113)]
    assert size(service.made("cli/file/small.jpg")) == (100, 56)
    assert size(service.made("cli/file/card_200x113.png")) == (200, 113)


def test_submit_from_standard_input_and_a_param_flag_over_the_files_parameters(service):
    job = {"source_id": "default", "object_key": "photos/a.jpg", "parameters": {"w": 500, "fm": "png"},
           "destination_object_key": "cli/stdin.png"}
    done = subprocess.run([str(IMS), "jobs", "submit", "--file", "-", "-p", "w=64"], input=json.dumps(job),
                          env=service.client_env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done
    assert size(service.made("cli/stdin.png")) == (64, 36)


def test_a_job_that_fails_exits_1_with_its_error(service):
    done = service.jobs("submit", "--source", "default", "--object-key", "photos/missing.jpg", "-p", "w=10")

    assert done.returncode == 1, done
    [line] = done.stdout.splitlines()
    assert re.fullmatch(r"job [0-9a-f]{24}: failed after 1 attempt: source_not_found: "
                        r"The source object 'photos/missing.jpg' does not exist", line), line


def test_a_bad_parameter_exits_2_naming_the_parameter_and_queues_nothing(service):
    before = service.job_count()

    done = service.jobs("submit", "--source", "default", "--object-key", "photos/a.jpg", "-p", "w=huge")

    assert done.returncode == 2, done
    assert done.stderr.splitlines() == [
        "ims: the service refused the request (400): w must be an integer 1–8192 or a fraction between 0 and 1, "
        "got 'huge'",
        "  parameters.w: w must be an integer 1–8192 or a fraction between 0 and 1, got 'huge'"]
    assert done.stdout == "" and service.job_count() == before


def test_usage_errors_exit_2_before_any_request(service, tmp_path):
    cases = [
        (("--object-key", "photos/a.jpg"), "ims: --source is required (a source's name or id), or source_id in --file"),
        (("--source", "default"), "ims: --object-key is required (the original's key in the source), or "
                                  "object_key in --file"),
        (("--source", "nowhere", "--object-key", "a.jpg"),
         "ims: this project has no source named 'nowhere' (its sources: default)"),
        (("--source", "default", "--object-key", "a.jpg", "--dest", "elsewhere"),
         "ims: this project has no destination named 'elsewhere' (its destinations: default)"),
        (("--file", str(tmp_path / "none.json")), f"ims: --file: cannot read '{tmp_path / 'none.json'}' "
                                                  "(No such file or directory)"),
    ]
    for args, message in cases:
        done = service.jobs("submit", *args)
        assert (done.returncode, done.stderr.strip(), done.stdout) == (2, message, ""), args

    done = service.jobs("submit", "--source", "default", "--object-key", "a.jpg", "--param", "w")
    assert done.returncode == 2 and "argument --param/-p: expected NAME=VALUE (e.g. w=1600), got 'w'" in done.stderr

    done = run("jobs", "submit", "--source", "default", "--object-key", "a.jpg",
               env={k: v for k, v in service.client_env.items() if k != "IMS_API_KEY"})
    assert done.returncode == 2 and done.stderr.startswith("ims: no API key: pass --key or set IMS_API_KEY")


def test_a_destination_by_name_and_no_wait_prints_the_id_that_watch_then_follows(service):
    done = service.jobs("submit", "--source", "default", "--object-key", "photos/a.jpg", "-p", "w=80",
                        "--dest", "default", "--dest-key", "cli/nowait.jpg", "--no-wait")

    assert done.returncode == 0, done
    job_id = done.stdout.strip()
    assert ID.fullmatch(job_id), done.stdout
    watched = service.jobs("watch", job_id)
    assert watched.returncode == 0, watched
    assert watched.stdout.startswith(f"job {job_id}: succeeded in ")
    assert size(service.made("cli/nowait.jpg")) == (80, 45)
    assert service.job(job_id)["destination_ids"] == [
        service.server.http.get("/api/v1/destinations").json()["response"]["items"][0]["id"]]


# -- watch ----------------------------------------------------------------------------------------


def test_watch_an_ended_job_says_how_it_ended_with_the_exit_code(service):
    failed = service.jobs("submit", "--source", "default", "--object-key", "photos/nope.jpg", "--json")
    job_id = json.loads(failed.stdout)["job_id"]

    watched = service.jobs("watch", job_id)

    assert watched.returncode == 1, watched
    assert watched.stdout.startswith(f"job {job_id}: failed after 1 attempt: source_not_found")
    assert json.loads(service.jobs("watch", job_id, "--json").stdout) == service.job(job_id)


def test_watch_an_id_that_is_nothing_of_this_project_exits_2(service):
    done = service.jobs("watch", "0123456789abcdef01234567")

    assert done.returncode == 2, done
    assert done.stderr.strip() == "ims: this project has no job or bulk process with id '0123456789abcdef01234567'"
    done = service.jobs("watch", "x?status=failed")
    assert (done.returncode, done.stderr.strip()) == (
        2, "ims: an id is 24 hexadecimal digits (a job_id or a bulk_id), got 'x?status=failed'")


def test_watch_follows_a_queued_job_until_a_worker_started_later_ends_it(tmp_path):
    """No worker at first: the watch waits (it has said "queued"); an `ims worker` — another
    process — runs the job, and the watch ends with it, exit 0."""
    idle = Service(tmp_path / "var", workers=0)
    worker = None
    try:
        idle.original("photos/a.jpg")
        job_id = idle.jobs("submit", "--source", "default", "--object-key", "photos/a.jpg", "-p", "w=48",
                           "--no-wait").stdout.strip()
        out, err = tmp_path / "watch.out", tmp_path / "watch.err"
        with open(out, "w") as stdout, open(err, "w") as stderr:
            watch = subprocess.Popen([str(IMS), "jobs", "watch", job_id], env=idle.client_env, stdout=stdout,
                                     stderr=stderr)
        poll(lambda: f"job {job_id}: queued" in err.read_text(), timeout=60, what="the watch to say queued")
        assert watch.poll() is None  # nothing can end the job yet: the watch is still following
        assert idle.job(job_id)["status"] == "queued"

        worker = ImsProcess("worker", {**idle.env, "IMS_WORKERS": "1"}, tmp_path / "worker.log")
        assert watch.wait(90) == 0, (out.read_text(), err.read_text(), worker.output())
        assert out.read_text().startswith(f"job {job_id}: succeeded in ")
        assert size(idle.made("photos/a.jpg")) == (48, 27)
    finally:
        if worker:
            worker.stop()
        idle.server.stop()


def test_watch_rides_out_a_restart_of_the_service(tmp_path):
    """The service stops while a job is followed (no worker yet): the watch says it asks again,
    and when an `ims serve` with a worker is back on the same URL the job ends and so does the watch."""
    first = Service(tmp_path / "var", workers=0)
    again = None
    try:
        first.original("photos/a.jpg")
        job_id = first.jobs("submit", "--source", "default", "--object-key", "photos/a.jpg", "-p", "w=16",
                            "--no-wait").stdout.strip()
        err = tmp_path / "watch.err"
        with open(tmp_path / "watch.out", "w") as stdout, open(err, "w") as stderr:
            watch = subprocess.Popen([str(IMS), "jobs", "watch", job_id], env=first.client_env, stdout=stdout,
                                     stderr=stderr)
        poll(lambda: f"job {job_id}: queued" in err.read_text(), timeout=60, what="the watch to say queued")
        first.server.stop()
        poll(lambda: "asking again for up to 60 s" in err.read_text(), timeout=60, what="the watch to ask again")
        assert watch.poll() is None

        again = ImsProcess("serve", {**first.env, "IMS_WORKERS": "1", "IMS_PORT": str(first.server.port)},
                           tmp_path / "serve-again.log")
        assert watch.wait(90) == 0, (err.read_text(), again.output())
        assert (tmp_path / "watch.out").read_text().startswith(f"job {job_id}: succeeded in ")
    finally:
        if again:
            again.stop()
        first.server.stop()


def test_the_client_needs_no_settings_of_a_server(service):
    """Only IMS_URL and IMS_API_KEY: a server's setting that would stop `ims serve` is not read."""
    done = service.jobs("submit", "--source", "default", "--object-key", "photos/nope.jpg", "--no-wait")
    env = {"PATH": service.client_env["PATH"], "IMS_URL": service.server.url, "IMS_API_KEY": BOOTSTRAP_KEY,
           "IMS_PORT": "not-a-port"}

    watched = subprocess.run([str(IMS), "jobs", "watch", done.stdout.strip()], env=env, capture_output=True,
                             text=True, timeout=120)

    assert watched.returncode == 1 and "failed after 1 attempt: source_not_found" in watched.stdout, watched


# -- the service cannot be used -------------------------------------------------------------------


def test_an_unreachable_url_exits_2_with_one_clear_line(service):
    port = free_port()  # nothing listens there
    for command in (("submit", "--source", "default", "--object-key", "a.jpg"), ("watch", "0123456789abcdef01234567"),
                    ("bulk", "--source", "default", "--prefix", "x/")):
        done = service.jobs(*command, "--url", f"http://127.0.0.1:{port}")
        assert done.returncode == 2, done
        assert done.stderr.strip() == (f"ims: cannot reach http://127.0.0.1:{port} (Connection refused); "
                                       "is `ims serve` running there? (--url or IMS_URL)"), done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""

    done = service.jobs("watch", "0123456789abcdef01234567", "--url", "ftp://127.0.0.1/")
    assert done.returncode == 2 and done.stderr.startswith("ims: --url must be an http(s) URL"), done


def test_a_bad_key_exits_2_saying_where_the_key_comes_from(service):
    done = service.jobs("watch", "0123456789abcdef01234567", "--key", "ims_not_a_key")

    assert done.returncode == 2, done
    assert done.stderr.splitlines() == ["ims: the service refused the request (401): the x-api-key is not valid",
                                        "  the API key comes from --key or IMS_API_KEY"]


def test_a_url_that_is_not_ims_says_so(service, tmp_path):
    """Another web server at --url (here: ims's own console page answers HTML)."""
    done = service.jobs("watch", "0123456789abcdef01234567", "--url", service.server.url + "/console/")

    assert done.returncode == 2, done
    assert "is --url the service's base URL?" in done.stderr and "Traceback" not in done.stderr


# -- on a terminal --------------------------------------------------------------------------------


def test_on_a_terminal_the_progress_is_a_live_bar_and_the_result_still_goes_to_stdout(service):
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([str(IMS), "jobs", "submit", "--source", "default", "--object-key", "photos/a.jpg",
                             "-p", "w=40", "--dest-key", "cli/tty.jpg"],
                            env={**service.client_env, "TERM": "xterm-256color", "COLUMNS": "160"},
                            stdout=subprocess.PIPE, stderr=secondary, text=True)
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the other end closed: the command has ended
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    stdout = proc.stdout.read()
    proc.stdout.close()

    assert proc.wait(30) == 0, (stdout, drawn)
    screen = drawn.decode()
    assert "\x1b[" in screen and "━" in screen  # a drawn, coloured bar …
    assert "1/1" in re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen)  # … that ends full
    assert "succeeded" in screen
    assert stdout.startswith("job ") and "local/cli/tty.jpg" in stdout and "\x1b" not in stdout

