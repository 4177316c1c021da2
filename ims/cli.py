"""The `ims` command: serve | worker | migrate | project create | keys create | sign-url | webhooks listen
| jobs submit | jobs bulk | jobs watch (those three in ``ims.cli_jobs``: clients of a running service)."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from importlib.metadata import version

from ims import cli_jobs, logs
from ims.config import Settings, SettingsError, documented
from ims.errors import ImsError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "remote", None):  # `ims jobs …`: a client of a running service, no settings of its own
        return cli_jobs.run(args)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"ims: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level)
    try:
        return args.run(settings, args) or 0
    except SettingsError as error:  # from the start checks (_open)
        print(f"ims: {error}", file=sys.stderr)
        return 2
    except ImsError as error:  # a command's argument names nothing that exists (keys create --project)
        print(f"ims: {error.message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ims", description="Self-hosted image service (settings: IMS_* env)")
    parser.add_argument("--version", action="version", version=f"ims {version('ims')}")
    sub = parser.add_subparsers()

    serving = sub.add_parser("serve", help="HTTP API + console + in-process workers",
                             description="Serve the HTTP API, the console and (IMS_WORKERS) background workers.",
                             epilog=_settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    serving.add_argument("--host", help="listen address (overrides IMS_HOST)")
    serving.add_argument("--port", type=_port, help="listen port (overrides IMS_PORT)")
    serving.add_argument("--processes", type=_processes,
                         help="server processes on the one port, each with its share of the cores' pixel "
                              "children (overrides IMS_PROCESSES; default 1)")
    _dev_option(serving)
    serving.set_defaults(run=serve)
    working = sub.add_parser("worker", help="background workers only (IMS_WORKERS at a time)",
                             epilog=_settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    _dev_option(working)
    working.set_defaults(run=worker)
    sub.add_parser("migrate", help="create or upgrade the database schema; says which").set_defaults(run=migrate)

    project = sub.add_parser("project", help="projects").add_subparsers()
    create = project.add_parser("create", help="create a project; prints its id and API key as JSON")
    create.add_argument("name")
    create.set_defaults(run=project_create)

    keys = sub.add_parser("keys", help="API keys").add_subparsers()
    key = keys.add_parser("create", help="add an API key to a project (a lost one is replaced this way); "
                                          "prints it as JSON")
    key.add_argument("--project", default="default", help="a project id, or 'default' (the default: "
                                                          "the project the first start created)")
    key.add_argument("--name", default="cli", help="the key's name in GET /api/v1/api_keys (default: cli)")
    key.set_defaults(run=keys_create)

    sign = sub.add_parser("sign-url", help="print a signed on-demand URL")
    sign.add_argument("url", help="path and query, e.g. /default/a.jpg?w=300, or a full URL")
    sign.add_argument("--key", required=True, help="the source's signing_key")
    sign.add_argument("--scheme", default="hmac-sha256", choices=["hmac-sha256", "imgix-md5"])
    sign.add_argument("--expires", type=int, help="unix time after which the URL answers 410")
    sign.set_defaults(run=sign_url)

    hooks = sub.add_parser("webhooks", help="webhook tools").add_subparsers()
    listen = hooks.add_parser("listen", help="a local receiver that verifies and prints deliveries")
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument("--port", type=int, default=9000)
    listen.add_argument("--secret", help="the endpoint's whsec_ secret (without it nothing is verified)")
    listen.set_defaults(run=webhooks_listen)

    cli_jobs.add_commands(sub)
    return parser


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 65535, got {raw!r}")
    return port


def _processes(raw: str) -> int:
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= 256:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to 256, got {raw!r}")
    return count


def _dev_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dev", action="store_true",
                        help="development mode: webhook receivers on this machine (localhost, 127.0.0.1, ::1) "
                             "are allowed, e.g. `ims webhooks listen`; other private addresses stay refused")


def _settings_help() -> str:
    """The settings that matter, one line each, from ``ims.config.documented``."""
    rows = documented()
    width = max(len(name) for name, _, _ in rows) + 2
    lines = [f"  {name:<{width}}{meaning} [default: {default}]" for name, default, meaning in rows]
    return "settings (environment variables):\n" + "\n".join(lines)


def _with_options(settings: Settings, args) -> Settings:
    """The settings as the command line changes them (--host, --port, --dev)."""
    changes = {}
    if getattr(args, "host", None):
        changes["host"] = args.host
    if getattr(args, "port", None) is not None:
        changes["port"] = args.port
    if getattr(args, "dev", False):
        changes["allow_loopback_webhooks"] = True
    if getattr(args, "processes", None):
        changes["processes"] = args.processes
    return replace(settings, **changes)


def _limit_malloc_arenas() -> None:
    """glibc gives busy threads malloc arenas of their own; with libvips' worker threads they
    keep hundreds of MB of freed pixel buffers. Two arenas keep RSS near what is in use."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc
        pass


def _open(settings: Settings, *, dedicated: bool = False):
    from ims.services import Services

    settings.check_fs_roots()
    _limit_malloc_arenas()
    svc = Services.open(settings, dedicated=dedicated)
    svc.db.migrate()
    return svc


def serve(settings: Settings, args) -> int:
    import uvicorn

    from ims.bootstrap import bootstrap
    from ims.web.app import create_app

    settings = _with_options(settings, args)
    svc = _open(settings)
    created = bootstrap(svc.db, svc.settings, svc.sealer)
    _announce(svc.settings, created)
    # Our handler for uvicorn's own lines (log_config=None); the access log is ours (ims.web.access).
    options = {"host": settings.host, "port": settings.port, "log_config": None, "log_level": settings.log_level,
               "access_log": False}
    if settings.processes > 1:
        # uvicorn's supervisor: N spawned processes accept on one socket, each builds its own
        # Services (``process_app``) from the environment and this command line's options.
        svc.close()
        os.environ[_SERVE_OPTIONS] = json.dumps({"host": settings.host, "port": settings.port,
                                                 "dev": settings.allow_loopback_webhooks,
                                                 "processes": settings.processes, "supervisor": os.getpid()})
        print(f"ims: {settings.processes} server processes on {settings.host}:{settings.port}", flush=True)
        uvicorn.run("ims.cli:process_app", factory=True, workers=settings.processes, **options)
        return 0
    app = create_app(svc, run_workers=True)
    uvicorn.run(app, **options)
    svc.close()
    return 0


_SERVE_OPTIONS = "IMS_SERVE_OPTIONS"  # `ims serve`'s command-line options, for its server processes


def process_app():
    """The app of one of ``ims serve --processes N``'s server processes (the first process has
    migrated and bootstrapped already)."""
    from ims.services import Services
    from ims.web.app import create_app

    options = json.loads(os.environ.get(_SERVE_OPTIONS) or "{}")
    settings = replace(Settings.from_env(), host=options.get("host", "127.0.0.1"), port=options.get("port", 8080),
                       allow_loopback_webhooks=bool(options.get("dev")), processes=options.get("processes", 1))
    logs.configure(settings.log_format, settings.log_level)
    _limit_malloc_arenas()
    _stop_with_parent(options.get("supervisor"))
    return create_app(Services.open(settings), run_workers=True)


def _stop_with_parent(supervisor: int | None) -> None:
    """Stop this server process (SIGTERM: a normal shutdown, its pixel children with it) when the
    supervisor is gone, even killed by SIGKILL, which it cannot pass on; past 10 s it exits
    at once. A thread that looks once a second (PR_SET_PDEATHSIG's signal reached the processes,
    but one in a few did not finish its graceful stop without a second signal)."""
    parent = supervisor or os.getppid()  # (the supervisor may be gone before this process got here)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # a graceful stop that hangs (seen: one process in a few) ends here
        os._exit(0)

    threading.Thread(target=watch, name="ims-parent-watch", daemon=True).start()


def _announce(settings: Settings, created) -> None:
    """The start banner: on the first start (``created``) the default project's key and what to
    try; on every start which outbound addresses are allowed."""
    if created is None:
        print("\n".join(["", *_network_lines(settings), ""]), flush=True)
        return
    base = f"http://{settings.host}:{settings.port}"
    lines = ["", "ims: first start — created the default project."]
    if created.key_was_generated:
        lines.append(f"  API key (shown once, keep it): {created.api_key}")
    else:
        lines.append("  API key: the one in IMS_BOOTSTRAP_API_KEY")
    lines += [
        f"  Originals go in {settings.data_dir / 'sources' / 'default'}, results land in "
        f"{settings.data_dir / 'destinations' / 'default'}.",
        f"  Try: curl -H 'x-api-key: {created.api_key if created.key_was_generated else '$IMS_BOOTSTRAP_API_KEY'}' "
        f"{base}/api/v1/sources",
        f"  Console: {base}/console (sign in with the API key)",
        *_network_lines(settings),
        "",
    ]
    print("\n".join(lines), flush=True)


def _network_lines(settings: Settings) -> list[str]:
    if settings.allow_private_networks:
        return ["  Private networks: allowed (IMS_ALLOW_PRIVATE_NETWORKS=1) — http sources, S3 endpoints and "
                "webhooks may reach loopback and private addresses; unset it when tenants are not trusted."]
    if settings.allow_loopback_webhooks:
        return ["  Development mode (--dev): webhook receivers on this machine (localhost, 127.0.0.1, ::1) are "
                "allowed, e.g. `ims webhooks listen --port 9000`; a plain `ims serve` refuses them.",
                "  Private networks: refused otherwise — http sources, S3 endpoints and other webhooks must be "
                "public hosts. For a local MinIO/SeaweedFS, start with IMS_ALLOW_PRIVATE_NETWORKS=1."]
    return ["  Private networks: refused — http sources, S3 endpoints and webhooks must be public hosts. "
            "For a local MinIO/SeaweedFS or receiver on 127.0.0.1, start with IMS_ALLOW_PRIVATE_NETWORKS=1 "
            "(a webhook receiver on this machine only: `ims serve --dev`)."]


def worker(settings: Settings, args) -> int:
    import asyncio
    import os
    import signal

    from ims.metrics import serve_http

    settings = _with_options(settings, args)
    svc = _open(settings, dedicated=True)  # it does nothing else: see Services.open
    if settings.allow_loopback_webhooks:
        print(_network_lines(settings)[0], flush=True)
    concurrency = settings.workers or os.cpu_count() or 1
    try:
        scrape = serve_http(svc.metrics, settings.host, settings.metrics_port) if settings.metrics_port else None
    except OSError as error:  # (the port is taken, the host is not ours)
        svc.close()
        raise SettingsError(f"IMS_METRICS_PORT: cannot listen on {settings.host}:{settings.metrics_port} "
                            f"({error.strerror or error})") from None

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(f"ims: worker running {concurrency} jobs at a time; SIGTERM stops it gracefully", flush=True)
        if scrape:
            print(f"ims: metrics on http://{settings.host}:{settings.metrics_port}/metrics", flush=True)
        await svc.background(concurrency=concurrency).run(stop)
        await svc.aclose()

    asyncio.run(run())
    if scrape:
        scrape.shutdown()
    svc.close()
    return 0


def migrate(settings: Settings, _args) -> int:
    from ims.db import Database
    from ims.db.engine import wait_seconds

    settings.check_fs_roots()
    db = Database(settings.database_url, bound=wait_seconds(settings.job_lease_seconds))
    try:
        done = db.migrate()
    finally:
        db.dispose()
    print(f"ims: {done}")  # created schema 0003 | upgraded 0002 → 0003 | up to date at 0003
    return 0


def project_create(settings: Settings, args) -> int:
    from ims.manage.keys import create_project

    svc = _open(settings)
    with svc.db.write() as conn:
        project_id, key = create_project(conn, args.name)
    svc.close()
    print(json.dumps({"project_id": project_id, "api_key": key}))
    return 0


def keys_create(settings: Settings, args) -> int:
    from ims.manage.keys import add_key, find_project

    svc = _open(settings)
    try:
        with svc.db.write() as conn:
            project_id = find_project(conn, args.project)
            row, key = add_key(conn, project_id, args.name)
    finally:
        svc.close()
    print(json.dumps({"project_id": project_id, "key_id": row["id"], "name": row["name"], "api_key": key}))
    return 0


def sign_url(_settings: Settings, args) -> int:
    from urllib.parse import urlsplit

    from ims.signing import sign_url as sign

    parts = urlsplit(args.url)
    signed = sign(parts.path, parts.query, args.key, scheme=args.scheme, expires=args.expires)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""
    print(origin + signed)
    return 0


def webhooks_listen(_settings: Settings, args) -> int:
    from ims.webhooks.listen import serve as listen

    listen(args.host, args.port, args.secret)
    return 0


if __name__ == "__main__":
    sys.exit(main())
