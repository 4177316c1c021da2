"""The start banner of ``ims serve`` says whether private networks are allowed (issue 9 item 5) and
whether the development mode allows webhook receivers on this machine (issue 10 item 5)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ims.bootstrap import Bootstrapped
from ims.cli import _announce
from ims.config import Settings


def _banner(capsys, env: dict, *, dev: bool = False, first: bool = True) -> str:
    settings = Settings.from_env({"IMS_DATA_DIR": str(Path("/tmp/ims-banner")), **env})
    settings = replace(settings, allow_loopback_webhooks=dev)
    created = Bootstrapped(project_id="p" * 24, api_key="ims_key", key_was_generated=True) if first else None
    _announce(settings, created)
    return capsys.readouterr().out


def test_the_default_refuses_private_networks_and_says_how_to_allow_them(capsys):
    out = _banner(capsys, {})
    assert "Private networks: refused" in out and "IMS_ALLOW_PRIVATE_NETWORKS=1" in out
    assert "MinIO/SeaweedFS" in out


def test_allowing_them_is_said_too(capsys):
    out = _banner(capsys, {"IMS_ALLOW_PRIVATE_NETWORKS": "1"})
    assert "Private networks: allowed (IMS_ALLOW_PRIVATE_NETWORKS=1)" in out


def test_the_default_says_how_to_allow_a_local_webhook_receiver(capsys):
    assert "(a webhook receiver on this machine only: `ims serve --dev`)" in _banner(capsys, {})


def test_the_development_mode_says_loopback_receivers_are_allowed_and_nothing_else(capsys):
    out = _banner(capsys, {}, dev=True)
    assert "Development mode (--dev): webhook receivers on this machine (localhost, 127.0.0.1, ::1) are " \
           "allowed" in out
    assert "Private networks: refused otherwise" in out and "IMS_ALLOW_PRIVATE_NETWORKS=1" in out


def test_every_start_says_it_not_only_the_first(capsys):
    out = _banner(capsys, {}, dev=True, first=False)
    assert "Development mode (--dev)" in out and "first start" not in out
    assert "Private networks: refused" in _banner(capsys, {}, first=False)


def test_the_readme_shows_the_banner_make_run_prints(capsys):
    """README and banner must match: `make run` is `ims serve --dev` on a fresh data dir."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    out = _banner(capsys, {}, dev=True)
    for line in out.splitlines():
        if line.startswith(("  Development mode", "  Private networks")):
            assert line in readme.splitlines(), line


def test_it_points_at_the_console(capsys):
    out = _banner(capsys, {"IMS_PORT": "8123"})
    assert "Console: http://127.0.0.1:8123/console (sign in with the API key)" in out
