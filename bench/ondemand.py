"""On-demand benchmark: one 12 MP JPEG fitted into 1600×1600 at JPEG quality 82.

    .venv/bin/python bench/ondemand.py [--seconds 20] [--no-thumbor] [--json out.json]

Measures, in one run and under the same bounded load (2 × CPU cores requests in flight):

  ims uncached            `ims serve`, result cache off; each load thread asks for its own
                          copy of the image, so concurrent requests never coalesce
  ims uncached, one URL   the same, all threads on one URL (identical renders in flight
                          are computed once and shared)
  raw pyvips thumbnail    thumbnail_buffer + jpegsave_buffer in-process, same threads
  raw pyvips shrink       new_from_buffer(shrink=2) + thumbnail_image + jpegsave_buffer
  ims cached              `ims serve` with a 256 MB result cache, warmed by one request
  ims cached, 1 in flight the same with one request at a time: latency without queueing
  thumbor                 thumbor 7 (PIL engine), one process per core, no storages

It prints figures and never asserts them. See bench/README.md for what each line means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402  (bench/ is not a package)
    REPO,
    Figures,
    Reply,
    RssSampler,
    Server,
    drive,
    free_port,
    get,
    http_op,
    ims_server,
    start_server,
    wait_http,
)

BENCH = REPO / "bench"
IMAGE = "large-12mp.jpg"
QUERY = "w=1600&h=1600&q=82"
THUMBOR_PATH = "/unsafe/fit-in/1600x1600/"
EXPECTED = (1600, 1200)
QUALITY = 82


@dataclass
class Row:
    """One line of the table: a system and what it measured (or why it could not)."""

    name: str
    figures: Figures | None = None
    reply_kb: float | None = None
    note: str = ""


# --- the story ---------------------------------------------------------------------------

def main() -> int:
    args = parse_args()
    cores = os.cpu_count() or 1
    concurrency = args.concurrency or 2 * cores
    image = ensure_test_image(args.out, args.make_large)
    data = image.read_bytes()
    print(f"{IMAGE}: {len(data) / 1e6:.1f} MB · {cores} cores · {concurrency} in flight · "
          f"{args.seconds:g} s per line (+{args.warmup:g} s warm-up)")
    warn_if_busy(cores)

    rows = [
        bench_ims(args, image, concurrency, "ims uncached", cache_mb=0, distinct=True),
        bench_ims(args, image, concurrency, "ims uncached, one URL", cache_mb=0, distinct=False),
        bench_raw(args, data, concurrency, "raw pyvips thumbnail", raw_thumbnail),
        bench_raw(args, data, concurrency, "raw pyvips shrink-on-load", raw_shrink_on_load),
        bench_ims(args, image, concurrency, "ims cached", cache_mb=256, distinct=False),
        bench_ims(args, image, 1, "ims cached, 1 in flight", cache_mb=256, distinct=False),
        bench_thumbor(args, image, concurrency, cores),
    ]

    print_table(rows)
    targets = target_lines(rows)
    print_targets(targets)
    if args.json:
        write_json(args.json, rows, targets, cores, concurrency, args.seconds)
    return 0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per line (20)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each (2)")
    p.add_argument("--concurrency", type=int, default=0, help="requests in flight (2 × cores)")
    p.add_argument("--out", type=Path, default=BENCH / "out", help="work directory (bench/out)")
    p.add_argument("--make-large", type=Path, default=REPO.parent / "shared/testdata/make_large.py",
                   help="the test image generator (../shared/testdata/make_large.py)")
    p.add_argument("--no-thumbor", action="store_true", help="skip the thumbor line")
    p.add_argument("--thumbor-venv", type=Path, default=None,
                   help="thumbor's venv (OUT/thumbor-venv; made by bench/setup_thumbor.sh)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    return p.parse_args()


def ensure_test_image(out: Path, make_large: Path) -> Path:
    """The 12 MP test JPEG, generated once by make_large.py into ``out``."""
    image = out / IMAGE
    if not image.exists():
        if not make_large.exists():
            sys.exit(f"no {image} and no generator at {make_large} (see --make-large)")
        print(f"generating test images into {out} (once, about a minute) …", flush=True)
        subprocess.run([sys.executable, str(make_large), str(out)], check=True)
    return image


def warn_if_busy(cores: int) -> None:
    """Other work on the machine skews every line; say so rather than print quiet-looking figures."""
    load = os.getloadavg()[0]
    print(f"load average before the run: {load:.2f}"
          + (f"  — the machine is busy (> {cores / 2:g}); figures will be noisy" if load > cores / 2
             else "") + "\n")


# --- ims ---------------------------------------------------------------------------------

def bench_ims(args, image: Path, concurrency: int, name: str, *, cache_mb: int,
              distinct: bool) -> Row:
    """``ims serve`` in a fresh data dir; ``distinct``: thread i asks for its own copy."""
    print(f"{name}: starting ims serve (IMS_CACHE_SIZE_MB={cache_mb}) …", flush=True)
    with tempfile.TemporaryDirectory(prefix="ims-bench-", dir=args.out) as tmp:
        data_dir = Path(tmp)
        keys = place_copies(image, data_dir / "sources/default", concurrency if distinct else 1)
        log = args.out / f"ims-{'cached' if cache_mb else 'uncached'}.log"
        try:
            with ims_server(data_dir, log, cache_size_mb=cache_mb, workers=0) as server:
                urls = [f"{server.base_url}/default/{key}?{QUERY}" for key in keys]
                return measure_http(args, server, name, urls, concurrency, distinct)
        except RuntimeError as e:
            return Row(name, note=f"could not run: {e}")


def place_copies(image: Path, directory: Path, count: int) -> list[str]:
    """``count`` byte-identical copies of ``image`` under ``directory``; their keys."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = [IMAGE] + [f"{image.stem}-copy{i}{image.suffix}" for i in range(1, count)]
    for key in keys:
        shutil.copyfile(image, directory / key)
    return keys


# --- raw pyvips ----------------------------------------------------------------------------

def raw_thumbnail(data: bytes) -> tuple[bytes, int, int]:
    image = pyvips.Image.thumbnail_buffer(data, EXPECTED[0], height=EXPECTED[0])
    return save_like_ims(image), image.width, image.height


def raw_shrink_on_load(data: bytes) -> tuple[bytes, int, int]:
    image = pyvips.Image.new_from_buffer(data, "", shrink=2, access="sequential")
    image = image.thumbnail_image(EXPECTED[0], height=EXPECTED[0])
    return save_like_ims(image), image.width, image.height


def save_like_ims(image: pyvips.Image) -> bytes:
    """Baseline JPEG, optimised Huffman tables, only the ICC profile kept (as ims encodes)."""
    keep = pyvips.enums.ForeignKeep.ICC if image.get_typeof("icc-profile-data") \
        else pyvips.enums.ForeignKeep.NONE
    return image.jpegsave_buffer(Q=QUALITY, optimize_coding=True, interlace=False, keep=keep)


def bench_raw(args, data: bytes, concurrency: int, name: str,
              render: Callable[[bytes], tuple[bytes, int, int]]) -> Row:
    """``render`` in-process on ``concurrency`` threads (libvips releases the GIL)."""
    print(f"{name}: in-process, {concurrency} threads …", flush=True)
    pyvips.cache_set_max(0)  # as in ims: every call decodes, nothing is served from memory
    body, width, height = render(data)
    if (width, height) != EXPECTED:
        return Row(name, note=f"produced {width}×{height}, expected {EXPECTED[0]}×{EXPECTED[1]}")

    def op(_index: int) -> str | None:
        render(data)
        return None

    drive(op, concurrency, args.warmup)
    with RssSampler(os.getpid()) as rss:
        figures = drive(op, concurrency, args.seconds)
    figures.peak_rss_mb = rss.peak_mb
    return Row(name, figures, len(body) / 1024, note="RSS is the whole benchmark process")


# --- thumbor -----------------------------------------------------------------------------

def bench_thumbor(args, image: Path, concurrency: int, cores: int) -> Row:
    name = "thumbor"
    if args.no_thumbor:
        return Row(name, note="skipped (--no-thumbor)")
    venv = args.thumbor_venv or args.out / "thumbor-venv"
    problem = install_thumbor(venv)
    if problem:
        print(f"thumbor: not available: {problem}", flush=True)
        return Row(name, note=f"not available: {problem}")
    version = thumbor_version(venv)
    print(f"{name}: {version}, --processes {cores} …", flush=True)
    with tempfile.TemporaryDirectory(prefix="thumbor-bench-", dir=args.out) as tmp:
        keys = place_copies(image, Path(tmp), concurrency)
        port = free_port()
        server = start_server(
            name,
            [str(venv / "bin/thumbor"), "--ip", "127.0.0.1", "--port", str(port),
             "--conf", str(BENCH / "thumbor.conf"), "--processes", str(cores), "-l", "warning"],
            f"http://127.0.0.1:{port}", args.out / "thumbor.log",
            env={"BENCH_THUMBOR_ROOT": tmp},
        )
        try:
            wait_http(server, "/healthcheck")
            urls = [f"{server.base_url}{THUMBOR_PATH}{key}" for key in keys]
            row = measure_http(args, server, name, urls, concurrency, distinct=True)
        except RuntimeError as e:
            return Row(name, note=f"could not run: {e}")
        finally:
            server.stop()
    row.note = (f"{version}, PIL engine, --processes {cores} (one per core, tornado fork), "
                "file loader, no storage, no result storage, baseline JPEG q82")
    return row


def install_thumbor(venv: Path) -> str | None:
    """Run bench/setup_thumbor.sh; None when thumbor is ready, else the reason it is not."""
    if (venv / "bin/thumbor").exists():
        return None
    print(f"thumbor: installing into {venv} (bench/setup_thumbor.sh) …", flush=True)
    done = subprocess.run(["bash", str(BENCH / "setup_thumbor.sh"), str(venv)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines()
                 if ln.strip() and "is ignored" not in ln]
        return "setup_thumbor.sh failed: " + " | ".join(lines[-3:])
    return None


def thumbor_version(venv: Path) -> str:
    done = subprocess.run([str(venv / "bin/thumbor"), "--version"], capture_output=True, text=True)
    words = (done.stdout or done.stderr).split()
    return f"thumbor {words[1].lstrip('v')}" if len(words) > 1 else "thumbor"


# --- HTTP load ---------------------------------------------------------------------------

def measure_http(args, server: Server, name: str, urls: list[str], concurrency: int,
                 distinct: bool) -> Row:
    """Check the first reply by decoding it, warm up, then drive ``urls`` and sample RSS."""
    body = first_reply(urls[0])
    pick = (lambda i: urls[i]) if distinct else (lambda i: urls[0])
    op = http_op(pick, check_jpeg)
    drive(op, concurrency, args.warmup)
    with RssSampler(server.proc.pid) as rss:
        figures = drive(op, concurrency, args.seconds)
    figures.peak_rss_mb = rss.peak_mb
    if server.proc.poll() is not None:
        figures.first_error = figures.first_error or f"server exited with {server.proc.returncode}"
    return Row(name, figures, len(body) / 1024)


def first_reply(url: str) -> bytes:
    """GET ``url`` once; raise RuntimeError unless it is a JPEG of the expected size."""
    try:
        reply = get(url)
    except OSError as e:
        raise RuntimeError(f"{url} → {type(e).__name__}: {e}") from None
    problem = check_jpeg(reply)
    if problem:
        raise RuntimeError(f"{url} → {problem}")
    image = pyvips.Image.new_from_buffer(reply.body, "")
    if (image.width, image.height) != EXPECTED:
        raise RuntimeError(f"{url} → {image.width}×{image.height}, "
                           f"expected {EXPECTED[0]}×{EXPECTED[1]}")
    return reply.body


def check_jpeg(r: Reply) -> str | None:
    if r.status != 200:
        return f"HTTP {r.status}: {r.body[:200].decode(errors='replace')}"
    if r.content_type != "image/jpeg":
        return f"Content-Type {r.content_type!r}"
    if not r.body.startswith(b"\xff\xd8"):
        return "body is not a JPEG"
    return None


# --- output ------------------------------------------------------------------------------

def rate_of(rows: list[Row], name: str) -> float | None:
    for row in rows:
        if row.name == name and row.figures and row.figures.ok:
            return row.figures.rate
    return None


def print_table(rows: list[Row]) -> None:
    raw = rate_of(rows, "raw pyvips thumbnail")
    ims = rate_of(rows, "ims uncached")
    head = (f"{'system':<27}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}"
            f"{'reply KB':>10}{'errors':>8}{'÷ raw thumb':>13}{'ims ÷ this':>12}")
    print("\n" + head + "\n" + "-" * len(head))
    for row in rows:
        f = row.figures
        if f is None or not f.ok:
            why = row.note or (f.first_error if f else "")
            print(f"{row.name:<27}{'—':>8}  {why}")
            continue
        vs_raw = f"{f.rate / raw:.2f}×" if raw else "—"
        ims_vs = f"{ims / f.rate:.2f}×" if ims else "—"
        print(f"{row.name:<27}{f.rate:>8.1f}{f.p50_ms:>9.1f}{f.p99_ms:>9.1f}"
              f"{f.peak_rss_mb or 0:>13.0f}{row.reply_kb or 0:>10.0f}{f.errors:>8}"
              f"{vs_raw:>13}{ims_vs:>12}")
    print()
    for row in rows:
        f = row.figures
        if f and f.ok and (row.note or f.first_error):
            extra = f"; first error: {f.first_error}" if f.first_error else ""
            print(f"  {row.name}: {row.note}{extra}")


def target_lines(rows: list[Row]) -> list[dict]:
    """The three targets, each with its measured value (None when a line did not run)."""
    ims = rate_of(rows, "ims uncached")
    raw = rate_of(rows, "raw pyvips thumbnail")
    thumbor = rate_of(rows, "thumbor")
    cached = next((r.figures for r in rows if r.name == "ims cached" and r.figures
                   and r.figures.ok), None)
    return [
        {"what": "ims uncached ÷ raw pyvips thumbnail", "value": ims / raw if ims and raw else None,
         "unit": "×", "target": "≥ 1.0×", "met": bool(ims and raw and ims / raw >= 1.0)},
        {"what": "ims uncached ÷ thumbor", "value": ims / thumbor if ims and thumbor else None,
         "unit": "×", "target": "≥ 1.6×", "met": bool(ims and thumbor and ims / thumbor >= 1.6)},
        {"what": "ims cached p50", "value": cached.p50_ms if cached else None,
         "unit": " ms", "target": "< 5 ms", "met": bool(cached and cached.p50_ms < 5)},
    ]


def print_targets(targets: list[dict]) -> None:
    print("\ntargets")
    for t in targets:
        value = "—" if t["value"] is None else f"{t['value']:.2f}{t['unit']}"
        verdict = "not measured" if t["value"] is None else ("met" if t["met"] else "NOT met")
        print(f"  {t['what']:<38}{value:>10}   target {t['target']:<8} {verdict}")


def write_json(path: Path, rows: list[Row], targets: list[dict], cores: int, concurrency: int,
               seconds: float) -> None:
    def figures(row: Row) -> dict:
        f = row.figures
        out = {"name": row.name, "note": row.note, "reply_kb": row.reply_kb}
        if f:
            out.update(ok=f.ok, errors=f.errors, first_error=f.first_error, seconds=f.seconds,
                       rate=f.rate, p50_ms=f.p50_ms if f.ok else None,
                       p99_ms=f.p99_ms if f.ok else None, peak_rss_mb=f.peak_rss_mb)
        return out

    doc = {
        "benchmark": "ondemand", "image": IMAGE, "query": QUERY, "cores": cores,
        "concurrency": concurrency, "seconds": seconds, "machine": platform.platform(),
        "libvips": ".".join(str(pyvips.version(i)) for i in range(3)),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_after": os.getloadavg()[0],
        "rows": [figures(r) for r in rows], "targets": targets,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    sys.exit(main())
