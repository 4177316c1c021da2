"""Request bodies from the command line: a JSON file as the base, the flags on top of it.

The bodies are the API's own (SPEC §3); nothing here checks parameters or templates — the
service does, and its 400 names the field. What is checked here is only what cannot be sent:
a flag that is not ``NAME=VALUE``, a file that is not JSON, metadata that is not an object.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentTypeError
from pathlib import Path

from ims.cli_jobs.errors import UsageError


def parameter(raw: str) -> tuple[str, str]:
    """``--param w=1600`` → ``("w", "1600")`` (the service takes strings for every parameter)."""
    name, sep, value = raw.partition("=")
    if not sep or not name.strip():
        raise ArgumentTypeError(f"expected NAME=VALUE (e.g. w=1600), got {raw!r}")
    return name.strip(), value


def metadata(raw: str) -> dict:
    """``--metadata '{"order": 17}'``: a JSON object."""
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ArgumentTypeError(f"must be a JSON object, e.g. '{{\"order\": 17}}' ({error})") from None
    if not isinstance(value, dict):
        raise ArgumentTypeError(f"must be a JSON object, e.g. '{{\"order\": 17}}', got {raw!r}")
    return value


def read_json(path: str, flag: str = "--file"):
    """The JSON in ``path`` (``-``: standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise UsageError(f"{flag}: cannot read {path!r} ({error.strerror or error})") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise UsageError(f"{flag}: {path!r} is not JSON ({error})") from None


def job_base(path: str | None) -> dict:
    """``submit --file job.json``: a job body as POST …/background_processes takes it."""
    if path is None:
        return {}
    body = read_json(path)
    if not isinstance(body, dict):
        raise UsageError(f"--file: {path!r} must hold a JSON object (a job, as POST "
                         "/api/processes/v1/background_processes takes it)")
    return body


def bulk_base(path: str | None) -> dict:
    """``bulk --file F``: a list of outputs, or an object (a bulk body, its fields as the API's)."""
    if path is None:
        return {}
    body = read_json(path)
    if isinstance(body, list):
        return {"outputs": body}
    if not isinstance(body, dict):
        raise UsageError(f"--file: {path!r} must hold a list of outputs or a JSON object (a bulk process, "
                         "as POST /api/processes/v1/bulk_processes takes it)")
    return body


def with_flags(base: dict, args, **resolved) -> dict:
    """``base`` with what the flags say: ``--param`` entries over the file's ``parameters``,
    every other flag given replacing the file's field; ``resolved`` (ids) as given."""
    body = dict(base)
    if args.param:
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        body["parameters"] = {**parameters, **dict(args.param)}
    given = {"preset": args.preset, "destination_object_key": args.dest_key, "metadata": args.metadata}
    body.update({field: value for field, value in given.items() if value is not None})
    body.update({field: value for field, value in resolved.items() if value is not None})
    return body
