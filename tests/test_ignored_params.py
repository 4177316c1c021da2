"""IMS_IGNORED_PARAMS: read from the environment, checked at start, applied by the parser (issue 10)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.config import Settings, SettingsError
from ims.errors import InvalidParameter
from ims.params import Params, check_ignorable, parse
from tests.support.app import app_settings, start_app


def test_ixlib_and_ixid_are_ignored_by_default_and_always():
    assert Settings.from_env({}).ignored_params == ("ixlib", "ixid")
    assert Settings.from_env({"IMS_IGNORED_PARAMS": " utm_source, fbclid ,"}).ignored_params \
        == ("ixlib", "ixid", "utm_source", "fbclid")
    assert Settings.from_env({"IMS_IGNORED_PARAMS": "ixid"}).ignored_params == ("ixlib", "ixid")


@pytest.mark.parametrize("value", ["a b", "x=1", "a&b"])
def test_a_malformed_name_is_refused_naming_the_setting(value):
    with pytest.raises(SettingsError, match="IMS_IGNORED_PARAMS"):
        Settings.from_env({"IMS_IGNORED_PARAMS": value})


@pytest.mark.parametrize("name", ["w", "width", "fm", "s", "expires"])
def test_a_name_ims_reads_cannot_be_ignored(name):
    with pytest.raises(ValueError, match=repr(name)):
        check_ignorable(("ixlib", name))


def test_the_service_refuses_to_start_when_a_real_parameter_is_ignored(tmp_path):
    settings = app_settings(tmp_path, f"sqlite:///{tmp_path}/ims.db", ignored_params=("ixlib", "q"))
    with pytest.raises(SettingsError, match="IMS_IGNORED_PARAMS: 'q' cannot be ignored"):
        start_app(settings)


def test_the_parser_drops_ignored_names_whatever_their_value():
    ignored = ("ixlib", "ixid")
    params = parse([("ixlib", "python-4.0.0"), ("w", "300"), ("ixid", ""), ("ixlib", "again")], ignored=ignored)

    assert params == Params(w=300)
    assert params.canonical() == "w=300"
    with pytest.raises(InvalidParameter) as refused:
        parse([("ixlib", "python-4.0.0")])
    assert refused.value.field == "ixlib"


@given(
    items=st.lists(st.sampled_from([("w", "300"), ("h", "0.5"), ("fm", "webp"), ("fit", "crop"), ("q", "40")]),
                   unique_by=lambda item: item[0]),
    where=st.integers(min_value=0, max_value=5),
    name=st.sampled_from(["ixlib", "ixid"]),
    value=st.text(max_size=20),
)
def test_an_ignored_name_anywhere_with_any_value_changes_nothing(items, where, name, value):
    ignored = ("ixlib", "ixid")
    tagged = [*items[:where], (name, value), *items[where:]]

    assert parse(tagged, ignored=ignored) == parse(items)
    assert parse(tagged, ignored=ignored).canonical() == parse(items).canonical()
