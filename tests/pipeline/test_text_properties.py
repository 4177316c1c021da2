"""Hypothesis over text (issue 12): whatever a caller puts in ``txt``/``txt64`` and the
``txt-*`` options, the answer is the rendered image or a 400-class error — never a 500, a
bare libvips error or a picture of another size."""

from __future__ import annotations

import base64

import pyvips
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ims.config import Limits
from ims.errors import ImsError
from ims.params import parse
from ims.pipeline import process

SOURCE = (pyvips.Image.black(160, 90, bands=3) + [90, 30, 160]).cast("uchar").copy(
    interpretation="srgb").pngsave_buffer()

_any_text = st.text(st.characters(blacklist_categories=("Cc",)), max_size=60) | st.text(max_size=20) | st.text(
    st.sampled_from(["\u0301", "\u200d", "😀", "\U0001f3fd", "ﷺ", "\u202e", "\n", "W", "<", "&", " "]),
    max_size=300)


def _mostly(valid: st.SearchStrategy, *invalid: str) -> st.SearchStrategy:
    """Valid values nine times in ten, else one of ``invalid``."""
    return st.integers(0, 9).flatmap(lambda i: valid if i or not invalid else st.sampled_from(invalid))


_options = st.fixed_dictionaries({}, optional={
    "txt-size": _mostly(st.integers(1, 1000).map(str), "0", "1001"),
    "txt-align": _mostly(st.sampled_from(["top,left", "middle,center", "bottom", "right,top"]), "left,right"),
    "txt-clip": _mostly(st.sampled_from(["start", "middle,ellipsis", "ellipsis"]), "end,start"),
    "txt-fit": _mostly(st.just("max"), "min"),
    "txt-font": _mostly(st.sampled_from(["serif", "monospace", "sans-serif,bold"]), "comic"),
    "txt-line": _mostly(st.integers(0, 50).map(str), "-1"),
    "txt-shad": _mostly(st.floats(0, 10).map(str), "11"),
    "txt-pad": st.integers(0, 300).map(str),
    "txt-width": st.integers(0, 400).map(str),
    "txt-x": st.integers(-300, 300).map(str),
    "txt-lead": st.integers(0, 50).map(str),
    "txt-track": _mostly(st.integers(-100, 100).map(str), "101"),
    "txt-color": _mostly(st.sampled_from(["f00", "80ffffff", "00000000"]), "zz"),
    "dpr": st.sampled_from(["1", "2.5"]),
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_any_text, st.booleans(), _options)
def test_any_text_renders_or_is_a_400(value, as_base64, options):
    query = dict(options, fm="png")
    if as_base64:
        query["txt64"] = base64.urlsafe_b64encode(value.encode("utf-8", "surrogatepass")).decode().rstrip("=")
    else:
        query["txt"] = value
    try:
        params = parse(query)
        result = process(SOURCE, params, Limits())
    except ImsError as err:
        assert 400 <= err.status < 500, err
        event(f"refused: {err.field}")
        return
    event("rendered")
    image = pyvips.Image.new_from_buffer(result.body, "")
    assert (image.width, image.height) == (160, 90)      # (dpr without w scales only the text)
