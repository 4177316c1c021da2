"""Destination key templates (ims.jobs.templates): placeholders, refusals, and the promise
that a template accepted at submit makes a safe key whatever the render decides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.errors import ValidationFailed
from ims.jobs import templates
from ims.pipeline.encode import MIME
from ims.storage import check_key

FIELD = "outputs[0].destination_object_key"


@pytest.mark.parametrize(("template", "key", "ext", "expected"), [
    ("{key}", "uploads/2026/cat.jpg", "webp", "uploads/2026/cat.jpg"),
    ("{dir}/{stem}.{ext}", "uploads/2026/cat.jpg", "webp", "uploads/2026/cat.webp"),
    ("{dir}/{stem}.{ext}", "cat.jpg", "pjpg", "cat.jpg"),            # an empty {dir} takes its / along
    ("thumbs/{dir}/{stem}_{w}x{h}.{ext}", "cat", "png8", "thumbs/cat_200x150.png"),
    ("{name}/{stem}.{ext}", "a/b.c.d", "blurhash", "thumb/b.c.txt"),
    ("{{literal}}/{key}", "x.png", "avif", "{literal}/x.png"),
    ("{stem}", ".hidden", "jpg", ".hidden"),
])
def test_placeholders(template, key, ext, expected):
    assert templates.check(template, FIELD, key, "thumb") == template
    assert templates.resolve(template, templates.values(key, "thumb", ext, 200, 150)) == expected


@pytest.mark.parametrize(("template", "words"), [
    ("{size}/{key}", "unknown placeholder {size}"),
    ("{}", "unknown placeholder {}"),
    ("{w:05}", "unknown placeholder {w:05}"),
    ("{key!r}", "unknown placeholder {key!r}"),
    ("{key.upper}", "unknown placeholder {key.upper}"),
    ("a{key", "unbalanced brace"),
    ("a}b", "unbalanced brace"),
    ("/{key}", "starts with '/'"),
    ("{dir}/../{key}", "'..'"),
    ("{key}/", "trailing"),
    ("x" * 1020 + "{w}", "bytes long"),         # 1025 bytes once {w} is five digits
    ("a\\{key}", "backslash"),
    (17, "must be a string"),
])
def test_refused_at_submit_naming_the_field(template, words):
    with pytest.raises(ValidationFailed) as caught:
        templates.check(template, FIELD, "uploads/cat.jpg", "0")
    assert caught.value.errors[0].field == FIELD
    assert caught.value.message.startswith(FIELD) and words in caught.value.message


SEGMENT = st.text(st.characters(codec="utf-8", exclude_characters="/\\{}", exclude_categories=("Cc", "Cs")),
                  min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
PIECES = st.sampled_from(["{key}", "{dir}", "{stem}", "{ext}", "{name}", "{w}", "{h}", "/", ".", "_", "{{", "}}"])


@given(key=st.lists(SEGMENT, min_size=1, max_size=4).map("/".join),
       template=st.lists(st.one_of(PIECES, SEGMENT), min_size=1, max_size=8).map("".join),
       fmt=st.sampled_from(sorted(MIME)), w=st.integers(1, 99999), h=st.integers(1, 99999))
def test_a_template_accepted_at_submit_makes_a_safe_key_for_any_render(key, template, fmt, w, h):
    try:
        templates.check(template, FIELD, key, "card")
    except ValidationFailed:
        return
    check_key(templates.resolve(template, templates.values(key, "card", fmt, w, h)))
