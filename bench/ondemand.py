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
  ipx                     ipx 3 (Node, sharp/libvips), `ipx serve --dir`, modifiers
                          w_1600,h_1600,fit_inside,q_82,f_jpeg, a copy per thread (npm
                          installs it into --out the first time)
  ims HEIC 12 MP → 1600 JPEG   the same photo as a HEIC (pillow-heif, made once in --out),
                          `w=1600&h=1600&fm=jpg`, uncached, a copy per thread
  ims PDF page 1 → 1600 PNG    an A4 vector page (shapes and text, written here) rendered
                          by PDFium at the scale the plan needs, `page=1&w=1600&fm=png`
  ims crop=faces 400×400  uncached, distinct copies: face detection (OpenCV cascade on a 512 px
                          thumbnail) + a 400×400 face crop (the image has no face: the
                          detector's work is the same, and the crop falls back to the centre)
  ims fm=blurhash         uncached, distinct copies: the BlurHash of the whole 12 MP picture
  ims mark 200 px PNG     uncached, distinct copies: the plain line's render with a watermark
                          (``mark`` of a 200×100 half-transparent PNG from the same source, at
                          its default place); its overhead over "ims uncached" (target ≤ 15 %)
  ims txt overlay         uncached, distinct copies: the plain render plus a 48 px caption (white,
                          bottom right, 24 px in; ``TXT_QUERY``); its overhead over
                          "ims uncached" is a target (≤ 15 %)
  ims cached, 2 processes the cached line with `ims serve --processes 2` (IMS_PROCESSES)
  ims shared store hit    node B (no disk cache) serving what node A rendered, from a SeaweedFS
                          result store (IMS_RESULT_STORE): every request is a store GET
  ims AVIF / WebP 1600 cold   fm=avif / fm=webp of the same op, uncached, distinct copies
  ims auto=format cold    Chrome's Accept, the result cache on, every request a URL never asked
                          before (q and w vary a little): first-request latency with AVIF deferred

``--only NAME,NAME`` measures only the lines whose names contain one of the words.

All servers are started first; then the lines are measured in ``--rounds`` interleaved
slices of ``seconds / rounds`` each, so that other work on the machine falls on every
line alike instead of on whichever ran at the wrong moment.

It prints figures and never asserts them. See bench/README.md for what each line means.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402  (bench/ is not a package)
    REPO,
    Figures,
    Reply,
    RssSampler,
    cpu_seconds,
    drive,
    free_port,
    fresh_op,
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
IPX_PATH = "/w_1600,h_1600,fit_inside,q_82,f_jpeg/"  # the same operation in ipx's modifiers
IPX_PACKAGE = "ipx@3"
BOX = 1600                     # w=1600&h=1600, fit-in/1600x1600
EXPECTED = (1600, 1200)        # a 4000×3000 source fitted into the box
QUALITY = 82
FACES_QUERY = "w=400&h=400&fit=crop&crop=faces&q=82"
BLURHASH_QUERY = "fm=blurhash"
MARK_KEY = "marks/logo-200.png"
MARK_QUERY = f"{QUERY}&mark=/{MARK_KEY}"
TXT_QUERY = (QUERY + "&txt=%C2%A9%202026%20Example%20Photo%20Agency%20%E2%80%94%20all%20rights%20reserved"
             "&txt-size=48&txt-color=fff&txt-align=bottom,right&txt-pad=24")
TXT_OVERHEAD = 0.15            # target: the caption costs at most 15 % over the plain render
MARK_OVERHEAD = 0.15           # and so does the watermark
CACHED_P50_MS = 2.0            # issue 15 item 4: a cache hit at 4 in flight, p50 …
CACHED_RATE = 2000             # … and req/s, with 1 and with 2 server processes

Runner = Callable[[float], Figures]   # measure for this many seconds
# What the special case for hits buys (ims.web.hits, in front of FastAPI), measured against the
# full path it replaced on the same machine, alternating runs (load average ~5 on 2 cores).
HIT_NOTE = ("hits answered in front of FastAPI (ims.web.hits); the full path before it: 0.74 ms CPU per hit, "
            "610–670 req/s, p50 4.1–5.0 ms at 4 in flight")


@dataclass
class Line:
    """One line of the table: a system, how to measure it, and what it measured."""

    name: str
    run: Runner | None = None         # None: the line could not be set up (see note)
    reply_kb: float | None = None
    note: str = ""
    figures: Figures = field(default_factory=Figures)


# --- the story ---------------------------------------------------------------------------

def main() -> int:
    args = parse_args()
    cores = os.cpu_count() or 1
    concurrency = args.concurrency or 2 * cores
    image = ensure_test_image(args.out, args.make_large)
    data = image.read_bytes()
    print(f"{IMAGE}: {len(data) / 1e6:.1f} MB · {cores} cores · {concurrency} in flight · "
          f"{args.seconds:g} s per line in {args.rounds} rounds (+{args.warmup:g} s warm-up)")
    warn_if_busy(cores)

    with contextlib.ExitStack() as servers:
        makers = [
            ("ims uncached", lambda name: ims_line(servers, args, image, name, concurrency, cache_mb=0,
                                                   distinct=True)),
            ("ims uncached, one URL", lambda name: ims_line(servers, args, image, name, concurrency, cache_mb=0)),
            ("raw pyvips thumbnail", lambda name: raw_line(name, data, concurrency, raw_thumbnail)),
            ("raw pyvips shrink-on-load", lambda name: raw_line(name, data, concurrency, raw_shrink_on_load)),
            ("ims cached", lambda name: ims_line(servers, args, image, name, concurrency, cache_mb=256)),
            ("ims cached, 1 in flight", lambda name: ims_line(servers, args, image, name, 1, cache_mb=256)),
            ("thumbor", lambda name: thumbor_line(servers, args, image, concurrency, cores)),
            ("ipx", lambda name: ipx_line(servers, args, image, concurrency)),
            ("ims crop=faces 400×400", lambda name: ims_line(
                servers, args, image, name, concurrency, cache_mb=0, distinct=True, query=FACES_QUERY,
                expect=((400, 400), "image/jpeg"))),
            ("ims fm=blurhash", lambda name: ims_line(
                servers, args, image, name, concurrency, cache_mb=0, distinct=True, query=BLURHASH_QUERY,
                expect=(None, "text/plain"))),
            ("ims mark 200 px PNG", lambda name: ims_line(
                servers, args, image, name, concurrency, cache_mb=0, distinct=True, query=MARK_QUERY,
                files={MARK_KEY: mark_png()})),
            ("ims txt overlay", lambda name: ims_line(
                servers, args, image, name, concurrency, cache_mb=0, distinct=True, query=TXT_QUERY)),
            ("ims HEIC 12 MP → 1600 JPEG", lambda name: format_line(
                servers, args, name, ensure_heic(args.out, image), "w=1600&h=1600&fm=jpg", "image/jpeg",
                concurrency)),
            ("ims PDF page 1 → 1600 PNG", lambda name: format_line(
                servers, args, name, ensure_pdf(args.out), "page=1&w=1600&fm=png", "image/png", concurrency)),
            ("ims cached, 2 processes", lambda name: ims_line(servers, args, image, name, concurrency, cache_mb=256,
                                                              processes=2)),
            ("ims shared store hit", lambda name: shared_hit_line(servers, args, image, name, concurrency)),
            ("ims AVIF 1600 cold", lambda name: ims_line(
                servers, args, image, name, concurrency, cache_mb=0, distinct=True, query=QUERY + "&fm=avif",
                expect=(None, "image/avif"))),
            ("ims WebP 1600 cold", lambda name: ims_line(
                servers, args, image, name, concurrency, cache_mb=0, distinct=True, query=QUERY + "&fm=webp",
                expect=(None, "image/webp"))),
            ("ims auto=format cold", lambda name: cold_auto_line(servers, args, image, name, concurrency)),
        ]
        lines = [make(name) for name, make in makers
                 if (not args.formats_only or name.startswith(("ims HEIC", "ims PDF")))
                 and (not args.only or any(word in name for word in args.only.split(",")))]

        measure_in_rounds(lines, args.seconds, args.rounds, args.warmup)

    print_table(lines)
    targets = target_lines(lines)
    print_targets(targets)
    if args.json:
        write_json(args, lines, targets, cores, concurrency)
    return 0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per line (20)")
    p.add_argument("--rounds", type=int, default=4,
                   help="interleaved slices the seconds are split into (4)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per line (2)")
    p.add_argument("--concurrency", type=int, default=0, help="requests in flight (2 × cores)")
    p.add_argument("--out", type=Path, default=BENCH / "out", help="work directory (bench/out)")
    p.add_argument("--make-large", type=Path, default=REPO.parent / "shared/testdata/make_large.py",
                   help="the test image generator (../shared/testdata/make_large.py)")
    p.add_argument("--no-thumbor", action="store_true", help="skip the thumbor line")
    p.add_argument("--no-ipx", action="store_true", help="skip the ipx line (npm install ipx@3 the first time)")
    p.add_argument("--formats-only", action="store_true", help="only the HEIC and PDF lines")
    p.add_argument("--thumbor-venv", type=Path, default=None,
                   help="thumbor's venv (OUT/thumbor-venv; made by bench/setup_thumbor.sh)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument("--only", default="", help="measure only lines whose names contain one of these "
                                               "comma-separated words (e.g. faces,blurhash)")
    args = p.parse_args()
    args.rounds = max(1, args.rounds)
    return args


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
    """Other work on the machine skews the figures; say so rather than print quiet-looking ones."""
    load = os.getloadavg()[0]
    busy = f"  — the machine is busy (> {cores / 2:g}); figures will be noisy" if load > cores / 2 else ""
    print(f"load average before the run: {load:.2f}{busy}\n")


def measure_in_rounds(lines: list[Line], seconds: float, rounds: int, warmup: float) -> None:
    """Warm every line up, then give each ``seconds / rounds`` per round, rotating the order."""
    ready = [line for line in lines if line.run]
    for line in ready:
        print(f"warming up: {line.name}", flush=True)
        line.run(warmup)
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", flush=True)
        for line in ready[r % len(ready):] + ready[:r % len(ready)]:
            line.figures.add(line.run(seconds / rounds))


# --- ims ---------------------------------------------------------------------------------

def ims_line(servers: contextlib.ExitStack, args, image: Path, name: str, concurrency: int, *,
             cache_mb: int, distinct: bool = False, query: str = QUERY,
             expect: tuple[tuple[int, int] | None, str] = (EXPECTED, "image/jpeg"),
             files: dict[str, bytes] | None = None, processes: int = 1) -> Line:
    """``ims serve`` in a fresh data dir; ``distinct``: thread i asks for its own copy.
    ``expect``: the first reply's (size or None for text, Content-Type); ``files``: more
    objects of the source (key → bytes), e.g. a watermark."""
    print(f"{name}: starting ims serve (IMS_CACHE_SIZE_MB={cache_mb}) …", flush=True)
    data_dir = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="ims-", dir=args.out)))
    keys = place_copies(image, data_dir / "sources/default", concurrency if distinct else 1)
    for key, body in (files or {}).items():
        (data_dir / "sources/default" / key).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / "sources/default" / key).write_bytes(body)
    log = args.out / f"{name.replace(',', '').replace(' ', '-')}.log"   # ims-uncached.log, …
    try:
        server = servers.enter_context(
            ims_server(data_dir, log, cache_size_mb=cache_mb, workers=0, processes=processes))
        urls = [f"{server.base_url}/default/{key}?{query}" for key in keys]
        body = first_reply(urls[0], *expect)     # also warms the cache, when it is on
    except RuntimeError as e:
        return Line(name, note=f"could not run: {e}")
    check = check_jpeg if expect[1] == "image/jpeg" else check_type(expect[1])
    note = HIT_NOTE if name == "ims cached" else ""
    return Line(name, http_runner(server.proc.pid, urls, concurrency, check), len(body) / 1024, note=note)


def shared_hit_line(servers: contextlib.ExitStack, args, image: Path, name: str, concurrency: int) -> Line:
    """Node A renders into a SeaweedFS result store; node B (same SQLite file and source, no
    disk cache) answers every request from the store."""
    print(f"{name}: starting SeaweedFS and two ims nodes …", flush=True)
    sys.path.insert(0, str(REPO))
    from tests.support.seaweed import SeaweedS3

    try:
        weed = SeaweedS3().start()
    except Exception as e:  # noqa: BLE001 — no weed binary: the line says so
        return Line(name, note=f"could not run: {e}")
    servers.callback(weed.stop)
    bucket = weed.create_bucket("bench-results")
    a_dir = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="ims-a-", dir=args.out)))
    b_dir = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="ims-b-", dir=args.out)))
    place_copies(image, a_dir / "sources/default", 1)
    shared = {"result_store": f"s3://{bucket}/r", "result_store_endpoint_url": weed.endpoint_url,
              "result_store_access_key_id": weed.access_key, "result_store_secret_access_key": weed.secret_key,
              "secret_key": "bench", "database_url": f"sqlite:///{a_dir / 'ims.db'}", "workers": 0,
              "fs_roots": f"{a_dir / 'sources'}:{a_dir / 'destinations'}"}
    try:
        a = servers.enter_context(ims_server(a_dir, args.out / "shared-a.log", cache_size_mb=0, **shared))
        b = servers.enter_context(ims_server(b_dir, args.out / "shared-b.log", cache_size_mb=0, **shared))
        first_reply(f"{a.base_url}/default/{IMAGE}?{QUERY}")   # rendered on A, into the store
        url = f"{b.base_url}/default/{IMAGE}?{QUERY}"
        body = first_reply(url)
        if get(url).headers.get("x-ims-cache") != "hit":
            raise RuntimeError("node B did not find node A's rendition in the store")
    except RuntimeError as e:
        return Line(name, note=f"could not run: {e}")
    return Line(name, http_runner(b.proc.pid, [url], concurrency), len(body) / 1024,
                note="node B, IMS_CACHE_SIZE_MB=0: a store GET per request")


def cold_auto_line(servers: contextlib.ExitStack, args, image: Path, name: str, concurrency: int) -> Line:
    """``auto=format`` with Chrome's Accept on URLs never asked before: the first-request latency
    (AVIF deferred: the answer is WebP while the AVIF renders in the background)."""
    print(f"{name}: starting ims serve (IMS_CACHE_SIZE_MB=256) …", flush=True)
    data_dir = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="ims-", dir=args.out)))
    keys = place_copies(image, data_dir / "sources/default", concurrency)
    chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
    fresh = itertools.count()
    try:
        server = servers.enter_context(ims_server(data_dir, args.out / "auto-cold.log", cache_size_mb=256,
                                                  workers=0))
    except RuntimeError as e:
        return Line(name, note=f"could not run: {e}")

    def pick(index: int) -> str:
        n = next(fresh)  # q 60–99 × w 1560–1600 × copies: thousands of variants, all about the same work
        return f"{server.base_url}/default/{keys[index % len(keys)]}?w={1600 - n // 40 % 41}&h=1600&q={60 + n % 40}" \
               "&auto=format"

    def check(r: Reply) -> str | None:
        if r.status != 200:
            return f"HTTP {r.status}: {r.body[:200].decode(errors='replace')}"
        return None if r.content_type in ("image/webp", "image/avif") else f"Content-Type {r.content_type!r}"

    first = get(pick(0), headers={"accept": chrome})
    if check(first):
        return Line(name, note=f"could not run: {check(first)}")
    return Line(name, sampled(server.proc.pid, fresh_op(pick, check, {"accept": chrome}), concurrency),
                len(first.body) / 1024, note=f"first reply {first.content_type} (AVIF deferred)")


def place_copies(image: Path, directory: Path, count: int) -> list[str]:
    """``count`` byte-identical copies of ``image`` under ``directory``; their keys."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = [IMAGE] + [f"{image.stem}-copy{i}{image.suffix}" for i in range(1, count)]
    for key in keys:
        shutil.copyfile(image, directory / key)
    return keys


def mark_png() -> bytes:
    """A 200×100 watermark: white text-like bars at 60 % on a transparent ground."""
    bars = (pyvips.Image.xyz(200, 100)[0] % 40 < 24) & (pyvips.Image.xyz(200, 100)[1] % 30 < 18)
    alpha = bars.ifthenelse(153, 0)
    return (pyvips.Image.black(200, 100, bands=3) + 255).bandjoin(alpha).cast("uchar").copy(
        interpretation="srgb").pngsave_buffer()


# --- other input formats --------------------------------------------------------------------

def ensure_heic(out: Path, image: Path) -> Path:
    """The 12 MP test photo as a HEIC (quality 80), encoded once with pillow-heif."""
    heic = out / "large-12mp.heic"
    if not heic.exists():
        import pillow_heif
        from PIL import Image

        print(f"encoding {heic.name} once with pillow-heif …", flush=True)
        photo = pyvips.Image.new_from_file(str(image))
        picture = Image.frombytes("RGB", (photo.width, photo.height), photo.write_to_memory())
        pillow_heif.from_pillow(picture).save(heic, quality=80)
    return heic


def ensure_pdf(out: Path) -> Path:
    """An A4 page of vector shapes and Helvetica text (what a document page holds)."""
    pdf = out / "a4-vector.pdf"
    if not pdf.exists():
        ops = [b"BT /F1 11 Tf 40 800 Td 14 TL"]
        ops += [b"(Line %d of a document page: the quick brown fox jumps over the lazy dog.) '" % i
                for i in range(50)]
        ops.append(b"ET")
        ops += [b"%.2f %.2f %.2f rg %d %d 60 40 re f" % (i / 40, 1 - i / 40, 0.5, 40 + (i % 8) * 65,
                                                         60 + (i // 8) * 45) for i in range(40)]
        content = b"\n".join(ops)
        objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                   b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
                   b"/Resources << /Font << /F1 5 0 R >> >> >>",
                   b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
                   b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
        body, offsets = bytearray(b"%PDF-1.7\n"), []
        for i, obj in enumerate(objects, 1):
            offsets.append(len(body))
            body += b"%d 0 obj\n%s\nendobj\n" % (i, obj)
        xref = len(body)
        body += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
        body += b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
        pdf.write_bytes(bytes(body))
    return pdf


def format_line(servers: contextlib.ExitStack, args, name: str, source: Path, query: str, mime: str,
                concurrency: int) -> Line:
    """``ims serve`` uncached on ``source`` (a copy per thread), checking the reply's type."""
    print(f"{name}: starting ims serve …", flush=True)
    data_dir = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="ims-", dir=args.out)))
    folder = data_dir / "sources/default"
    folder.mkdir(parents=True)
    keys = [f"{source.stem}-{i}{source.suffix}" for i in range(concurrency)]
    for key in keys:
        shutil.copyfile(source, folder / key)
    log = args.out / f"{name.split(' →')[0].replace(' ', '-')}.log"

    def check(r: Reply) -> str | None:
        if r.status != 200:
            return f"HTTP {r.status}: {r.body[:200].decode(errors='replace')}"
        return None if r.content_type == mime else f"Content-Type {r.content_type!r}"
    try:
        server = servers.enter_context(ims_server(data_dir, log, cache_size_mb=0, workers=0))
        urls = [f"{server.base_url}/default/{key}?{query}" for key in keys]
        reply = get(urls[0])
        problem = check(reply)
        if problem:
            raise RuntimeError(f"{urls[0]} → {problem}")
    except RuntimeError as e:
        return Line(name, note=f"could not run: {e}")
    image = pyvips.Image.new_from_buffer(reply.body, "")
    return Line(name, sampled(server.proc.pid, http_op(lambda i: urls[i % len(urls)], check), concurrency),
                len(reply.body) / 1024, note=f"{source.stat().st_size / 1e6:.1f} MB in, "
                                             f"{image.width}×{image.height} out")


# --- raw pyvips ----------------------------------------------------------------------------

def raw_thumbnail(data: bytes) -> tuple[bytes, int, int]:
    image = pyvips.Image.thumbnail_buffer(data, BOX, height=BOX)
    return save_like_ims(image), image.width, image.height


def raw_shrink_on_load(data: bytes) -> tuple[bytes, int, int]:
    image = pyvips.Image.new_from_buffer(data, "", shrink=2, access="sequential")
    image = image.thumbnail_image(BOX, height=BOX)
    return save_like_ims(image), image.width, image.height


def save_like_ims(image: pyvips.Image) -> bytes:
    """Baseline JPEG, optimised Huffman tables, only the ICC profile kept (as ims encodes)."""
    keep = pyvips.enums.ForeignKeep.ICC if image.get_typeof("icc-profile-data") \
        else pyvips.enums.ForeignKeep.NONE
    return image.jpegsave_buffer(Q=QUALITY, optimize_coding=True, interlace=False, keep=keep)


def raw_line(name: str, data: bytes, concurrency: int,
             render: Callable[[bytes], tuple[bytes, int, int]]) -> Line:
    """``render`` in-process on ``concurrency`` threads (libvips releases the GIL)."""
    pyvips.cache_set_max(0)  # as in ims: every call decodes, nothing is served from memory
    body, width, height = render(data)
    if (width, height) != EXPECTED:
        return Line(name, note=f"produced {width}×{height}, expected {EXPECTED[0]}×{EXPECTED[1]}")

    def op(_index: int) -> str | None:
        render(data)
        return None

    # the servers are this process's children: sample this process alone
    return Line(name, sampled(os.getpid(), op, concurrency, tree=False), len(body) / 1024,
                note="RSS and CPU are the whole benchmark process")


# --- thumbor -----------------------------------------------------------------------------

def thumbor_line(servers: contextlib.ExitStack, args, image: Path, concurrency: int,
                 cores: int) -> Line:
    """thumbor with ``--processes cores`` (the same cores ims gets), file loader, no storages."""
    name = "thumbor"
    if args.no_thumbor:
        return Line(name, note="skipped (--no-thumbor)")
    venv = args.thumbor_venv or args.out / "thumbor-venv"
    problem = install_thumbor(venv)
    if problem:
        print(f"thumbor: not available: {problem}", flush=True)
        return Line(name, note=f"not available: {problem}")
    version = thumbor_version(venv)
    print(f"{name}: starting {version}, --processes {cores} …", flush=True)
    root = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="thumbor-", dir=args.out)))
    keys = place_copies(image, root, concurrency)
    port = free_port()
    server = start_server(
        name,
        [str(venv / "bin/thumbor"), "--ip", "127.0.0.1", "--port", str(port),
         "--conf", str(BENCH / "thumbor.conf"), "--processes", str(cores), "-l", "warning"],
        f"http://127.0.0.1:{port}", args.out / "thumbor.log",
        env={"BENCH_THUMBOR_ROOT": str(root)},
    )
    servers.callback(server.stop)
    try:
        wait_http(server, "/healthcheck")
        urls = [f"{server.base_url}{THUMBOR_PATH}{key}" for key in keys]
        body = first_reply(urls[0])
    except RuntimeError as e:
        return Line(name, note=f"could not run: {e}")
    note = (f"{version}, PIL engine, --processes {cores} (one per core, tornado fork), "
            "file loader, no storage, no result storage, baseline JPEG q82")
    return Line(name, http_runner(server.proc.pid, urls, concurrency), len(body) / 1024, note)


# --- ipx ---------------------------------------------------------------------------------

def ipx_line(servers: contextlib.ExitStack, args, image: Path, concurrency: int) -> Line:
    """ipx 3 (Node, sharp/libvips) as ``ipx serve --dir`` starts it: one Node process, sharp's
    own thread pool; installed with npm into OUT/ipx the first time."""
    name = "ipx"
    if args.no_ipx:
        return Line(name, note="skipped (--no-ipx)")
    folder = args.out / "ipx"
    problem = install_ipx(folder)
    if problem:
        print(f"ipx: not available: {problem}", flush=True)
        return Line(name, note=f"not available: {problem}")
    version = json.loads((folder / "node_modules/ipx/package.json").read_text())["version"]
    print(f"{name}: starting ipx {version} …", flush=True)
    root = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="ipx-", dir=args.out)))
    keys = place_copies(image, root, concurrency)
    port = free_port()
    server = start_server(name, [str(folder / "node_modules/.bin/ipx"), "serve", "--dir", str(root),
                                 "--host", "127.0.0.1", "--port", str(port)],
                          f"http://127.0.0.1:{port}", args.out / "ipx.log")
    servers.callback(server.stop)
    try:
        wait_http(server, IPX_PATH + keys[0])
        urls = [f"{server.base_url}{IPX_PATH}{key}" for key in keys]
        body = first_reply(urls[0])
    except RuntimeError as e:
        return Line(name, note=f"could not run: {e}")
    note = f"ipx {version} serve --dir (sharp), modifiers {IPX_PATH.strip('/')}, no result cache"
    return Line(name, http_runner(server.proc.pid, urls, concurrency), len(body) / 1024, note)


def install_ipx(folder: Path) -> str | None:
    """``npm install ipx@3`` into ``folder``; None when ipx is ready, else the reason it is not."""
    if (folder / "node_modules/.bin/ipx").exists():
        return None
    if shutil.which("npm") is None:
        return "npm not found (ipx is a Node package)"
    print(f"ipx: npm install {IPX_PACKAGE} into {folder} …", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder),
                           IPX_PACKAGE], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return "npm install failed: " + " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
    return None


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


# --- measuring ---------------------------------------------------------------------------

def http_runner(pid: int, urls: list[str], concurrency: int,
                check: Callable[[Reply], str | None] | None = None) -> Runner:
    """Thread i GETs ``urls[i]`` (or the only URL); the server's tree ``pid`` is sampled."""
    op = http_op(lambda i: urls[i % len(urls)], check or check_jpeg)
    return sampled(pid, op, concurrency)


def sampled(pid: int, op: Callable[[int], str | None], concurrency: int,
            tree: bool = True) -> Runner:
    """A runner that drives ``op`` and measures the RSS and CPU of process (tree) ``pid``."""
    def run(seconds: float) -> Figures:
        cpu = cpu_seconds(pid, tree)
        with RssSampler(pid, tree=tree) as rss:
            figures = drive(op, concurrency, seconds)
        figures.cpu_seconds = cpu_seconds(pid, tree) - cpu
        figures.peak_rss_mb = rss.peak_mb
        return figures
    return run


def first_reply(url: str, size: tuple[int, int] | None = EXPECTED, mime: str = "image/jpeg") -> bytes:
    """GET ``url`` once; raise RuntimeError unless it is a JPEG of ``size`` (or, with
    ``size`` None, a reply of type ``mime``)."""
    try:
        reply = get(url)
    except OSError as e:
        raise RuntimeError(f"{url} → {type(e).__name__}: {e}") from None
    if size is None:
        if reply.status != 200 or not reply.content_type.startswith(mime):
            raise RuntimeError(f"{url} → HTTP {reply.status} {reply.content_type}: {reply.body[:200]!r}")
        return reply.body
    problem = check_jpeg(reply)
    if problem:
        raise RuntimeError(f"{url} → {problem}")
    image = pyvips.Image.new_from_buffer(reply.body, "")
    if (image.width, image.height) != size:
        raise RuntimeError(f"{url} → {image.width}×{image.height}, expected {size[0]}×{size[1]}")
    return reply.body


def check_type(mime: str) -> Callable[[Reply], str | None]:
    def check(r: Reply) -> str | None:
        if r.status != 200:
            return f"HTTP {r.status}: {r.body[:200].decode(errors='replace')}"
        return None if r.content_type.startswith(mime) else f"Content-Type {r.content_type!r}"
    return check


def check_jpeg(r: Reply) -> str | None:
    if r.status != 200:
        return f"HTTP {r.status}: {r.body[:200].decode(errors='replace')}"
    if r.content_type != "image/jpeg":
        return f"Content-Type {r.content_type!r}"
    if not r.body.startswith(b"\xff\xd8"):
        return "body is not a JPEG"
    return None


# --- output ------------------------------------------------------------------------------

def measured(lines: list[Line], name: str) -> Figures | None:
    """The figures of line ``name`` when it ran and something succeeded."""
    return next((ln.figures for ln in lines if ln.name == name and ln.figures.ok), None)


def print_table(lines: list[Line]) -> None:
    raw = measured(lines, "raw pyvips thumbnail")
    ims = measured(lines, "ims uncached")
    head = (f"{'system':<27}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/op':>11}"
            f"{'peak RSS MB':>13}{'reply KB':>10}{'errors':>8}{'÷ raw thumb':>13}{'ims ÷ this':>12}")
    print("\n" + head + "\n" + "-" * len(head))
    for line in lines:
        f = line.figures
        if not f.ok:
            print(f"{line.name:<27}{'—':>8}  {line.note or f.first_error or 'nothing succeeded'}")
            continue
        vs_raw = f"{f.rate / raw.rate:.2f}×" if raw else "—"
        ims_vs = f"{ims.rate / f.rate:.2f}×" if ims else "—"
        cpu = "—" if f.cpu_ms_per_op is None else f"{f.cpu_ms_per_op:.{2 if f.cpu_ms_per_op < 10 else 0}f}"
        print(f"{line.name:<27}{f.rate:>8.1f}{f.p50_ms:>9.1f}{f.p99_ms:>9.1f}{cpu:>11}"
              f"{f.peak_rss_mb or 0:>13.0f}{line.reply_kb or 0:>10.0f}{f.errors:>8}"
              f"{vs_raw:>13}{ims_vs:>12}")
    print()
    for line in lines:
        f = line.figures
        if f.ok and (line.note or f.first_error):
            extra = f"; first error: {f.first_error}" if f.first_error else ""
            print(f"  {line.name}: {line.note}{extra}")


def target_lines(lines: list[Line]) -> list[dict]:
    """The targets, each with its measured value (None when a line did not run).

    The throughput ratios also come as CPU-per-image ratios (``by_cpu``): on a machine
    shared with other work those move far less than req/s does."""
    ims = measured(lines, "ims uncached")
    raw = measured(lines, "raw pyvips thumbnail")
    thumbor = measured(lines, "thumbor")
    cached = measured(lines, "ims cached")
    marked = measured(lines, "ims mark 200 px PNG")

    def ratio(a: Figures | None, b: Figures | None) -> float | None:
        return a.rate / b.rate if a and b else None

    def cpu_ratio(a: Figures | None, b: Figures | None) -> float | None:
        """How many of ``a``'s operations fit in the CPU one of ``b``'s takes."""
        ok = a and b and a.cpu_ms_per_op and b.cpu_ms_per_op
        return b.cpu_ms_per_op / a.cpu_ms_per_op if ok else None

    targets = [
        ("ims uncached ÷ raw pyvips thumbnail", ratio(ims, raw), cpu_ratio(ims, raw), "×",
         "≥ 1.0×", lambda v: v >= 1.0),
        ("ims uncached ÷ thumbor", ratio(ims, thumbor), cpu_ratio(ims, thumbor), "×",
         "≥ 1.6×", lambda v: v >= 1.6),
        ("ims uncached ÷ ipx", ratio(ims, measured(lines, "ipx")), cpu_ratio(ims, measured(lines, "ipx")), "×",
         "> 1.0×", lambda v: v > 1.0),
        *cached_targets("ims cached", cached, processes=1),
        *cached_targets("ims cached, 2 processes", measured(lines, "ims cached, 2 processes"), processes=2),
        overhead_target("ims mark overhead over ims uncached", marked, ims, MARK_OVERHEAD),
        overhead_target("ims txt overhead over ims uncached", measured(lines, "ims txt overlay"), ims,
                        TXT_OVERHEAD),
    ]
    return [{"what": what, "value": value, "by_cpu": by_cpu, "unit": unit, "target": target,
             "met": value is not None and meets(value)}
            for what, value, by_cpu, unit, target, meets in targets]


def cached_targets(name: str, cached: Figures | None, *, processes: int) -> list[tuple]:
    """Issue 15 item 4 at 4 in flight: p50 ≤ 2 ms and ≥ 2,000 req/s. Beside the req/s, by CPU:
    the req/s the server's CPU per hit would allow with a core per server process (what the
    rate would be if the load driver and other work did not share the cores)."""
    by_cpu = processes * 1000 / cached.cpu_ms_per_op if cached and cached.cpu_ms_per_op else None
    return [
        (f"{name}: p50", cached.p50_ms if cached else None, None, " ms", "≤ 2 ms", lambda v: v <= CACHED_P50_MS),
        (f"{name}: req/s", cached.rate if cached else None, by_cpu, " req/s", "≥ 2000", lambda v: v >= CACHED_RATE),
    ]


def overhead_target(what: str, extra: Figures | None, plain: Figures | None, most: float) -> tuple:
    """A target row, in per cent: how much more a render with ``extra`` work costs than the
    plain render (the time per image with it over the time without, less one: req/s plain ÷
    extra − 1; by CPU, extra's CPU per image ÷ plain's − 1)."""
    by_rate = 100 * (plain.rate / extra.rate - 1) if extra and plain else None
    ok = extra and plain and extra.cpu_ms_per_op and plain.cpu_ms_per_op
    by_cpu = 100 * (extra.cpu_ms_per_op / plain.cpu_ms_per_op - 1) if ok else None
    return (what, by_rate, by_cpu, " %", f"≤ {100 * most:g} %", lambda v: v <= 100 * most)


def print_targets(targets: list[dict]) -> None:
    print("\ntargets (verdict on req/s; CPU-per-image ratio alongside)")
    for t in targets:
        value = "—" if t["value"] is None else f"{t['value']:.2f}{t['unit']}"
        cpu_unit = t["unit"] if t["unit"] in (" %", " req/s") else "×"
        by_cpu = f"by CPU {t['by_cpu']:.{0 if cpu_unit == ' req/s' else 2}f}{cpu_unit}" if t["by_cpu"] is not None else ""
        verdict = "not measured" if t["value"] is None else ("met" if t["met"] else "NOT met")
        print(f"  {t['what']:<40}{value:>12}  {by_cpu:<20} target {t['target']:<8} {verdict}")


def write_json(args, lines: list[Line], targets: list[dict], cores: int, concurrency: int) -> None:
    def line_doc(line: Line) -> dict:
        f = line.figures
        return {"name": line.name, "note": line.note, "reply_kb": line.reply_kb,
                "ok": f.ok, "errors": f.errors, "first_error": f.first_error,
                "seconds": f.seconds, "rate": f.rate,
                "p50_ms": f.p50_ms if f.ok else None, "p99_ms": f.p99_ms if f.ok else None,
                "cpu_ms_per_op": f.cpu_ms_per_op, "peak_rss_mb": f.peak_rss_mb}

    doc = {
        "benchmark": "ondemand", "image": IMAGE, "query": QUERY, "cores": cores,
        "concurrency": concurrency, "seconds": args.seconds, "rounds": args.rounds,
        "machine": platform.platform(),
        "libvips": ".".join(str(pyvips.version(i)) for i in range(3)),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_after": os.getloadavg()[0],
        "lines": [line_doc(ln) for ln in lines], "targets": targets,
    }
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
