"""check_key: SPEC §3's safe keys, refused with a message naming the problem."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.errors import ValidationFailed
from ims.storage.keys import check_key


@pytest.mark.parametrize(
    "key",
    ["a.jpg", "000/018/083/18083.jpg", "dir with space/ü.png", "a..b/c..", ".hidden", "x" * 1024, "é" * 512],
)
def test_accepts_ordinary_keys(key):
    assert check_key(key) == key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "is empty"),
        ("../a.jpg", "'..' segment"),
        ("a/../../b", "'..' segment"),
        ("a/..", "'..' segment"),
        ("/a.jpg", "starts with '/'"),
        ("a\x00.jpg", "NUL"),
        ("a\nb", "control character"),
        ("a\\..\\b", "backslash"),
        ("x" * 1025, "1025 bytes"),
        ("é" * 513, "1026 bytes"),
        ("a//b", "empty segment"),
        ("a/./b", "'.' segment"),
        ("dir/", "ends with '/'"),
        ("bad\udcff", "not valid UTF-8"),
    ],
)
def test_refuses_unsafe_keys_saying_why(key, problem):
    with pytest.raises(ValidationFailed) as e:
        check_key(key, field="destination_object_key")
    assert problem in e.value.message
    assert "1-1024 bytes" in e.value.message  # and what is allowed
    assert e.value.field == "destination_object_key"


@given(st.text(max_size=40))
def test_accepted_keys_are_never_traversals(key):
    try:
        check_key(key)
    except ValidationFailed:
        return
    assert not key.startswith("/")
    assert ".." not in key.split("/")
    assert "\x00" not in key
    assert 0 < len(key.encode()) <= 1024


def test_only_keys_that_could_be_valid_are_remembered():
    """The memo of ``check_key`` holds keys of at most MAX_KEY_BYTES characters: a refused 1 MB key
    sent 1024 times (a job body each) must not stay in memory."""
    from ims.storage.keys import MAX_KEY_BYTES, _known_problem

    _known_problem.cache_clear()
    with pytest.raises(ValidationFailed):
        check_key("k" * (1 << 20))
    check_key("a/b.jpg")
    assert _known_problem.cache_info().currsize == 1
    assert check_key("a" * MAX_KEY_BYTES)
