"""URLs built by the real ``@imgix/js-core`` (npm) at its default settings work (issue 12 item 1).

The library adds ``ixlib=js-…`` to every URL and signs with md5(token + path + "?" + query);
DPR srcsets also add ``dpr`` and lower ``q`` per density. The package is installed from the
npm registry into ``.cache/node`` the first time (Node is part of the test setup, like
SeaweedFS and chromium). Path form and Host-header form, keys with a space and ``é``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / ".cache" / "node"
SCRIPT = ROOT / "tests" / "support" / "imgix_js.mjs"
PACKAGE = "@imgix/js-core@3"
TOKEN = "imgix-js-token-0123456789"
HOST = "js.example.test"
KEYS = ("photo é.png", "summer 2024/café au lait é.png")


def _js_core() -> Path:
    """``node_modules`` holding @imgix/js-core, installed once per checkout."""
    modules = NODE_DIR / "node_modules"
    if not (modules / "@imgix" / "js-core" / "package.json").exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the @imgix/js-core tests (Node.js and npm from the machine's packages)"
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(NODE_DIR), PACKAGE],
                       check=True, timeout=300)
    return modules


def _build(domain: str, prefix: str) -> dict:
    spec = {
        "domain": domain, "token": TOKEN,
        "single": [[prefix + key, params] for key in KEYS
                   for params in ({"w": 300}, {"w": 200, "h": 200, "fit": "crop"}, {"h": 100, "fm": "webp"}, {})],
        "fluid": [[prefix + KEYS[1], {"fm": "webp"}, {"minWidth": 100, "maxWidth": 900, "widthTolerance": 0.2}]],
        "dpr": [[prefix + KEYS[0], {"w": 120}]],
    }
    # Node resolves packages from the script's folder upwards; point it at the installed ones.
    script = NODE_DIR / SCRIPT.name
    script.write_text(SCRIPT.read_text())
    out = subprocess.run(["node", str(script), json.dumps(spec)], cwd=NODE_DIR, capture_output=True,
                         text=True, check=True, timeout=60)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def js_core():
    return _js_core()


@pytest.fixture
def site(make_sqlite_app, kit):
    """A signed imgix-md5 source named ``legacy``, bound to HOST, holding KEYS (1000×500 each)."""
    app = make_sqlite_app()
    _, directory = kit.fs_source(app, "legacy", access="signed", signature="imgix-md5",
                                 signing_key=TOKEN, hostnames=[HOST])
    for key in KEYS:
        kit.put(directory, key, kit.image(1000, 500))
    return app


@pytest.mark.parametrize("form", ["path", "host"])
def test_every_url_js_core_builds_returns_the_size_it_asked_for(js_core, site, kit, form):
    domain, prefix = ("ims.example.test", "legacy/") if form == "path" else (HOST, "")
    built = _build(domain, prefix)
    expected_single = [(300, 150), (200, 200), (200, 100), (1000, 500)] * len(KEYS)

    for url, size in zip(built["single"], expected_single, strict=True):
        assert "ixlib=js-" in url and "&s=" in url and "%C3%A9" in url, url
        image = kit.decode(site.client.get(url))
        assert (image.width, image.height) == size, url

    densities = 0
    for url, descriptor in built["srcsets"]:
        assert "ixlib=js-" in url, url
        image = kit.decode(site.client.get(url))
        if descriptor.endswith("w"):
            assert image.width == int(descriptor[:-1]), url
        else:  # "2x": w=120 at that density
            densities += 1
            assert image.width == round(120 * float(descriptor[:-1])), url
    assert densities == 5 and len(built["srcsets"]) >= 10


def test_a_changed_js_core_url_is_refused(js_core, site):
    url = _build(HOST, "")["single"][0]
    assert site.client.get(url).status_code == 200
    assert site.client.get(url.replace("ixlib=js-", "ixlib=jx-")).status_code == 403
