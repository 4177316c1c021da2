"""Background-process benchmark: enqueue latency, end-to-end jobs/s, queue overhead, webhook latency.

    make bench-jobs          # = .venv/bin/python bench/jobs.py
    .venv/bin/python bench/jobs.py --engine sqlite --seconds 10          # a quicker look
    .venv/bin/python bench/jobs.py --workers 4 --per-worker 2 --json bench/out/jobs.json

Flags: ``--engine sqlite|postgresql|both`` (both), ``--seconds`` of work per throughput
phase (20), ``--workers`` `ims worker` processes (2), ``--per-worker`` jobs each runs at
a time (IMS_WORKERS; default: CPU cores), ``--no-s3`` (fs destination only), ``--phases``
(comma-separated subset of enqueue,standard,trivial,latency,outputs,bulk; all), ``--out``
(work dir, bench/out), ``--json FILE``. PostgreSQL must answer on 127.0.0.1:5432 with
trust auth for ``postgres`` (``IMS_BENCH_PG`` points elsewhere); S3 is a SeaweedFS
``weed mini`` started for the run.

For each engine the run builds a whole installation from nothing, the way the
end-to-end tests do (tests/support): a fresh data dir, a fresh database (SQLite
file, or a new PostgreSQL database ``ims_bench_<random>`` dropped at the end),
SeaweedFS S3, a local webhook receiver that records arrival times, `ims serve`
with IMS_WORKERS=0 (API only), an S3 destination beside the default fs one and
a webhook endpoint at the receiver (IMS_ALLOW_PRIVATE_NETWORKS=1,
IMS_CACHE_SIZE_MB=0). Then, one after the other:

1. Enqueue (no worker running, so only the API is measured): single
   ``POST /api/processes/v1/background_processes`` of the seed's request at a fixed
   offered load of 100/s for 10 s, sent from 8 threads at scheduled times (open
   loop); latency counts from the scheduled time, so a stall delays — and is
   charged to — the requests behind it. Target p99 ≤ 25 ms. Then the most it takes
   closed-loop, 8 clients back to back. The jobs queued here are canceled in the
   database afterwards so they do not run in the phases below.
2. Standard job, end to end: the 12 MP JPEG (bench/out/large-12mp.jpg, made once by
   ../shared/testdata/make_large.py) → ``{"w": 1600, "h": 1600}`` → fs + S3 → webhook.
   N jobs (enough for about ``--seconds`` of work) are queued with batch calls, each
   on its own key (hard links of the one file: ims computes identical renders in
   flight once, which a real workload of distinct images would not get), then the
   workers start; jobs/s = N / (first claim → last webhook received). Beside it,
   raw pyvips doing the same work in this process — ``thumbnail_buffer(data, 1600,
   height=1600)`` + ``jpegsave_buffer(Q=75)`` with ims's encoder options (optimised
   Huffman tables, ICC kept) — on workers × per-worker threads for ``--seconds``.
   Target: end-to-end ≥ 0.85 × raw pyvips.
3. Queue overhead: a trivial job (16×16 PNG, no parameters = re-encode only, fs
   destination only, a key per job as above), N ≈ 300 × ``--seconds`` queued in
   batches of 1000; jobs/s from first claim to last webhook. Target ≥ 300/s.
   Every result's reported size and type is checked (a wrong one is noted).
4. Finished → delivered: trivial jobs submitted one by one at 20/s for 10 s to
   running workers (a moderate rate, so this is latency, not backlog); per job,
   the webhook's arrival at the receiver minus the job's ``finished_at``. Target
   p50 ≤ 50 ms. Also shown: queued → started (the claim delay) for the same jobs.
5. Outputs: one job with four outputs of the 12 MP JPEG (w = 1600, 800, 400, 200; fs + S3)
   against four single jobs for the same sizes (the same request each, one size each), N
   of each kind queued and run as above. The figure is the CPU of the worker processes
   *and their pixel processes* (the forkserver children the renders run in) per job with
   four outputs, against per four single jobs, counted once the workers have started and
   run a few warm-up jobs (their pixel processes up: that start-up is the same for both and
   not what a job costs). Target ≤ 0.5×. Every webhook's sizes (the outputs' too) are checked.

6. Bulk enqueue: 20,000 tiny PNGs under ``bulk/`` of an S3 (SeaweedFS) source, one
   ``POST /api/processes/v1/bulk_processes`` for the prefix, the workers running (they list
   and process at once, as in production); objects listed and queued per second =
   listed / (``listed_at`` − ``created_at``), IMS_BULK_PAGE_KEYS at its default. The rest of
   its jobs are canceled once it is listed.

Timestamps from ims (``started_at``, ``finished_at``) and the receiver's arrival
times are both this machine's wall clock. The throughput lines also note the CPU
the worker processes spent per job, and raw pyvips its CPU per operation (user +
system, from /proc and process_time): unlike rates, these hold on a busy machine.
Each engine ends with a table of every figure, its target and whether it is met.
Figures only: nothing here asserts.
Worker and server logs are left in ``--out`` as jobs-<engine>-*.log.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Figures, drive, open_loop, percentile  # noqa: E402  (bench/ is not a package)
from jobs_support import (  # noqa: E402
    JOBS,
    REPO,
    Installation,
    cancel_queued,
    enqueue_batches,
    installation,
    job_times,
    wait_until,
    webhooks_for,
)

BULKS = "/api/processes/v1/bulk_processes"

BENCH = REPO / "bench"
LARGE = "large-12mp.jpg"
LARGE_KEY, TINY_KEY = "bench/large-12mp.jpg", "bench/tiny.png"
BOX, QUALITY = 1600, 75  # the standard job's {"w": 1600, "h": 1600}; ims's default quality
STANDARD_RESULT = (1600, 1200, "image/jpeg")  # 4000×3000 fitted into the box
TRIVIAL_RESULT = (16, 16, "image/png")
ENQUEUE_RATE, ENQUEUE_THREADS, MAX_ENQUEUE_CLIENTS = 100, 8, 8
TRIVIAL_TARGET, LATENCY_RATE = 300, 20
PHASES = ("enqueue", "standard", "trivial", "latency", "outputs", "bulk")
BULK_OBJECTS = 20_000
OUTPUT_WIDTHS = (1600, 800, 400, 200)  # of the 4000×3000 JPEG: 4:3


@dataclass(frozen=True)
class Line:
    """One row of the table: a figure, and the target it is held to (if any)."""

    name: str
    value: float | None
    unit: str
    target: float | None = None
    at_most: bool = False  # the target is an upper bound (latency), not a lower one (rate)
    note: str = ""

    @property
    def met(self) -> str:
        if self.target is None:
            return ""
        if self.value is None or math.isnan(self.value):
            return "n/a"
        ok = self.value <= self.target if self.at_most else self.value >= self.target
        return "yes" if ok else "NO"


# --- the story ---------------------------------------------------------------------------

def main() -> int:
    args = parse_args()
    large = ensure_large_image(args.out).read_bytes()
    tiny = tiny_png()
    print(f"{os.cpu_count()} cores · {args.workers} worker processes × {args.per_worker} jobs · "
          f"{args.seconds:g} s per throughput phase · S3 {'off' if args.no_s3 else 'on'}", flush=True)
    warn_if_busy()

    results = {engine: bench_engine(engine, args, large, tiny) for engine in engines(args.engine)}

    for engine, lines in results.items():
        print_table(engine, args, lines)
    if args.json:
        write_json(args.json, args, results)
    return 0


def bench_engine(engine: str, args: argparse.Namespace, large: bytes, tiny: bytes) -> list[Line]:
    print(f"== {engine}: starting a fresh installation …", flush=True)
    with installation(engine, args.out, use_s3=not args.no_s3) as inst:
        inst.put_original(LARGE_KEY, large)
        inst.put_original(TINY_KEY, tiny)
        phases = {"enqueue": lambda: measure_enqueue(inst, args),
                  "standard": lambda: measure_standard(inst, args, large),
                  "trivial": lambda: measure_trivial(inst, args),
                  "latency": lambda: measure_delivery_latency(inst, args),
                  "outputs": lambda: measure_outputs(inst, args),
                  "bulk": lambda: measure_bulk(inst, args, tiny)}
        return [line for name in args.phases for line in phases[name]()]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--seconds", type=float, default=20.0, help="work per throughput phase (20)")
    p.add_argument("--workers", type=int, default=2, help="`ims worker` processes (2)")
    p.add_argument("--per-worker", type=int, default=os.cpu_count() or 1,
                   help="jobs each worker runs at a time, IMS_WORKERS (CPU cores)")
    p.add_argument("--no-s3", action="store_true", help="fs destination only, no SeaweedFS")
    p.add_argument("--phases", default=",".join(PHASES),
                   help=f"comma-separated, in this order: {','.join(PHASES)} (all)")
    p.add_argument("--out", type=Path, default=BENCH / "out", help="work directory (bench/out)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asked = args.phases.split(",")
    if unknown := set(asked) - set(PHASES):
        p.error(f"--phases: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PHASES)}")
    args.phases = [name for name in PHASES if name in asked]
    args.short = min(10.0, args.seconds)  # the fixed-rate phases: enqueue and delivery latency
    return args


def warn_if_busy() -> None:
    """Everything here shares the machine's cores; a busy machine makes every figure worse."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average before the run: {load:.2f}"
          + (f" — the machine is busy (> {cores / 2:g}); figures will be noisy" if load > cores / 2 else "")
          + "\n", flush=True)


def engines(choice: str) -> list[str]:
    return ["sqlite", "postgresql"] if choice == "both" else [choice]


# --- 1. enqueue ----------------------------------------------------------------------------

def measure_enqueue(inst: Installation, args) -> list[Line]:
    """Single submissions with no worker running: the API and the database insert, nothing else."""
    item = standard_item(inst, LARGE_KEY, "enqueue/x.jpg")

    def submit() -> str | None:
        status, body = inst.api.post(JOBS, item)
        return None if status == 202 else f"HTTP {status}: {body.get('message')}"

    print(f"  enqueue: warm-up, then {ENQUEUE_RATE}/s for {args.short:g} s (open loop) …", flush=True)
    drive(lambda _i: submit(), ENQUEUE_THREADS, 1.0)
    steady = open_loop(submit, ENQUEUE_RATE, args.short, ENQUEUE_THREADS)
    print(f"  enqueue: {MAX_ENQUEUE_CLIENTS} clients back to back for {args.short:g} s …", flush=True)
    flat_out = drive(lambda _i: submit(), MAX_ENQUEUE_CLIENTS, args.short)
    canceled = cancel_queued(inst.database_url)
    print(f"  enqueue: canceled the {canceled} jobs it queued", flush=True)
    return [
        Line(f"enqueue p50 at {ENQUEUE_RATE}/s offered", steady.p50_ms, "ms"),
        Line(f"enqueue p99 at {ENQUEUE_RATE}/s offered", steady.p99_ms, "ms", 25, at_most=True),
        Line("enqueue rate achieved", steady.rate, "/s", note=_errors(steady)),
        Line(f"enqueue max, {MAX_ENQUEUE_CLIENTS} clients closed loop", flat_out.rate, "/s",
             note=f"p50 {flat_out.p50_ms:.1f} ms, p99 {flat_out.p99_ms:.1f} ms" + _errors(flat_out, ", ")),
    ]


def standard_item(inst: Installation, object_key: str, destination_key: str) -> dict:
    """The seed's request: a 12 MP JPEG into a 1600×1600 box, every destination."""
    return {"source_id": inst.source_id, "object_key": object_key,
            "parameters": {"w": BOX, "h": BOX}, "destination_object_key": destination_key}


# --- 2. the standard job, end to end, against raw pyvips -------------------------------------

def measure_standard(inst: Installation, args, large: bytes) -> list[Line]:
    threads = args.workers * args.per_worker
    print(f"  raw pyvips: {threads} threads for {args.seconds:g} s …", flush=True)
    raw, raw_cpu = raw_pyvips(large, threads, args.seconds)
    count = max(threads * 4, math.ceil(raw.rate * args.seconds))
    keys = inst.copies(LARGE_KEY, "standard", count)
    items = [standard_item(inst, key, f"standard/{i}.jpg") for i, key in enumerate(keys)]
    print(f"  standard: {count} jobs (12 MP JPEG → {BOX}×{BOX}, fs{'' if args.no_s3 else ' + S3'}) …",
          flush=True)
    run = run_jobs(inst, "standard", items, args, expect=STANDARD_RESULT)
    ratio = run.rate / raw.rate if raw.rate else float("nan")
    return [
        Line("standard job end to end", run.rate, "jobs/s", note=run.note),
        Line("raw pyvips, same op, same concurrency", raw.rate, "ops/s",
             note=f"CPU {raw_cpu * 1000:.0f} ms/op" + _errors(raw, ", ")),
        Line("end to end / raw pyvips", ratio, "×", 0.85),
    ]


def raw_pyvips(data: bytes, threads: int, seconds: float) -> tuple[Figures, float]:
    """thumbnail + JPEG save in this process, ``threads`` at a time (libvips releases the GIL);
    the figures, and the CPU seconds per operation."""
    pyvips.cache_set_max(0)  # as in ims: every call decodes

    def render(_index: int) -> str | None:
        image = pyvips.Image.thumbnail_buffer(data, BOX, height=BOX)
        keep = pyvips.enums.ForeignKeep.ICC if image.get_typeof("icc-profile-data") \
            else pyvips.enums.ForeignKeep.NONE
        image.jpegsave_buffer(Q=QUALITY, optimize_coding=True, keep=keep)  # as ims encodes JPEG
        return None

    drive(render, threads, 2.0)  # warm-up
    cpu = time.process_time()
    figures = drive(render, threads, seconds)
    return figures, (time.process_time() - cpu) / max(1, figures.ok)


# --- 3. queue overhead ---------------------------------------------------------------------

def measure_trivial(inst: Installation, args) -> list[Line]:
    count = max(1000, round(TRIVIAL_TARGET * args.seconds / 1000) * 1000)
    keys = inst.copies(TINY_KEY, "trivial", count)
    items = [trivial_item(inst, key, f"trivial/{i}.png") for i, key in enumerate(keys)]
    print(f"  trivial: {count} jobs (16×16 PNG re-encoded, fs only) …", flush=True)
    run = run_jobs(inst, "trivial", items, args, expect=TRIVIAL_RESULT)
    return [
        Line("trivial job throughput", run.rate, "jobs/s", TRIVIAL_TARGET, note=run.note),
        Line("batch enqueue (1000 a call)", run.enqueued_per_second, "jobs/s"),
    ]


def trivial_item(inst: Installation, object_key: str, destination_key: str) -> dict:
    return {"source_id": inst.source_id, "object_key": object_key, "destination_object_key": destination_key,
            "destination_ids": [inst.fs_destination]}


def tiny_png() -> bytes:
    return pyvips.Image.black(16, 16).new_from_image([200, 30, 30]).pngsave_buffer()


# --- 5. one job with four outputs against four single jobs ----------------------------------

def measure_outputs(inst: Installation, args) -> list[Line]:
    count = max(2 * args.workers * args.per_worker, round(args.seconds * 3))  # (start-up CPU spread thin)
    keys = inst.copies(LARGE_KEY, "outputs", count)
    items = [{"source_id": inst.source_id, "object_key": key,
              "outputs": [{"parameters": {"w": w}, "destination_object_key": f"outputs/{i}/{w}.jpg"}
                          for w in OUTPUT_WIDTHS]} for i, key in enumerate(keys)]
    print(f"  outputs: {count} jobs with {len(OUTPUT_WIDTHS)} outputs each (12 MP JPEG → w "
          f"{', '.join(map(str, OUTPUT_WIDTHS))}) …", flush=True)
    warm_up = [{"source_id": inst.source_id, "object_key": LARGE_KEY, "parameters": {"w": 100 + i},
                "destination_object_key": f"warm-up/{i}.jpg"} for i in range(4 * args.workers * args.per_worker)]
    several = run_jobs(inst, "outputs", items, args, expect=_sized(OUTPUT_WIDTHS[0]),
                       outputs=[_sized(w) for w in OUTPUT_WIDTHS], warm_up=warm_up)
    keys = inst.copies(LARGE_KEY, "singles", count)
    singles = [{"source_id": inst.source_id, "object_key": key, "parameters": {"w": w},
                "destination_object_key": f"singles/{i}/{w}.jpg"} for i, key in enumerate(keys) for w in OUTPUT_WIDTHS]
    print(f"  outputs: {len(singles)} single jobs, the same sizes …", flush=True)
    alone = run_jobs(inst, "singles", singles, args, expect=[_sized(w) for _ in keys for w in OUTPUT_WIDTHS],
                     warm_up=warm_up)
    per_job = several.tree_cpu / max(1, several.delivered)
    per_four = alone.tree_cpu / max(1, alone.delivered) * len(OUTPUT_WIDTHS)
    return [
        Line(f"one job, {len(OUTPUT_WIDTHS)} outputs: CPU per job", per_job * 1000, "ms",
             note=f"{several.rate:.2f} jobs/s; " + several.note),
        Line(f"{len(OUTPUT_WIDTHS)} single jobs, same sizes: CPU per {len(OUTPUT_WIDTHS)}", per_four * 1000, "ms",
             note=f"{alone.rate:.2f} jobs/s; " + alone.note),
        Line(f"{len(OUTPUT_WIDTHS)} outputs / {len(OUTPUT_WIDTHS)} single jobs (CPU)",
             per_job / per_four if per_four else float("nan"), "×", 0.5, at_most=True),
    ]


def _sized(width: int) -> tuple[int, int, str]:
    return width, width * 3 // 4, "image/jpeg"


# --- queued work, timed from first claim to last webhook -------------------------------------

@dataclass(frozen=True)
class JobRun:
    count: int
    delivered: int
    failed: int
    seconds: float  # first claim → last webhook received
    enqueue_seconds: float
    worker_cpu: float  # seconds of CPU the worker processes used for all the jobs
    wrong: int  # succeeded, but the reported result is not the expected size or type
    tree_cpu: float = 0.0  # worker_cpu with the workers' pixel processes

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else float("nan")

    @property
    def enqueued_per_second(self) -> float:
        return self.count / self.enqueue_seconds if self.enqueue_seconds else float("nan")

    @property
    def note(self) -> str:
        parts = [f"{self.count} jobs in {self.seconds:.1f} s, worker CPU "
                 f"{self.worker_cpu / max(1, self.delivered) * 1000:.1f} ms/job"]
        if self.delivered < self.count:
            parts.append(f"{self.count - self.delivered} never reported")
        if self.failed:
            parts.append(f"{self.failed} FAILED")
        if self.wrong:
            parts.append(f"{self.wrong} WRONG RESULT")
        return ", ".join(parts)


def run_jobs(inst: Installation, label: str, items: list[dict], args, *,
             expect: tuple[int, int, str] | list[tuple[int, int, str]], ims: Path | None = None,
             outputs: list[tuple[int, int, str]] | None = None, warm_up: list[dict] | None = None) -> JobRun:
    """Queue ``items`` with no worker running, start the workers (``ims``: another checkout's
    executable), wait for every webhook; ``expect`` is each result's (width, height, mime), or a
    list of them (one per item); ``outputs`` each output's, for jobs with outputs. With
    ``warm_up``, the workers first run those jobs, and the CPU is counted from their end (the
    pixel processes then run; ``items`` are queued to running workers)."""
    if warm_up:
        inst.start_workers(label, args.workers, args.per_worker, ims)
        webhooks_for(inst.receiver, set(enqueue_batches(inst.api, warm_up)[0]), timeout=300.0)
        inst.mark_cpu()
        ids, enqueue_seconds = enqueue_batches(inst.api, items)
    else:
        ids, enqueue_seconds = enqueue_batches(inst.api, items)
        inst.start_workers(label, args.workers, args.per_worker, ims)
    hooks = webhooks_for(inst.receiver, set(ids), timeout=max(300.0, len(ids) / 5))  # ≥ 5 jobs/s
    worker_cpu, tree_cpu = inst.worker_cpu_seconds(), inst.worker_tree_cpu_seconds()
    inst.stop_workers()
    expected = dict(zip(ids, expect if isinstance(expect, list) else [expect] * len(ids)))
    started = [t.started for t in job_times(inst.api, set(ids)).values() if t.started]
    first_claim = min(started) if started else float("nan")
    last_hook = max((hook.at for hook in hooks.values()), default=float("nan"))
    failed = sum(1 for hook in hooks.values() if hook.status_code != 200)
    wrong = sum(1 for job_id, hook in hooks.items() if hook.status_code == 200 and (
        (hook.response["width"], hook.response["height"], hook.response["mime"]) != expected[job_id]
        or outputs is not None and [(o["width"], o["height"], o["mime"]) for o in hook.response["outputs"]] != outputs))
    return JobRun(len(ids), len(hooks), failed, last_hook - first_claim, enqueue_seconds, worker_cpu, wrong,
                  tree_cpu)


# --- 6. bulk enqueue ---------------------------------------------------------------------

def measure_bulk(inst: Installation, args, tiny: bytes) -> list[Line]:
    """Objects listed from S3 and queued as jobs per second, by one bulk process."""
    if inst.seaweed is None:
        return [Line("bulk: objects listed and queued", None, "/s", note="needs S3 (without --no-s3)")]
    bucket = inst.seaweed.create_bucket("ims-bench-bulk-" + secrets.token_hex(4))
    client = inst.seaweed.client()
    print(f"  bulk: putting {BULK_OBJECTS} objects into SeaweedFS …", flush=True)
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda i: client.put_object(Bucket=bucket, Key=f"bulk/{i // 1000:02}/{i:05}.png", Body=tiny,
                                                  ContentType="image/png"), range(BULK_OBJECTS)))
    status, made = inst.api.post("/api/v1/sources", {"name": "bulk-s3", "kind": "s3", "bucket": bucket,
                                                     "endpoint_url": inst.seaweed.endpoint_url,
                                                     "region": inst.seaweed.region, **inst.seaweed.credentials})
    if status != 201:
        raise RuntimeError(f"bulk source: HTTP {status} {made}")
    inst.start_workers("bulk", args.workers, args.per_worker)
    status, started = inst.api.post(BULKS, {"source_id": made["response"]["id"], "prefix": "bulk/",
                                           "job_webhooks": False, "destination_ids": [inst.fs_destination]})
    if status != 202:
        raise RuntimeError(f"bulk: HTTP {status} {started}")
    bulk_id = started["response"]["bulk_id"]
    print(f"  bulk: listing {BULK_OBJECTS} objects …", flush=True)
    seen: list[dict] = []
    wait_until(lambda: seen.append(inst.api.get(f"{BULKS}/{bulk_id}")[1]["response"]) or seen[-1]["listed_at"],
               600, "the bulk listed")
    view = seen[-1]
    inst.api.post(f"{BULKS}/{bulk_id}/cancel", {})
    inst.stop_workers()
    seconds = (_when(view["listed_at"]) - _when(view["created_at"])).total_seconds()
    listed = view["counts"]["listed"]
    return [Line("bulk: objects listed and queued from S3", listed / seconds if seconds else None, "/s",
                 note=f"{listed} objects in {seconds:.1f} s, workers running"
                      + ("" if listed == BULK_OBJECTS else f"; {BULK_OBJECTS - listed} MISSING"))]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- 4. finished → delivered --------------------------------------------------------------

def measure_delivery_latency(inst: Installation, args) -> list[Line]:
    print(f"  latency: trivial jobs at {LATENCY_RATE}/s for {args.short:g} s to running workers …",
          flush=True)
    inst.start_workers("latency", args.workers, args.per_worker)
    keys = iter(inst.copies(TINY_KEY, "latency", int(LATENCY_RATE * args.short)))
    ids: list[str] = []

    def submit() -> str | None:
        key = next(keys)
        status, body = inst.api.post(JOBS, trivial_item(inst, key, key))
        if status != 202:
            return f"HTTP {status}: {body.get('message')}"
        ids.append(body["response"]["job_id"])
        return None

    sent = open_loop(submit, LATENCY_RATE, args.short, 2)
    hooks = webhooks_for(inst.receiver, set(ids), timeout=120)
    inst.stop_workers()
    times = job_times(inst.api, set(ids))
    delivered = [(hook.at - times[j].finished) * 1000 for j, hook in hooks.items()
                 if times.get(j) and times[j].finished]
    claimed = [(t.started - t.created) * 1000 for t in times.values() if t.started]
    note = f"{len(delivered)} of {len(ids)} jobs" + _errors(sent, ", ")
    return [
        Line("finished → webhook received p50", percentile(delivered, 50), "ms", 50, at_most=True, note=note),
        Line("finished → webhook received p99", percentile(delivered, 99), "ms"),
        Line("queued → started (claim delay) p50", percentile(claimed, 50), "ms"),
        Line("queued → started (claim delay) p99", percentile(claimed, 99), "ms"),
    ]


# --- output --------------------------------------------------------------------------------

def print_table(engine: str, args, lines: list[Line]) -> None:
    print(f"\n{engine} — {os.cpu_count()} cores, {args.workers} worker processes × {args.per_worker} "
          f"jobs, S3 {'off' if args.no_s3 else 'on'}, load average now {os.getloadavg()[0]:.2f}")
    print(f"  {'figure':<42} {'value':>14}  {'target':<12} {'met':<4} note")
    for line in lines:
        print(f"  {line.name:<42} {_value(line.value, line.unit):>14}  {_target(line):<12} "
              f"{line.met:<4} {line.note}".rstrip())


def _value(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "—"
    digits = 2 if unit == "×" or abs(value) < 10 else 1 if abs(value) < 1000 else 0
    return f"{value:.{digits}f} {unit}" if unit != "×" else f"{value:.2f}×"


def _target(line: Line) -> str:
    if line.target is None:
        return ""
    return ("≤ " if line.at_most else "≥ ") + (f"{line.target:g}×" if line.unit == "×"
                                                else f"{line.target:g} {line.unit}")


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 3)


def _errors(figures: Figures, sep: str = "") -> str:
    if not figures.errors:
        return ""
    return f"{sep}{figures.errors} errors, first: {figures.first_error[:120]}"


def write_json(path: Path, args, results: dict[str, list[Line]]) -> None:
    doc = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "libvips": ".".join(str(pyvips.version(i)) for i in range(3))},
        "settings": {"workers": args.workers, "per_worker": args.per_worker, "seconds": args.seconds,
                     "s3": not args.no_s3},
        "engines": {engine: [{**asdict(line), "value": _finite(line.value), "met": line.met} for line in lines]
                    for engine, lines in results.items()},
    }
    path.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {path}")


# --- the test image ----------------------------------------------------------------------

def ensure_large_image(out: Path) -> Path:
    """The 12 MP test JPEG, generated once by make_large.py into ``out`` (shared with ondemand.py)."""
    image = out / LARGE
    if not image.exists():
        make_large = REPO.parent / "shared" / "testdata" / "make_large.py"
        print(f"generating test images into {out} (once, about a minute) …", flush=True)
        subprocess.run([sys.executable, str(make_large), str(out)], check=True)
    return image


if __name__ == "__main__":
    sys.exit(main())
