"""ims.logs: the two formats, the signature kept out of logged paths, the settings."""

from __future__ import annotations

import json
import logging
import re

import pytest

from ims.config import Settings, SettingsError
from ims.logs import JsonFormatter, TextFormatter, event, without_signature


@pytest.mark.parametrize("query, logged", [
    ("", ""),
    ("w=300", "w=300"),
    ("w=300&expires=1893456000&s=abc123", "w=300&expires=1893456000"),
    ("s=abc&w=1", "w=1"),
    ("w=1&%73=abc", "w=1"),               # s, percent-encoded
    ("w=1&s=a&s=b&sat=5", "w=1&sat=5"),   # every s; names that only start with s are kept
    ("w=1&s", "w=1"),
])
def test_the_signature_is_removed_and_the_rest_kept_as_sent(query, logged):
    assert without_signature(query) == logged


def _record(logger: str = "ims.test", **fields) -> logging.LogRecord:
    captured = []

    class Keep(logging.Handler):
        def emit(self, record):
            captured.append(record)

    log = logging.getLogger(logger)
    log.addHandler(handler := Keep())
    log.setLevel(logging.DEBUG)
    try:
        if fields:
            event(log, "request", **fields)
        else:
            log.warning("claim failed: %s", "OperationalError")
    finally:
        log.removeHandler(handler)
    return captured[0]


def test_json_lines_have_stable_keys_and_leave_out_empty_fields():
    line = JsonFormatter().format(_record(method="GET", path="/a.jpg?w=1", status=200, bytes=12, ms=1.5,
                                          cache=None))
    out = json.loads(line)
    assert list(out) == ["ts", "level", "event", "logger", "method", "path", "status", "bytes", "ms"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["ts"])
    assert (out["level"], out["event"], out["status"], out["ms"]) == ("info", "request", 200, 1.5)
    plain = json.loads(JsonFormatter().format(_record()))
    assert (plain["event"], plain["level"], plain["message"]) == ("log", "warning", "claim failed: OperationalError")


def test_text_lines_are_key_value_and_stay_on_one_line():
    line = TextFormatter().format(_record(method="GET", path='/a b"\n.jpg', status=404, bytes=0, ms=0.4))
    assert re.fullmatch(r'\S+Z INFO request method=GET path="/a b\\"\\n.jpg" status=404 bytes=0 ms=0.4', line)
    assert TextFormatter().format(_record()).endswith(" WARNING ims.test: claim failed: OperationalError")


def test_an_exception_comes_with_its_traceback():
    log = logging.getLogger("ims.test.trace")
    records = []
    log.addHandler(handler := type("H", (logging.Handler,), {"emit": lambda self, r: records.append(r)})())
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("unhandled error")
    finally:
        log.removeHandler(handler)
    out = json.loads(JsonFormatter().format(records[0]))
    assert out["level"] == "error" and "RuntimeError: boom" in out["traceback"]
    assert "Traceback" in TextFormatter().format(records[0])


def test_settings():
    assert (Settings.from_env({}).log_format, Settings.from_env({}).log_level) == ("text", "info")
    chosen = Settings.from_env({"IMS_LOG_FORMAT": "JSON", "IMS_LOG_LEVEL": "warning", "IMS_METRICS_PORT": "9100"})
    assert (chosen.log_format, chosen.log_level, chosen.metrics_port) == ("json", "warning", 9100)
    assert Settings.from_env({}).metrics_port is None
    with pytest.raises(SettingsError, match="IMS_LOG_FORMAT must be one of text, json, got 'xml'"):
        Settings.from_env({"IMS_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="IMS_LOG_LEVEL"):
        Settings.from_env({"IMS_LOG_LEVEL": "loud"})
    with pytest.raises(SettingsError, match="IMS_METRICS_PORT"):
        Settings.from_env({"IMS_METRICS_PORT": "70000"})
