"""The README's shell examples run as written (issue 13: "each with an example that runs as written").

A block the README marks with ``<!-- example: NAME -->`` on the line before its ```sh fence is
run by bash, in a fresh folder standing for the clone (``./var`` is the data dir, ``photo.jpg``
a 1600×900 JPEG), against a real ``ims serve --dev`` on SQLite — what ``make run`` starts. Only
what a reader fills in is filled in: the API key where a block says ``KEY=ims_…``, the port of
``127.0.0.1:8080``, the image of ``/path/to/a/photo.jpg``, this checkout's ``.venv/bin/ims``;
``$KEY`` and ``$SOURCE_ID`` are set as an earlier block would have set them. Then each block's
check looks for what its comments promise. A block marked but not checked here, or checked but
no longer marked, fails the test: the README and this list move together.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pyvips

from tests.support import readme
from tests.support.procs import BOOTSTRAP_KEY, Server, ims_env, poll

README = Path(__file__).resolve().parents[1] / "README.md"
MARKED = re.compile(r"<!-- example: ([a-z-]+) -->\n```sh\n(.*?)```", re.S)


def _examples() -> dict[str, str]:
    return dict(MARKED.findall(README.read_text()))


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """(folder, server, source id): the folder holds ``photo.jpg`` and ``var`` (the data dir)."""
    folder = tmp_path_factory.mktemp("clone")
    (pyvips.Image.black(1600, 900) + [200, 120, 40]).cast("uchar").copy(interpretation="srgb") \
        .jpegsave(str(folder / "photo.jpg"))
    data = folder / "var"
    server = Server(ims_env(data, f"sqlite:///{folder / 'ims.db'}"), folder / "serve.log", ("--dev",))
    source_id = server.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    yield folder, server, source_id
    server.stop()


def _run(clone, name: str) -> str:
    folder, server, source_id = clone
    script = _examples()[name]
    script = re.sub(r"^KEY=ims_…", f"KEY={BOOTSTRAP_KEY}", script, flags=re.M)
    script = script.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
    script = script.replace("/path/to/a/photo.jpg", str(folder / "photo.jpg"))
    script = script.replace(".venv/bin/ims", str(Path(sys.executable).with_name("ims")))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder, capture_output=True, text=True,
                          timeout=120, env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                                            "KEY": BOOTSTRAP_KEY, "SOURCE_ID": source_id})
    assert done.returncode == 0, f"{name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _size(path: Path) -> tuple[int, int] | None:
    if not path.exists():
        return None
    image = pyvips.Image.new_from_file(str(path))
    return image.width, image.height


def _presets(clone, out: str) -> None:
    folder = clone[0]
    assert _size(folder / "card.webp") == (400, 300) and _size(folder / "small.webp") == (400, 100)
    poll(lambda: _size(folder / "var/destinations/default/card.webp") == (400, 300), what="the preset's job")
    assert "this source takes only presets (presets_only)" in out


def _wait(clone, out: str) -> None:
    assert out.splitlines()[-1].startswith("succeeded {'object_puts': ")


def _outputs(clone, out: str) -> None:
    made = clone[0] / "var/destinations/default"
    poll(lambda: _size(made / "large/uploads/cat.jpg") == (1600, 900)
         and _size(made / "uploads/cat_800x450.webp") == (800, 450)
         and _size(made / "thumbs/cat.avif") == (200, 200), what="the three outputs")


def _events(clone, out: str) -> None:
    endpoint = json.loads(out)["response"]
    assert endpoint["events"] == ["background_process.failed"] and endpoint["secret"].startswith("whsec_")


def _bulk(clone, out: str) -> None:
    (line,) = [line for line in out.splitlines() if line.startswith('{"status_code"')]
    view = json.loads(line)["response"]
    assert view["status"] == "succeeded" and view["prefix"] == "uploads/2026/"
    assert view["counts"] == {"listed": 3, "queued": 0, "processing": 0, "succeeded": 3, "failed": 0, "canceled": 0}
    assert view["metadata"] == {"reason": "new thumbnail size"}
    made = clone[0] / "var/destinations/default/thumbs"
    assert [_size(made / f"photo-{i}.webp") for i in (1, 2, 3)] == [(400, 225)] * 3


def _cli(clone, out: str) -> None:
    """What the comments show, line by line (ids, times and sizes vary), then the job `watch` followed."""
    printed, promised = out.splitlines(), readme.promised_output(_examples()["cli"])
    assert len(promised) == 4 and len(printed) == 5, printed
    for pattern, line in zip(promised, printed):
        assert pattern.fullmatch(line), (pattern.pattern, line)
    assert re.fullmatch(r"job [0-9a-f]{24}: succeeded in .* → local/tiny/a\.jpg \(image/jpeg, .*, 64×36\)", printed[4])
    made = clone[0] / "var/destinations/default"
    assert [_size(made / key) for key in ("small/a.webp", "thumbs/a.jpg", "large/photos/a.jpg", "tiny/a.jpg")] == [
        (400, 225), (200, 200), (1600, 900), (64, 36)]


def _cli_bulk(clone, out: str) -> None:
    [promised] = readme.promised_output(_examples()["cli-bulk"])
    assert promised.fullmatch(out.strip()), (promised.pattern, out)
    assert _size(clone[0] / "var/destinations/default/small/photos/a.webp") == (400, 225)


CHECKS = {"presets": _presets, "wait": _wait, "outputs": _outputs, "events": _events, "bulk": _bulk, "cli": _cli,
          "cli-bulk": _cli_bulk}


def test_every_marked_example_has_a_check():
    assert set(_examples()) == set(CHECKS)


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_example_runs_as_written(clone, name):
    if name == "wait":  # it follows the others: photo.jpg is in the source by then
        (clone[0] / "var/sources/default").mkdir(parents=True, exist_ok=True)
        (clone[0] / "var/sources/default/photo.jpg").write_bytes((clone[0] / "photo.jpg").read_bytes())
    CHECKS[name](clone, _run(clone, name))
