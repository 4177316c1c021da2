"""The packages of ``ims`` import one way: down the layers, never up, and never in a circle.

    4  entry points    web, cli, cli_jobs, services, bootstrap, paramdoc
                       (``services`` builds the long-lived parts and hands each component
                       the few it uses; nothing below imports it)
    3  use cases       jobs → webhooks → manage
                       (a job's end writes webhook messages; webhooks sign with endpoint
                       secrets and show deliveries; manage — the configuration — imports
                       neither)
    2  machinery       render, overlays, results, pipeline, storage, storages, db, cache, pool
    1  pure            params, errors, config, ids, jsonsafe, signing, netguard, crypto,
                       geometry, colours, logs, metrics, egress, and ``ims`` itself

A module may import its own package, any package of a lower layer, and a package of its
own layer as long as no circle forms between packages of that layer (the arrows above
are the order that holds today). Every import counts, also one inside a function: a
deferred import is still a dependency. The test reads the source with ``ast`` (nothing
is imported), so a failure names the file, the line and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "ims"

LAYERS = {
    4: ("web", "cli", "cli_jobs", "services", "bootstrap", "paramdoc"),
    3: ("jobs", "webhooks", "manage"),
    2: ("render", "overlays", "results", "pipeline", "storage", "storages", "db", "cache", "pool"),
    1: ("", "params", "errors", "config", "ids", "jsonsafe", "signing", "netguard", "crypto", "geometry",
        "colours", "logs", "metrics", "egress"),
}
LAYER_OF = {unit: layer for layer, units in LAYERS.items() for unit in units}


def _unit(module: str) -> str:
    """The package (or top-level module) of ``ims.a.b``: ``a``; ``ims`` itself is ``""``."""
    parts = [p for p in module.split(".") if p != "__init__"]
    return parts[1] if len(parts) > 1 else ""


def _module(path: Path) -> str:
    return ".".join(("ims",) + path.relative_to(ROOT).with_suffix("").parts)


def _imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module imported, as written) for every import of an ``ims`` module in ``path``."""
    package = ["ims", *path.relative_to(ROOT).parent.parts]  # (of ``__init__.py`` too: its own package)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, f"import {a.name}") for a in node.names if a.name.split(".")[0] == "ims"]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if target.split(".")[0] != "ims":
                continue
            written = f"from {'.' * node.level}{node.module or ''} import {', '.join(a.name for a in node.names)}"
            if target == "ims":  # ``from ims import pipeline``: the names may be packages
                found += [(node.lineno, f"ims.{a.name}", written) for a in node.names]
            else:
                found.append((node.lineno, target, written))
    return found


def _edges() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, "file:line: import …") for imports between different units."""
    edges = []
    for path in sorted(ROOT.rglob("*.py")):
        here = _unit(_module(path))
        for line, target, written in _imports(path):
            there = _unit(target)
            if there != here:
                edges.append((here, there, f"{path.relative_to(ROOT.parent)}:{line}: {written}"))
    return edges


def test_every_package_has_a_layer():
    units = {_unit(_module(p)) for p in ROOT.rglob("*.py")}
    unplaced = sorted(u for u in units if u not in LAYER_OF)
    assert not unplaced, f"ims.{unplaced[0]} is in no layer: add it to LAYERS in tests/test_layers.py"


def test_no_module_imports_a_higher_layer():
    upward = [f"{where} — layer {LAYER_OF[a]} ({a or 'ims'}) imports layer {LAYER_OF[b]} ({b})"
              for a, b, where in _edges() if a in LAYER_OF and b in LAYER_OF and LAYER_OF[b] > LAYER_OF[a]]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_packages_of_one_layer_form_no_cycle():
    graph: dict[str, dict[str, str]] = {}
    for a, b, where in _edges():
        if a in LAYER_OF and LAYER_OF.get(b) == LAYER_OF[a]:
            graph.setdefault(a, {}).setdefault(b, where)
    cycle = _find_cycle(graph)
    assert cycle is None, "packages of one layer import each other in a circle:\n" + "\n".join(
        graph[a][b] for a, b in zip(cycle, cycle[1:]))


def _find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """A path a → … → a in ``graph``, or None (depth-first, colouring nodes as visited)."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, {})):
            found = visit(nxt, path + [node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_the_check_sees_an_upward_import_and_a_cycle(tmp_path):
    """The walk itself: a deferred relative import is found and resolved, and a circle is found."""
    package = tmp_path / "ims" / "jobs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "x.py").write_text("def f():\n    from ..web import app\n    from . import queue\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path / "ims"
    try:
        assert _imports(package / "x.py") == [(2, "ims.web", "from ..web import app"),
                                             (3, "ims.jobs", "from . import queue")]
    finally:
        ROOT = saved
    assert _find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b": ""}, "b": {"c": ""}}) is None
