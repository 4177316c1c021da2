"""Settings read from the environment: the limits of SPEC §2 and the host lists of §6."""

import pytest

from ims.config import Limits, Settings, SettingsError


def test_limits_come_from_their_settings():
    limits = Settings.from_env({
        "IMS_PROCESS_SECONDS": "5", "IMS_FETCH_SECONDS": "2.5", "IMS_MAX_SOURCE_MB": "2",
        "IMS_MAX_MEGAPIXELS": "12", "IMS_MAX_FRAMES": "10",
    }).limits
    assert limits == Limits(source_bytes=2 * 2**20, source_pixels=12_000_000, frames=10,
                            fetch_seconds=2.5, processing_seconds=5.0)


def test_limits_default_to_spec_values():
    assert Settings.from_env({}).limits == Limits()


@pytest.mark.parametrize("name, value", [
    ("IMS_PROCESS_SECONDS", "nan"), ("IMS_PROCESS_SECONDS", "0"), ("IMS_FETCH_SECONDS", "soon"),
    ("IMS_MAX_SOURCE_MB", "-1"), ("IMS_MAX_FRAMES", "1.5"), ("IMS_MAX_MEGAPIXELS", "inf"),
])
def test_a_bad_limit_is_refused_naming_the_setting(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_host_lists_are_normalised():
    settings = Settings.from_env({"IMS_PUBLIC_HOSTS": "img.example.com, CDN.Example.com.",
                                  "IMS_SOURCE_HOSTNAME_SUFFIXES": ".imgs.example.com"})
    assert settings.public_hosts == ("img.example.com", "cdn.example.com")
    assert settings.source_hostname_suffixes == (".imgs.example.com",)
