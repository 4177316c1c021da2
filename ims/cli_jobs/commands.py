"""The stories of `ims jobs submit | bulk | watch`: build the request, send it, follow what it
started to its end with the progress display, print the result, and say with the exit code
whether every job succeeded (0), one did not (1), or the command could not do its work (2).
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime

from ims.cli_jobs import body as bodies
from ims.cli_jobs.api import BULKS, JOBS, Api
from ims.cli_jobs.display import Display, pick
from ims.cli_jobs.errors import ApiError, CommandError, Unreachable, UsageError
from ims.cli_jobs.tally import ENDED, STATUSES, duration, of_bulk, of_job

JOB_WAIT = 10  # seconds of one long poll (?wait=): the job's end answers it at once
BULK_EVERY = 1.0  # seconds between two reads of a bulk process (it has no long poll)
PATIENCE = 60.0  # seconds a follow keeps asking a service that stopped answering (a restart)
_ID = re.compile(r"[0-9a-f]{24}")


def run(args) -> int:
    try:
        if not args.key:
            raise UsageError("no API key: pass --key or set IMS_API_KEY (the key `ims serve` printed on its "
                             "first start, or a new one from `ims keys create`)")
        with Api(args.url, args.key) as api:
            return COMMANDS[args.remote](api, args)
    except CommandError as error:
        print("\n".join(error.lines()), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("\nims: stopped watching; the jobs go on (`ims jobs watch ID` follows them again)", file=sys.stderr)
        return 130


def submit(api: Api, args) -> int:
    base = bodies.job_base(args.file)
    source = args.source or base.get("source_id")
    if not source:
        raise UsageError("--source is required (a source's name or id), or source_id in --file")
    if not (args.object_key or base.get("object_key")):
        raise UsageError("--object-key is required (the original's key in the source), or object_key in --file")
    request = bodies.with_flags(base, args, source_id=api.source_id(str(source)), object_key=args.object_key,
                                destination_ids=_destinations(api, args.dest))
    accepted = api.post(JOBS, request)
    job_id = _accepted_id(accepted, "job_id")
    if not args.wait:
        return _print_accepted(args, accepted, job_id)
    return _end(args, follow_job(api, job_id, pick()), job_summary)


def bulk(api: Api, args) -> int:
    base = bodies.bulk_base(args.file)
    source = args.source or base.get("source_id")
    if not source:
        raise UsageError("--source is required (a source's name or id), or source_id in --file")
    prefix = args.prefix if args.prefix is not None else base.get("prefix")
    if prefix is None:
        raise UsageError("--prefix is required (every object whose key starts with it; '' for all)")
    request = bodies.with_flags(base, args, source_id=api.source_id(str(source)), prefix=prefix,
                                destination_ids=_destinations(api, args.dest),
                                job_webhooks=False if args.no_job_webhooks else None)
    try:
        accepted = api.post(BULKS, request)
    except ApiError as error:
        if error.status == 404 and all(e.field is None for e in error.errors):  # the route, not a field
            raise UsageError(f"{api.url} has no bulk processes API (POST {BULKS} is 404: an older ims?)") from None
        raise
    bulk_id = _accepted_id(accepted, "bulk_id")
    if not args.wait:
        return _print_accepted(args, accepted, bulk_id)
    return _end(args, follow_bulk(api, bulk_id, pick()), bulk_summary)


def watch(api: Api, args) -> int:
    """A job id, else a bulk id (``--bulk``: a bulk id at once)."""
    if not _ID.fullmatch(args.id):  # (it goes into the path)
        raise UsageError(f"an id is 24 hexadecimal digits (a job_id or a bulk_id), got {args.id!r}")
    if not args.bulk:
        try:
            first = api.get(f"{JOBS}/{args.id}")
        except ApiError as error:
            if error.status != 404:
                raise
        else:
            return _end(args, follow_job(api, args.id, pick(), first), job_summary)
    try:
        first = api.get(f"{BULKS}/{args.id}")
    except ApiError as error:
        if error.status == 404:
            raise UsageError(f"this project has no {'' if args.bulk else 'job or '}bulk process with id {args.id!r}")
        raise
    return _end(args, follow_bulk(api, args.id, pick(), first), bulk_summary)


COMMANDS = {"submit": submit, "bulk": bulk, "watch": watch}


# -- following --------------------------------------------------------------------------------------


def follow_job(api: Api, job_id: str, display: Display, first: dict | None = None) -> dict:
    """The job's view once it has ended, long-polling it (``?wait=``)."""
    try:
        view = first or api.get(f"{JOBS}/{job_id}")
        while view.get("status") not in ENDED:
            if view.get("status") not in STATUSES:
                raise CommandError(f"the service's reply is not a job: {json.dumps(view)[:300]}")
            display.show(of_job(view))
            view = _patiently(lambda: api.get(f"{JOBS}/{job_id}", wait=JOB_WAIT), display)
        display.show(of_job(view))
        return view
    finally:
        display.close()


def follow_bulk(api: Api, bulk_id: str, display: Display, first: dict | None = None) -> dict:
    """The bulk's view once it has ended, read every ``BULK_EVERY`` seconds."""
    try:
        view = first or api.get(f"{BULKS}/{bulk_id}")
        while True:
            display.show(tally := of_bulk(view))
            if tally.done:
                return view
            time.sleep(BULK_EVERY)
            view = _patiently(lambda: api.get(f"{BULKS}/{bulk_id}"), display)
    finally:
        display.close()


def _patiently(call, display: Display):
    """``call()``, asked again for up to ``PATIENCE`` seconds while the service does not answer
    or answers 502/503/504 (a restart, a deploy); any other error at once."""
    deadline, pause = None, 0.25
    while True:
        try:
            return call()
        except (Unreachable, ApiError) as error:
            if isinstance(error, ApiError) and not error.retryable:
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + PATIENCE
                display.note(f"ims: {error.message}; asking again for up to {PATIENCE:.0f} s")
            if now >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


# -- the result -------------------------------------------------------------------------------------


def _end(args, view: dict, summary) -> int:
    """Print the ended job's or bulk's result; 0 if it succeeded, else 1."""
    if args.json:
        print(json.dumps(view, ensure_ascii=False))
    else:
        print("\n".join(summary(view)))
    return 0 if view.get("status") == "succeeded" else 1


def _accepted_id(accepted: dict, field: str) -> str:
    if not isinstance(accepted.get(field), str):
        raise CommandError(f"the service accepted the request but its reply has no {field}: {json.dumps(accepted)}")
    return accepted[field]


def _print_accepted(args, accepted: dict, ident: str) -> int:
    print(json.dumps(accepted, ensure_ascii=False) if args.json else ident)
    return 0


def job_summary(view: dict) -> list[str]:
    """``job 6b…: succeeded in 0.8 s → local/a.jpg (image/jpeg, 2.0 KB, 64×36)`` and, for
    several outputs, a line each; a failure's code and detail, and the puts that did land."""
    head = f"job {view.get('job_id')}: {view.get('status')}"
    took = _seconds(view.get("created_at"), view.get("finished_at"))
    result = view.get("result") or {}
    if view.get("status") == "succeeded":
        outputs = result.get("outputs") or []
        if len(outputs) > 1:
            return [f"{head} in {duration(took)}, {len(outputs)} outputs"] + [
                f"  {o.get('name')}: {_made(o)}" for o in outputs]
        return [f"{head} in {duration(took)} → {_made(result)}"]
    if view.get("status") == "canceled":
        return [head]
    error = view.get("error") or {}
    attempts = view.get("attempts") or 0
    lines = [f"{head} after {attempts} attempt{'s' * (attempts != 1)}: {error.get('code', 'error')}: "
             f"{error.get('detail') or error.get('message') or 'no detail'}"]
    landed = result.get("object_puts") or error.get("object_puts") or []
    if landed:
        lines.append(f"  put before it failed: {_puts(landed)}")
    return lines


def bulk_summary(view: dict) -> list[str]:
    """``bulk 6b…: succeeded, 2000 listed · succeeded 2000 · failed 0 · canceled 0 in 53 s``."""
    tally = of_bulk(view)
    took = _seconds(view.get("created_at"), view.get("finished_at"))
    counts = [f"{s} {tally.counts[s]}" for s in ENDED] + [
        f"{s} {tally.counts[s]}" for s in ("queued", "processing") if tally.counts[s]]
    line = f"bulk {tally.id}: {tally.status}, {tally.total} listed · {' · '.join(counts)}"
    lines = [line + (f" in {duration(took)}" if took is not None else "")]
    error = view.get("error")
    if error:  # the listing's (the source could not be listed)
        said = (f"{error.get('code', 'error')}: {error.get('detail') or error.get('message') or ''}"
                if isinstance(error, dict) else str(error))
        lines.append(f"  error: {said}")
    if tally.counts["failed"]:
        lines.append(f"  the failed jobs: GET {JOBS}?bulk_id={tally.id}&status=failed")
    return lines


def _made(result: dict) -> str:
    size = result.get("size")
    facts = [result.get("mime"), _bytes(size) if size not in (None, "") else None,
             f"{result.get('width')}×{result.get('height')}" if result.get("width") else None]
    described = ", ".join(str(f) for f in facts if f)
    return _puts(result.get("object_puts") or []) + (f" ({described})" if described else "")


def _puts(puts: list) -> str:
    return ", ".join(f"{p.get('bucket')}/{p.get('key')}" for p in puts if isinstance(p, dict)) or "nothing put"


def _bytes(size) -> str:
    try:
        n = int(size)
    except (TypeError, ValueError):
        return str(size)
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _seconds(start: str | None, end: str | None) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def _destinations(api: Api, given: list[str] | None) -> list[str] | None:
    return [api.destination_id(d) for d in given] if given else None

