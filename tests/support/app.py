"""An ims app on real databases, driven in-process through its ASGI interface."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from fastapi.testclient import TestClient

from ims.bootstrap import bootstrap
from ims.config import Settings
from ims.services import Services
from ims.web.app import create_app


@dataclass
class RunningApp:
    client: TestClient
    key: str
    project_id: str
    svc: Services

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.svc.close()

    def api(self, method: str, url: str, key: str | None = "default", **kw):
        headers = kw.pop("headers", {})
        if key is not None:
            headers["x-api-key"] = self.key if key == "default" else key
        return self.client.request(method, url, headers=headers, **kw)


def app_settings(data_dir: Path, database_url: str, **overrides) -> Settings:
    base = Settings(
        data_dir=data_dir,
        database_url=database_url,
        fs_roots=(data_dir / "sources", data_dir / "destinations"),  # the default layout
        workers=0,
        secret_key="test-secret-key",
        bootstrap_api_key="ims_test_bootstrap_key_0123456789abcdefghijklmnopqrstuvwxyz",
    )
    return replace(base, **overrides)


def start_app(settings: Settings, *, run_workers: bool = False) -> RunningApp:
    """``run_workers``: the app runs ``settings.workers`` background workers, as ``ims serve`` does."""
    settings.check_fs_roots()  # as ims serve does
    svc = Services.open(settings)
    svc.db.migrate()
    created = bootstrap(svc.db, svc.settings, svc.sealer)
    assert created is not None
    client = TestClient(create_app(svc, run_workers=run_workers), raise_server_exceptions=False)
    client.__enter__()  # one event loop for the app's life, and its lifespan runs
    return RunningApp(client=client, key=created.api_key, project_id=created.project_id, svc=svc)
