"""The hostile-input suite (issue 9, acceptance): every corpus file and every crafted file
(tests/support/attacks.py) × a handful of parameter sets, on demand and as background jobs.

For every answer: a status below 500, within the processing limit + 2 s; the server stays
up, its memory comes back down, and no hostile file makes it read a local file or fetch a
URL. Every failure is collected and reported in one assertion message, so one run shows
the whole picture (file, parameters, status, seconds, message).

A watch kills the server when its process tree passes ``RSS_CAP_MB``: a memory bomb under
test must not take the machine down; that is reported as a failure like any other.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import pyvips

from tests.support.attacks import TARGETED, Canary, crafted
from tests.support.procs import ImsProcess, Server, ims_env
from tests.support.receiver import Receiver
from tests.support.rss import RssWatch, tree_pss_mb
from tests.support.testdata import IMAGES

pytestmark = pytest.mark.slow

# IMS_PROCESS_SECONDS for the servers under test. Not lower: on this 2-core VM ordinary work —
# a 12 MP photo with blur, rotation and PNG out, or trim — takes 5–6 s, and past the limit the
# right answer is a 503 (SPEC §2). The limit's own enforcement (kill within limit + 1 s) is
# tested with small limits in tests/test_pool.py; here every hostile file must be answered,
# refused or rendered, well inside it.
LIMIT = 10
SLACK = 2  # the issue: "every answer within the processing limit + 2 s"
CLIENTS = 2  # concurrent clients: the pixel pool's size on this 2-core machine, so no answer waits in a queue
RSS_CAP_MB = 3072  # above this the tree is killed (and the run fails)
RSS_SETTLED_MB = 400  # after the run, idle: the tree's PSS back within this of the warm start
WARM = "photos/cardinal-2mp.jpg"  # warms the pixel pool: every child started before the baseline
WARM_JOBS = 2
BOMB_SETTLED_MB = 100  # the issue's own figure for 20 requests of its metadata bomb
ANSWER_WITHIN = LIMIT + SLACK + 5  # the client gives up here: later than this is a failure anyway

PARAMETER_SETS = (
    "",
    "w=300&h=300&fit=crop&fm=webp",
    "w=64&fm=avif",
    "trim=auto&w=50",
    "fm=json",
    "blur=50&sharp=20&pad=10&rot=45&fm=png",
)
JOB_PARAMETER_SETS = ({"w": 1600, "h": 1600}, {"trim": "auto", "w": 50})  # the seed's, and the one issue 8 names
BUDGET = 600  # seconds of requests (or of waiting for jobs) before the rest is reported as not run
WORKER_DEATHS = 5  # restarts of a dead worker before the job run gives up
JOBS_URL = "/api/processes/v1/background_processes"


@dataclass
class Installation:
    data_dir: Path
    canary: Receiver  # a hostile file must never make ims request anything from it
    leaky: frozenset[str]  # keys whose plain render must be a white image
    refuse: dict[str, tuple[int, ...]]  # keys that must be refused (4xx), with the usual status
    keys: tuple[str, ...]

    def env(self, **extra: str) -> dict[str, str]:
        return ims_env(self.data_dir, f"sqlite:///{self.data_dir}/ims.db", IMS_PROCESS_SECONDS=str(LIMIT),
                       IMS_CACHE_SIZE_MB="0", **extra)


@pytest.fixture
def installation(tmp_path):
    """A data dir whose default fs source holds the corpus (as laid out) and crafted/."""
    canary = Receiver().start()
    data_dir = tmp_path / "var"
    root = data_dir / "sources" / "default"
    keys = []
    for path in sorted(IMAGES.rglob("*")):
        if path.is_file() and path.suffix not in (".tsv", ".md"):
            key = path.relative_to(IMAGES).as_posix()
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, root / key)
            keys.append(key)
    (root / "crafted").mkdir(parents=True)
    leaky, refuse = set(), {}
    for item in crafted(Canary.write(tmp_path / "canary", canary.url)):
        (root / "crafted" / item.name).write_bytes(item.data)
        keys.append(f"crafted/{item.name}")
        if item.leaks:
            leaky.add(f"crafted/{item.name}")
        if item.refuse:
            refuse[f"crafted/{item.name}"] = item.refuse
    procs: list[ImsProcess] = []
    yield Installation(data_dir, canary, frozenset(leaky), refuse, tuple(keys)), procs
    for proc in procs:
        proc.kill()
    canary.stop()


@dataclass
class Answer:
    key: str
    query: str
    accept: str | None
    status: int | None  # None: no answer (connection lost or client timeout)
    seconds: float
    message: str
    content_type: str = ""
    body: bytes = b""

    def line(self, why: str) -> str:
        accept = f" [Accept: {self.accept}]" if self.accept else ""
        return f"{self.key}?{self.query}{accept} → {self.status} in {self.seconds:.1f} s: {why}: {self.message[:200]}"


def _ask(client: httpx.Client, key: str, query: str, accept: str | None) -> Answer:
    headers = {"accept": accept} if accept else {}
    started = time.monotonic()
    try:
        reply = client.get(f"/default/{quote(key)}" + (f"?{query}" if query else ""), headers=headers)
    except httpx.HTTPError as e:
        return Answer(key, query, accept, None, time.monotonic() - started, f"{type(e).__name__}: {e}")
    seconds = time.monotonic() - started
    kind = reply.headers.get("content-type", "")
    message = ""
    if reply.status_code >= 300:
        try:
            message = reply.json().get("message", reply.text)
        except ValueError:
            message = reply.text
    return Answer(key, query, accept, reply.status_code, seconds, message, kind, reply.content)


def _problems(answer: Answer, leaky: frozenset[str], refuse: dict[str, tuple[int, ...]]) -> list[str]:
    """What is wrong with one answer (an empty list when nothing is)."""
    if answer.status is None:
        return [answer.line("no answer")]
    out = []
    if answer.status >= 500:
        out.append(answer.line("5xx"))
    # any 4xx refuses (a budget's 400 may come before the decoder's 422); fm=json reads the header
    # alone: metadata of a file too big or too broken to render may be fine
    elif answer.key in refuse and answer.status < 400 and "fm=json" not in answer.query:
        out.append(answer.line(f"must be refused ({' or '.join(map(str, refuse[answer.key]))})"))
    if answer.seconds > LIMIT + SLACK:
        out.append(answer.line(f"slower than the processing limit + {SLACK} s"))
    if answer.status == 200 and "fm=json" in answer.query:
        try:
            json.loads(answer.body, parse_constant=_no_constant)
        except ValueError as e:
            out.append(answer.line(f"fm=json answer is not JSON ({e})"))
    if answer.status == 200 and answer.key in leaky and not answer.query:
        try:
            image = pyvips.Image.new_from_buffer(answer.body, "")
            darkest = image.flatten(background=255).min() if image.hasalpha() else image.min()
        except pyvips.Error as e:
            out.append(answer.line(f"200 but not an image ({e})"))
        else:
            if darkest < 200:
                out.append(answer.line(f"a reference was followed: the white image has a pixel of {darkest:.0f}"))
    return out


def _no_constant(name: str):
    raise ValueError(f"bare {name}")


def _requests(keys) -> list[tuple[str, str, str | None]]:
    every = [(key, query, None) for key in keys for query in PARAMETER_SETS]
    return every + [(t.key, t.query, t.accept) for t in TARGETED]


class Fleet:
    """The server under test, watched; when it dies (a crash, or the RSS cap) the death is
    recorded against the requests in flight and a fresh one takes over, so that one fatal
    file does not hide what every later file does."""

    def __init__(self, inst: Installation, procs: list) -> None:
        self.inst, self.procs = inst, procs
        self.lock = threading.Lock()
        self.deaths: list[str] = []
        self.peak_mb = 0.0
        self._start()

    def _start(self) -> None:
        self.server = Server(self.inst.env(IMS_WORKERS="0"), self.inst.data_dir / f"serve-{len(self.procs)}.log")
        self.procs.append(self.server)
        with ThreadPoolExecutor(CLIENTS) as pool:  # warm: libraries loaded, every pixel child started
            warm = list(pool.map(lambda w: self.server.http.get(f"/default/{WARM}?w={w}").status_code,
                                 range(40, 40 + CLIENTS)))
        assert warm == [200] * CLIENTS
        self.start_mb = tree_pss_mb(self.server.proc.pid)
        self.watch = RssWatch(self.server.proc.pid, RSS_CAP_MB).__enter__()

    def died(self, server: Server, stuck: str | None = None) -> str:
        """Why ``server`` is gone; the first caller records it and starts the next one.

        ``stuck``: the server still runs but left a request unanswered; it is killed, because
        the work it abandoned would hold the pixel pool and slow every later request.
        """
        with self.lock:
            if server is self.server:
                self.watch.__exit__()
                self.peak_mb = max(self.peak_mb, self.watch.peak_mb)
                server.kill()
                cause = (stuck or (f"RSS cap: the tree reached {self.watch.tripped:.0f} MB and was killed"
                                   if self.watch.tripped else
                                   f"ims serve exited with {server.proc.returncode}: {server.output()[-600:]!r}"))
                self.deaths.append(cause)
                self._start()
            return self.deaths[-1]

    def stop_watching(self) -> None:
        self.watch.__exit__()
        self.peak_mb = max(self.peak_mb, self.watch.peak_mb)


def _exited(server: Server, within: float = 2) -> bool:
    """Whether the process is gone (a lost connection can come a moment before the exit status)."""
    try:
        server.proc.wait(within)
    except subprocess.TimeoutExpired:
        return False
    return True


def _run_on_demand(fleet: Fleet, requests) -> list[Answer]:
    local = threading.local()
    clients: list[httpx.Client] = []
    deadline = time.monotonic() + BUDGET

    def ask(request):
        if time.monotonic() > deadline:
            return Answer(*request, None, 0.0, f"not sent: the suite's budget of {BUDGET} s was spent")
        first_death = None
        while True:
            server = fleet.server
            if getattr(local, "server", None) is not server:
                local.server, local.client = server, httpx.Client(base_url=server.url, timeout=ANSWER_WITHIN)
                clients.append(local.client)
            answer = _ask(local.client, *request)
            if answer.status is not None:
                if first_death:
                    answer.message += f" (answered on a fresh server after: {first_death})"
                return answer
            if "Timeout" in answer.message:
                name = f"{request[0]}?{request[1]}"
                fleet.died(server, stuck=f"{name} got no answer within {ANSWER_WITHIN} s: server killed")
                answer.message = f"no answer within {ANSWER_WITHIN} s (the server was killed and restarted)"
                return answer
            if not _exited(server):
                return answer
            cause = fleet.died(server)
            if first_death:  # died again with this request in flight: it is the one
                answer.message = f"the server died twice with this request in flight: {first_death}; {cause}"
                return answer
            first_death = cause  # maybe the other client's request: ask once more on the fresh server

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(ask, requests))
    for client in clients:
        client.close()
    return answers


def _write_answers(path: Path, answers: list[Answer]) -> None:
    """Every answer, one a line (file, query, status, seconds, message): the run's record for a human."""
    path.write_text("".join(f"{a.key}\t{a.query}\t{a.accept or ''}\t{a.status}\t{a.seconds:.2f}\t"
                            f"{a.message[:300]!r}\n" for a in answers))


def _settled(pid: int, start: float, within: float, timeout: float = 15) -> float:
    """Poll the tree's RSS until it is within ``within`` MB of ``start``; the last value either way."""
    deadline = time.monotonic() + timeout
    while True:
        rss = tree_pss_mb(pid)
        if rss <= start + within or time.monotonic() > deadline:
            return rss
        time.sleep(0.25)


def _report(title: str, failures: list[str], log: str) -> str:
    return f"{title}: {len(failures)} failure(s)\n" + "\n".join(failures) + f"\n--- server log (end)\n{log[-3000:]}"


@pytest.mark.timeout(BUDGET + 300)
def test_every_file_on_demand_answers_below_500_within_the_limit(installation):
    inst, procs = installation
    fleet = Fleet(inst, procs)
    began = time.monotonic()
    answers = _run_on_demand(fleet, _requests(inst.keys))
    wall = time.monotonic() - began
    fleet.stop_watching()
    _write_answers(inst.data_dir / "answers.tsv", answers)

    failures = [p for a in answers for p in _problems(a, inst.leaky, inst.refuse)]
    failures += [f"ims serve died {len(fleet.deaths)} time(s): " + "; ".join(fleet.deaths)] if fleet.deaths else []
    server = fleet.server
    if server.proc.poll() is None:
        after = _settled(server.proc.pid, fleet.start_mb, RSS_SETTLED_MB)
        if after > fleet.start_mb + RSS_SETTLED_MB:
            failures.append(f"RSS {fleet.start_mb:.0f} MB before, {after:.0f} MB idle after "
                            f"(peak {fleet.peak_mb:.0f} MB): more than {RSS_SETTLED_MB} MB kept")
    failures += [f"canary URL was requested: {r.method} {r.path}" for r in inst.canary.requests]
    slowest = sorted(answers, key=lambda a: -a.seconds)[:5]
    title = (f"{len(answers)} requests ({len(inst.keys)} files × {len(PARAMETER_SETS)} parameter sets + "
             f"{len(TARGETED)} targeted) in {wall:.0f} s, peak RSS {fleet.peak_mb:.0f} MB; slowest: "
             + ", ".join(f"{a.key}?{a.query} {a.seconds:.1f} s" for a in slowest))
    assert not failures, _report(title, failures, server.output())


@pytest.mark.parametrize("bomb", ["png-ztxt-50x10mb.png", "png-itxt-10x20mb.png"])
def test_metadata_bomb_twenty_times_gives_its_memory_back(installation, bomb):
    """Issue 6: the zTXt bomb it names (this libvips drops zTXt) and the same attack in XMP iTXt chunks."""
    inst, procs = installation
    server = Server(inst.env(IMS_WORKERS="0"), inst.data_dir / "serve.log")
    procs.append(server)
    assert server.http.get("/default/png/basn6a08.png").status_code == 200
    start = tree_pss_mb(server.proc.pid)
    failures = []
    with RssWatch(server.proc.pid, RSS_CAP_MB) as watch, httpx.Client(base_url=server.url, timeout=ANSWER_WITHIN) as c:
        for n in range(20):
            answer = _ask(c, f"crafted/{bomb}", "w=64" if n % 2 else "", None)
            failures += _problems(answer, frozenset(), {})
            if answer.status is None or watch.tripped:
                break
    if watch.tripped:
        failures.append(f"server tree RSS reached {watch.tripped:.0f} MB (cap {RSS_CAP_MB} MB): killed")
    elif server.proc.poll() is None:
        after = _settled(server.proc.pid, start, BOMB_SETTLED_MB)
        if after > start + BOMB_SETTLED_MB:
            failures.append(f"RSS {start:.0f} MB before 20 requests, {after:.0f} MB idle after "
                            f"(peak {watch.peak_mb:.0f} MB): not back within {BOMB_SETTLED_MB} MB")
    assert not failures, _report(f"20 × crafted/{bomb}", failures, server.output())


@pytest.mark.timeout(BUDGET + 300)
def test_every_file_as_a_job_ends_with_a_4xx_or_success_and_its_webhook(installation):
    inst, procs = installation
    receiver = Receiver().start()
    try:
        _jobs(inst, procs, receiver)
    finally:
        receiver.stop()


def _jobs(inst: Installation, procs: list, receiver: Receiver) -> None:
    # a short lease: a job held by a worker that died runs again soon (what a restart would do)
    env = inst.env(IMS_WORKERS="0", IMS_JOB_LEASE_SECONDS="5")
    server = Server(env, inst.data_dir / "serve.log")
    procs.append(server)
    assert server.http.post("/api/v1/webhook_endpoints", json={"url": receiver.url + "/hooks"}).status_code == 201
    source_id = server.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    items = [{"source_id": source_id, "object_key": key, "parameters": params,
              "destination_object_key": f"out/{n}/{key}"}
             for key in inst.keys for n, params in enumerate(JOB_PARAMETER_SETS)]

    def start_worker():
        worker = ImsProcess("worker", {**env, "IMS_WORKERS": "2"}, inst.data_dir / f"worker-{len(procs)}.log")
        procs.append(worker)
        return worker, RssWatch(worker.proc.pid, RSS_CAP_MB).__enter__()

    worker, watch = start_worker()
    # Warm: renders too big to run on the worker's loop, two at once, start its pixel children;
    # the tree's memory from here on is the baseline.
    for w in (40, 41):
        warm = server.http.post(JOBS_URL, json={"source_id": source_id, "object_key": WARM, "parameters": {"w": w},
                                                "destination_object_key": f"warm/{w}.jpg"})
        assert warm.status_code == 202, warm.text
    receiver.wait_for(WARM_JOBS, timeout=60)
    start, peak, deaths, logs = tree_pss_mb(worker.proc.pid), 0.0, [], []
    accepted = {}
    for i in range(0, len(items), 1000):
        reply = server.http.post(f"{JOBS_URL}/batch", json={"items": items[i:i + 1000]})
        assert reply.status_code == 200, reply.text
        for result, item in zip(reply.json()["response"]["items"], items[i:i + 1000]):
            assert result["status_code"] == 202, (item, result)
            accepted[result["job_id"]] = item
    deadline = time.monotonic() + BUDGET
    while len(receiver.requests) < WARM_JOBS + len(accepted) and time.monotonic() < deadline:
        if worker.proc.poll() is not None:  # record why, and carry on with a fresh worker
            watch.__exit__()
            peak = max(peak, watch.peak_mb)
            deaths.append(f"RSS cap: the tree reached {watch.tripped:.0f} MB and was killed" if watch.tripped
                          else f"ims worker exited with {worker.proc.returncode}")
            logs.append(worker.output()[-1500:])
            if len(deaths) > WORKER_DEATHS:
                break
            worker, watch = start_worker()
        time.sleep(0.2)
    watch.__exit__()
    peak = max(peak, watch.peak_mb)

    failures = [f"ims worker died {len(deaths)} time(s): " + "; ".join(deaths)] if deaths else []
    if worker.proc.poll() is None:
        after = _settled(worker.proc.pid, start, RSS_SETTLED_MB)
        if after > start + RSS_SETTLED_MB:
            failures.append(f"worker RSS {start:.0f} MB warm, {after:.0f} MB idle after "
                            f"(peak {peak:.0f} MB): more than {RSS_SETTLED_MB} MB kept")

    hooks: dict[str, list[dict]] = {}
    for delivery in receiver.requests:
        body = json.loads(delivery.body)
        hooks.setdefault(body["response"].get("job_id"), []).append(body)
    for job_id, item in accepted.items():
        what = f"job {item['object_key']} {json.dumps(item['parameters'])}"
        job = server.http.get(f"{JOBS_URL}/{job_id}").json()["response"]
        if job["status"] not in ("succeeded", "failed"):
            failures.append(f"{what}: still {job['status']} (attempts {job['attempts']}) at the deadline")
            continue
        took = _seconds(job["finished_at"]) - _seconds(job["started_at"])
        if took > LIMIT + SLACK:
            failures.append(f"{what}: took {took:.1f} s (attempt {job['attempts']})")
        got = hooks.get(job_id, [])
        if len(got) != 1:
            failures.append(f"{what}: {job['status']} with {len(got)} webhooks")
            continue
        body = got[0]
        right = inst.refuse.get(item["object_key"])
        if right and job["status"] == "succeeded":
            failures.append(f"{what}: {job['status']} {body['status_code']}, must be refused ("
                            f"{' or '.join(map(str, right))})")
        if job["status"] == "failed":
            error = body["response"].get("error") or {}
            if not 400 <= body["status_code"] < 500 or error.get("code") == "internal":
                failures.append(f"{what}: failed {body['status_code']} {error.get('code')}: {body['message'][:200]}"
                                f" (attempts {job['attempts']})")
            elif not body["message"] or not error.get("detail"):
                failures.append(f"{what}: failed {body['status_code']} without a clear message: {body}")
    title = (f"{len(accepted)} jobs ({len(inst.keys)} files × {len(JOB_PARAMETER_SETS)} parameter sets), "
             f"{len(receiver.requests) - WARM_JOBS} webhooks, worker peak RSS {peak:.0f} MB")
    failures += [f"canary URL was requested: {r.method} {r.path}" for r in inst.canary.requests]
    assert not failures, _report(title, failures, "\n".join(logs) + worker.output())


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_crafted_files_are_what_they_claim(tmp_path):
    """The generator is deterministic and its bombs are the sizes the issue names."""
    canary = Canary.write(tmp_path, "http://127.0.0.1:9")
    first, again = crafted(canary), crafted(canary)
    assert [f.data for f in first] == [f.data for f in again]
    files = {f.name: f for f in first}
    assert len(files) == len(first) and all(len(f.data) < 600_000 for f in first)
    ztxt = files["png-ztxt-50x10mb.png"].data
    assert 500_000 < len(ztxt) < 530_000 and ztxt.count(b"zTXt") == 50
    truncated = files["jpeg-truncated-sof-9000.jpg"].data
    header = pyvips.Image.new_from_buffer(truncated, "")
    assert len(truncated) == 803 and (header.width, header.height) == (9000, 9000)
    blur = files["svg-blur-8000.svg"].data
    assert len(blur) < 200 and b'stdDeviation="5000"' in blur
    assert pyvips.Image.new_from_buffer(files["gif-10000-frames.gif"].data, "").get("n-pages") == 10_000
    assert pyvips.Image.new_from_buffer(files["tiff-2000-pages.tiff"].data, "").get("n-pages") == 2000
    assert canary.png.as_uri().encode() in files["svg-href-file.svg"].data
    assert {t.key.removeprefix("crafted/") for t in TARGETED if t.key.startswith("crafted/")} <= set(files)
