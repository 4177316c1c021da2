"""`ims jobs submit | bulk | watch`: background jobs on a running service, through its HTTP API
(``--url``/``IMS_URL``, ``--key``/``IMS_API_KEY``), followed with a live progress display.

    __init__   the commands' arguments (argparse only: ``ims serve`` loads nothing more)
    commands   submit, bulk, watch — each a story top to bottom; the exit code
    body       request bodies from a JSON file and the flags
    api        the HTTP calls (httpx)
    errors     the one error tree of the commands (exit 2)
    tally      where a job or a bulk stands; the rate and ETA
    display    the live bar (rich) on a terminal, plain lines elsewhere

Exit codes: 0 every job succeeded · 1 a job failed or was canceled · 2 a usage error, an
error reply of the service or no service at the URL · 130 interrupted (the jobs go on).
"""

from __future__ import annotations

import argparse
import os

DEFAULT_URL = "http://127.0.0.1:8080"
_DESCRIPTION = """Background jobs on a running service, through its HTTP API (--url or IMS_URL, --key or
IMS_API_KEY), followed to their end with a live progress display on standard error; the result
goes to standard output.

exit codes: 0 every job succeeded · 1 a job failed or was canceled · 2 a usage error, an error
reply of the service or no service at the URL · 130 interrupted (the jobs go on)"""

_SUBMIT_EXAMPLES = """examples:
  ims jobs submit --source default --object-key photos/a.jpg --param w=1600 --param fm=webp
  ims jobs submit --source default --object-key photos/a.jpg --preset card --dest-key cards/a.webp
  ims jobs submit --file job.json          (a job body as POST /api/processes/v1/background_processes takes it;
                                            flags given beside it replace its fields)"""
_BULK_EXAMPLES = """examples:
  ims jobs bulk --source default --prefix uploads/2026/ --preset card --dest-key 'cards/{dir}/{stem}.{ext}'
  ims jobs bulk --source default --prefix uploads/ --param w=400 --param fm=avif --dest-key 'small/{key}'
  ims jobs bulk --source default --prefix uploads/ --file outputs.json   (a JSON list of outputs)"""


def add_commands(sub) -> None:
    """``ims jobs …`` on the ``ims`` parser's subparsers; each command sets ``remote``."""
    jobs = sub.add_parser("jobs", help="submit and follow background jobs on a running service",
                          description=_DESCRIPTION,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs.set_defaults(remote=lambda _args: _print_help(jobs))
    commands = jobs.add_subparsers()
    common = _common()

    submit = commands.add_parser("submit", parents=[common], help="submit one job and follow it to its end",
                                 epilog=_SUBMIT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    submit.add_argument("--source", metavar="NAME_OR_ID", help="the source (its name or id; or source_id in --file)")
    submit.add_argument("--object-key", metavar="KEY", help="the original's key in the source (or object_key in --file)")
    _render_options(submit)
    submit.add_argument("--dest-key", metavar="KEY", help="destination_object_key (default: the object key)")
    submit.add_argument("--file", metavar="JOB.json", help="a job body as JSON ('-': standard input)")
    submit.set_defaults(remote="submit")

    bulk = commands.add_parser("bulk", parents=[common], help="one job per object under a prefix, with progress",
                               epilog=_BULK_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    bulk.add_argument("--source", metavar="NAME_OR_ID", help="the source to list (fs or s3)")
    bulk.add_argument("--prefix", help="every object whose key starts with this ('' for all)")
    _render_options(bulk)
    bulk.add_argument("--dest-key", metavar="TEMPLATE",
                      help="destination_object_key template: {key} {dir} {stem} {ext} {name} {w} {h}")
    bulk.add_argument("--file", metavar="OUTPUTS.json",
                      help="a JSON list of outputs, or a bulk body as JSON ('-': standard input)")
    bulk.add_argument("--no-job-webhooks", action="store_true",
                      help="no webhook per job (background_bulk.completed is still sent)")
    bulk.set_defaults(remote="bulk")

    watch = commands.add_parser("watch", parents=[common], help="follow a job or a bulk process to its end")
    watch.add_argument("id", help="a job_id or a bulk_id")
    watch.add_argument("--bulk", action="store_true", help="the id is a bulk_id (without it: a job's, else a bulk's)")
    watch.set_defaults(remote="watch", wait=True)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("IMS_URL") or DEFAULT_URL,
                        help=f"the service's base URL (default: IMS_URL, else {DEFAULT_URL})")
    common.add_argument("--key", default=os.environ.get("IMS_API_KEY"),
                        help="the project's API key (default: IMS_API_KEY)")
    common.add_argument("--json", action="store_true",
                        help="print the final job or bulk process as JSON instead of a summary")
    return common


def _render_options(parser: argparse.ArgumentParser) -> None:
    from ims.cli_jobs.body import metadata, parameter

    parser.add_argument("--param", "-p", action="append", type=parameter, default=[], metavar="NAME=VALUE",
                        help="an on-demand parameter (repeatable): w=1600, fm=webp, …")
    parser.add_argument("--preset", help="one of the project's presets")
    parser.add_argument("--dest", action="append", metavar="NAME_OR_ID",
                        help="a destination (repeatable; default: all the project's)")
    parser.add_argument("--metadata", type=metadata, metavar="JSON", help="a JSON object echoed in the webhook")
    parser.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                        help="follow to the end (default) or print the id and return")


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run(args) -> int:
    """Run the ``ims jobs`` command ``args`` chose; its exit code."""
    if callable(args.remote):
        return args.remote(args)
    from ims.cli_jobs.commands import run as run_command

    return run_command(args)
