"""A/B the background workers of two or more checkouts on trivial jobs, in one run.

    .venv/bin/python bench/ab_jobs.py --engine postgresql --rounds 4 \\
        before=/tmp/ims-before/.venv/bin/ims after=.venv/bin/ims

Single runs of ``bench/jobs.py`` on a shared VM swing by ±25% from one minute to the next, more
than most changes move them. This compares like with like: one installation (database,
``ims serve``, webhook receiver, built by this checkout), and in each round every variant's
`ims worker` processes run the same number of fresh trivial jobs (16×16 PNG re-encoded, fs
destination, webhook), the order reversed every other round so neither always goes first.
It prints each run, then per variant the median jobs/s and the median worker CPU per job (the
steadier figure), and the ratio of each median to the first variant's.

A variant is ``name=path/to/ims``: the `ims` executable of another checkout's venv (``git
worktree add /tmp/ims-before <rev>`` and ``make install`` there). Both must share the
database schema (no migration in between). ``--jobs`` per run (2000), ``--rounds`` (4),
``--workers`` and ``--per-worker`` as in ``bench/jobs.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from jobs import TINY_KEY, TRIVIAL_RESULT, run_jobs, tiny_png, trivial_item
from jobs_support import installation


def main() -> int:
    args = parse_args()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in args.variants}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{args.engine}: {args.rounds} rounds × {len(runs)} variants × {args.jobs} trivial jobs, "
          f"{args.workers} worker processes × {args.per_worker} jobs", flush=True)
    with tempfile.TemporaryDirectory(dir=out) as logs, installation(args.engine, Path(logs), use_s3=False) as inst:
        inst.put_original(TINY_KEY, tiny_png())
        batch = 0
        for round_ in range(args.rounds):
            order = args.variants if round_ % 2 == 0 else args.variants[::-1]
            for name, ims in order:
                batch += 1
                keys = inst.copies(TINY_KEY, f"ab{batch}", args.jobs)
                items = [trivial_item(inst, key, f"ab{batch}/{i}.png") for i, key in enumerate(keys)]
                run = run_jobs(inst, name, items, args, expect=TRIVIAL_RESULT, ims=ims)
                if run.delivered < run.count or run.failed or run.wrong:
                    print(f"  {name}: {run.note}: not counted", flush=True)
                    continue
                cpu_ms = run.worker_cpu / run.delivered * 1000
                runs[name].append((run.rate, cpu_ms))
                print(f"  round {round_ + 1} {name:>12}  {run.rate:7.1f} jobs/s  {cpu_ms:5.2f} ms CPU/job", flush=True)
    print_medians(runs)
    return 0


def print_medians(runs: dict[str, list[tuple[float, float]]]) -> None:
    medians = {name: (statistics.median(r for r, _ in xs), statistics.median(c for _, c in xs))
               for name, xs in runs.items() if xs}
    if not medians:
        print("no complete run")
        return
    base_rate, base_cpu = next(iter(medians.values()))
    print(f"\n{'variant':>12}  {'jobs/s':>8}  {'× first':>7}  {'CPU/job':>8}  {'× first':>7}  runs")
    for name, (rate, cpu) in medians.items():
        print(f"{name:>12}  {rate:8.1f}  {rate / base_rate:7.2f}  {cpu:6.2f} ms  {cpu / base_cpu:7.2f}  "
              f"{[round(r) for r, _ in runs[name]]}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("variants", nargs="+", metavar="NAME=IMS", type=_variant,
                   help="a name and the `ims` executable whose workers to run")
    p.add_argument("--engine", choices=("sqlite", "postgresql"), default="postgresql")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--jobs", type=int, default=2000, help="trivial jobs per run (2000)")
    p.add_argument("--workers", type=int, default=2, help="`ims worker` processes (2)")
    p.add_argument("--per-worker", type=int, default=None, help="IMS_WORKERS (CPU cores)")
    p.add_argument("--out", default=str(Path(__file__).parent / "out"), help="work directory (bench/out)")
    args = p.parse_args()
    if args.per_worker is None:
        args.per_worker = os.cpu_count() or 1
    return args


def _variant(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    ims = Path(path).absolute()
    if not sep or not name or not ims.is_file():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=path/to/ims (an existing `ims` executable)")
    return name, ims


if __name__ == "__main__":
    sys.exit(main())
