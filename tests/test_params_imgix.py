"""ims.params against imgix's vocabulary (issue 12): aliases from imgix's parameter list,
crop fallback chains, client hints, imgix's value ranges, colour keywords."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.errors import ImsError, InvalidParameter
from ims.params import TABLE, Params, apply_client_hints, parse

IMGIX = json.loads((Path(__file__).parent / "data" / "imgix-parameters.json").read_text())
OURS = {p.name: p for p in TABLE}
BY_ANY_NAME = {n: p.name for p in TABLE for n in (p.name, *p.aliases)}


def q(query: str) -> Params:
    return parse(parse_qsl(query, keep_blank_values=True))


def error(query: str) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as info:
        q(query)
    return info.value


# ---------------------------------------------------------------------------
# imgix's list


@pytest.mark.parametrize("alias, target", sorted(IMGIX["aliases"].items()))
def test_every_imgix_alias_of_a_supported_parameter_is_accepted(alias, target):
    if target not in OURS:
        err = error(f"{alias}=1")
        assert "not supported" in err.message and err.field == alias
        return
    assert BY_ANY_NAME.get(alias) == target, f"{alias} should be accepted as {target}"


@pytest.mark.parametrize("name", IMGIX["parameters"])
def test_every_imgix_parameter_is_supported_or_refused_as_unsupported(name):
    if name in OURS or name == "expires":
        return
    err = error(f"{name}=1")
    assert err.field == name
    assert f"parameter '{name}' (imgix) is not supported" in err.message


def test_aliases_mean_the_same():
    assert q("f=crop&or=6&max-width=300&min-height=20&mono=f00&inv=1&maskbg=000&fillcolor=red") == q(
        "fit=crop&orient=6&max-w=300&min-h=20&monochrome=f00&invert=1&mask-bg=000&fill-color=red")


# ---------------------------------------------------------------------------
# crop chains


@pytest.mark.parametrize("query, expected", [
    ("crop=faces,edges", ("faces", "edges")),
    ("crop=faces", ("faces",)),
    ("crop=faces,top,left", ("faces", "top", "left")),
    ("crop=left,faces,top", ("faces", "top", "left")),
    ("crop=entropy,faces", ("entropy",)),                # entropy always applies: the rest is unreachable
    ("crop=faces,focalpoint,edges", ("faces", "focalpoint")),
    ("crop=edges,top", ("edges",)),
    ("crop=faces,faces,edges", ("faces", "edges")),
])
def test_crop_chains_keep_the_order_of_modes(query, expected):
    assert q(query).crop == expected


def test_crop_chain_canonical_form():
    assert q("crop=left,faces,top").canonical() == "crop=faces,top,left"


# ---------------------------------------------------------------------------
# ranges and values as imgix


@pytest.mark.parametrize("query, field, value", [
    ("q=0", "q", 0),
    ("rot=12.5", "rot", 12.5),
    ("rot=359.9", "rot", 359.9),
    ("orient=0", "orient", 0),
    ("bg=red", "bg", (255, 0, 0, 255)),
    ("bg=RebeccaPurple", "bg", (0x66, 0x33, 0x99, 255)),
    ("bg=8f00", "bg", (255, 0, 0, 0x88)),               # ARGB: alpha first
    ("bg=80ff0000", "bg", (255, 0, 0, 0x80)),
    ("rect=center,middle,100,50", "rect", ("center", "middle", 100, 50)),
    ("rect=right,0.5,10,10", "rect", ("right", 0.5, 10, 10)),
    ("border=10,FF0000", "border", (10, (255, 0, 0, 255))),
    ("border-radius=5", "border_radius", (5, 5, 5, 5)),
    ("corner-radius=1,2,3,4", "corner_radius", (1, 2, 3, 4)),
    ("duotone=000080,FA8072", "duotone", ((0, 0, 0x80, 255), (0xfa, 0x80, 0x72, 255))),
    ("ch=Width,DPR", "ch", frozenset({"width", "dpr"})),
    ("chromasub=444", "chromasub", 444),
    ("fill-gradient-linear-direction=right,top", "fill_gradient_linear_direction", ("top", "right")),
])
def test_imgix_values(query, field, value):
    assert getattr(q(query), field) == value


def test_json_values_from_the_background_api():
    p = parse({"rot": 12.5, "chromasub": 420, "crop": ["faces", "edges"], "border": [4, "red"],
               "invert": True, "duotone": ["black", "white"]})
    assert (p.rot, p.chromasub, p.crop, p.border, p.invert) == (12.5, 420, ("faces", "edges"),
                                                               (4, (255, 0, 0, 255)), True)
    assert p.duotone == ((0, 0, 0, 255), (255, 255, 255, 255))
    assert parse({"corner-radius": 8, "border-radius": 8.0}).corner_radius == (8, 8, 8, 8)


# ---------------------------------------------------------------------------
# client hints


def hinted(query: str, headers: dict[str, str]) -> tuple[Params, tuple[str, ...]]:
    return apply_client_hints(q(query), headers)


def test_width_overrides_w_in_physical_pixels():
    p, vary = hinted("ch=Width&w=400&h=300&dpr=2", {"Width": "800"})
    assert (p.w, p.h, p.dpr) == (800, 600, 1.0)
    assert vary == ("Width", "Sec-CH-Width")


def test_sec_ch_width_is_read_too():
    p, _ = hinted("ch=width&w=400", {"sec-ch-width": "640"})
    assert p.w == 640


def test_dpr_overrides_dpr():
    p, vary = hinted("ch=DPR&w=400&dpr=1", {"Sec-CH-DPR": "2.5"})
    assert (p.w, p.dpr) == (400, 2.5)
    assert vary == ("DPR", "Sec-CH-DPR")


def test_save_data_lowers_quality_but_not_below_an_explicit_lower_one():
    assert hinted("ch=Save-Data", {"Save-Data": "on"})[0].q == 45
    assert hinted("ch=Save-Data&q=80", {"Save-Data": "on"})[0].q == 45
    assert hinted("ch=Save-Data&q=30", {"Save-Data": "on"})[0].q == 30
    assert hinted("ch=Save-Data", {"Save-Data": "off"})[0].q is None


def test_absent_or_bad_hints_leave_the_url_values_and_still_vary():
    for headers in ({}, {"Width": "wide"}, {"Width": "0"}, {"Width": "9000"}, {"DPR": "-1"}, {"DPR": "nan"}):
        p, vary = hinted("ch=Width,DPR&w=400&dpr=2", headers)
        assert (p.w, p.dpr) == (400, 2), headers
        assert set(vary) == {"Width", "Sec-CH-Width", "DPR", "Sec-CH-DPR"}


def test_applied_hints_are_in_the_canonical_form_and_ch_is_not():
    p, _ = hinted("ch=Width&w=400", {"Width": "800"})
    assert p.canonical() == "w=800"
    assert hinted("ch=Width&w=400", {})[0].canonical() == "w=400"


def test_without_ch_headers_are_ignored():
    p, vary = hinted("w=400", {"Width": "800", "DPR": "2", "Save-Data": "on"})
    assert (p.w, p.dpr, p.q, vary) == (400, 1.0, None, ())


# ---------------------------------------------------------------------------
# the whole vocabulary: only 400s


_names = sorted(set(BY_ANY_NAME) | set(IMGIX["parameters"]) | set(IMGIX["aliases"]))
_values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["0", "1", "-1", "100", "8193", "0.5", "1e309", "red", "fff", "80ff0000",
                     "top,left", "faces,edges", "1,2,3,4", "10,red", "a,b", ",", ",,", "nan"]),
    st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.lists(st.one_of(st.text(max_size=5), st.integers(-5, 300)), max_size=5),
    st.none(),
)


@settings(max_examples=500)
@given(st.lists(st.tuples(st.sampled_from(_names), _values), max_size=6))
def test_any_query_over_the_vocabulary_is_params_or_a_400(items):
    try:
        p = parse(items)
    except ImsError as err:
        assert isinstance(err, InvalidParameter) and err.status == 400
        assert err.field in {str(name) for name, _ in items}
        return
    assert Params.from_canonical(p.canonical()) == p
