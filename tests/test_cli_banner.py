"""The first-start banner of ``ims serve`` says whether private networks are allowed (issue 9 item 5)."""

from __future__ import annotations

from pathlib import Path

from ims.bootstrap import Bootstrapped
from ims.cli import _announce
from ims.config import Settings


def _banner(capsys, env: dict) -> str:
    settings = Settings.from_env({"IMS_DATA_DIR": str(Path("/tmp/ims-banner")), **env})
    _announce(settings, Bootstrapped(project_id="p" * 24, api_key="ims_key", key_was_generated=True))
    return capsys.readouterr().out


def test_the_default_refuses_private_networks_and_says_how_to_allow_them(capsys):
    out = _banner(capsys, {})
    assert "Private networks: refused" in out and "IMS_ALLOW_PRIVATE_NETWORKS=1" in out
    assert "MinIO/SeaweedFS" in out


def test_allowing_them_is_said_too(capsys):
    out = _banner(capsys, {"IMS_ALLOW_PRIVATE_NETWORKS": "1"})
    assert "Private networks: allowed (IMS_ALLOW_PRIVATE_NETWORKS=1)" in out


def test_it_points_at_the_console(capsys):
    out = _banner(capsys, {"IMS_PORT": "8123"})
    assert "Console: http://127.0.0.1:8123/console (sign in with the API key)" in out
