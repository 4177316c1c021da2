"""What the package ships (issue 10 item 8): a wheel built from the tree holds every file under
ims/ (migrations, and any static or template files), every package-data pattern matches a file,
and the licence goes along."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _tree_files() -> set[str]:
    """Every file under ims/ as the wheel names it, caches left out."""
    return {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "ims").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built by pip from a copy of the tree (a stale build/ of the checkout cannot leak in)."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "ims", src / "ims", ignore=ignore)
    for name in ("pyproject.toml", "LICENSE", "README.md"):
        shutil.copyfile(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("ims-*.whl")
    return zipfile.ZipFile(built)


def test_every_package_data_pattern_matches_a_file():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["ims"]
    for pattern in patterns:
        assert [p for p in (REPO / "ims").glob(pattern) if p.is_file()], f"package-data {pattern!r} matches nothing"


def test_the_wheel_holds_every_file_under_ims_the_migrations_included(wheel):
    names = set(wheel.namelist())
    missing = sorted(_tree_files() - names)
    assert not missing, f"not in the wheel (add a package-data pattern in pyproject.toml): {missing}"
    migrations = sorted(p.name for p in (REPO / "ims" / "db" / "migrations" / "versions").glob("*.py"))
    assert len(migrations) >= 3
    assert all(f"ims/db/migrations/versions/{name}" in names for name in migrations)
    assert "ims/db/migrations/env.py" in names


def test_the_wheel_carries_the_mit_licence_and_the_command(wheel):
    names = wheel.namelist()
    (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert wheel.read(licence).decode().startswith("MIT License\n\nCopyright (c) 2026 ims authors")
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert "License-Expression: MIT" in wheel.read(metadata).decode()
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "ims = ims.cli:main" in wheel.read(entry_points).decode()
