"""The README's parameter table is the one ``ims.paramdoc`` generates from ``params.TABLE``."""

from __future__ import annotations

from ims import paramdoc
from ims.params import TABLE


def test_readme_table_is_generated_from_the_table():
    readme = paramdoc.README.read_text(encoding="utf-8")
    assert paramdoc.replace(readme) == readme, "README.md is stale: run `make paramdoc`"


def test_every_parameter_and_alias_has_a_row():
    table = paramdoc.table()
    for param in TABLE:
        assert f"| `{param.name}` |" in table
        for alias in param.aliases:
            assert f"`{alias}`" in table


def test_replace_needs_the_markers():
    try:
        paramdoc.replace("no markers here")
    except ValueError as err:
        assert "params:begin" in str(err)
    else:
        raise AssertionError("replace accepted a text without markers")
