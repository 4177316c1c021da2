"""ims.webhooks.verify, and interoperability of our headers with other receivers (SPEC §4)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as StandardError

import ims
from ims.signing import new_webhook_secret, webhook_headers
from ims.webhooks import WebhookVerificationError, verify

EVENT = "background_process.succeeded"
BODY = json.dumps(
    {
        "status_code": 200,
        "message": "Success",
        "response": {
            "source_id": "62ec7b0041e66d000146c60a",
            "job_id": "2cade2860ffd188f2c4bd89e",
            "object_puts": [{"bucket": "example-bucket-name", "key": "000/018/083/18083.jpg"}],
            "mime": "image/jpeg",
            "size": "170000",
        },
    }
).encode()


@pytest.fixture
def secret() -> str:
    return new_webhook_secret()


def headers_for(secrets, body=BODY, timestamp=None, msg_id="msg_2cade2860ffd188f2c4bd89e"):
    ts = int(time.time()) if timestamp is None else timestamp
    return webhook_headers(secrets, msg_id, ts, body, EVENT)


def without(headers: dict, *names: str) -> dict:
    return {k: v for k, v in headers.items() if k not in names}


# --- the headers ims sends ------------------------------------------------------


def test_headers_are_the_ones_the_spec_lists(secret):
    h = webhook_headers([secret], "msg_1", 1_700_000_000, BODY, EVENT)
    assert set(h) == {
        "content-type",
        "x-ims-signature-256",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-ims-event",
        "user-agent",
    }
    assert h["content-type"] == "application/json"
    assert h["webhook-id"] == "msg_1"
    assert h["webhook-timestamp"] == "1700000000"
    assert h["x-ims-event"] == EVENT
    assert h["user-agent"] == f"ims-webhooks/{ims.__version__}"
    assert h["webhook-signature"].startswith("v1,") and " " not in h["webhook-signature"]


def test_seed_ruby_check_accepts_our_header(secret):
    # signature = 'sha256=' + OpenSSL::HMAC.hexdigest(OpenSSL::Digest.new('sha256'),
    #                                                  ENV['WEBHOOK_ENDPOINT_SECRET_TOKEN'], params)
    ruby = "sha256=" + hmac.new(secret.encode("utf-8"), BODY, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(ruby, headers_for([secret])["x-ims-signature-256"])


def test_rotation_lists_one_signature_per_secret_and_ruby_header_uses_the_current(secret):
    old = new_webhook_secret()
    h = headers_for([secret, old])
    assert len(h["webhook-signature"].split(" ")) == 2
    assert h["x-ims-signature-256"] == headers_for([secret])["x-ims-signature-256"]


def test_no_secret_is_a_programming_error():
    with pytest.raises(ValueError):
        webhook_headers([], "m", 1, BODY, EVENT)


# --- interoperability with the standardwebhooks package --------------------------------


def test_standardwebhooks_package_verifies_our_headers(secret):
    assert Webhook(secret).verify(BODY, headers_for([secret])) == json.loads(BODY)


def test_standardwebhooks_package_verifies_each_secret_during_rotation(secret):
    old = new_webhook_secret()
    h = headers_for([secret, old])
    Webhook(secret).verify(BODY, h)
    Webhook(old).verify(BODY, h)
    with pytest.raises(StandardError):
        Webhook(new_webhook_secret()).verify(BODY, h)


def test_we_verify_what_the_standardwebhooks_package_signs(secret):
    now = int(time.time())
    signature = Webhook(secret).sign("msg_x", datetime.fromtimestamp(now, timezone.utc), BODY.decode())
    verify(
        secret,
        BODY,
        {"webhook-id": "msg_x", "webhook-timestamp": str(now), "webhook-signature": signature},
    )


# --- verify: accepting ------------------------------------------------------------------


def test_our_headers_verify(secret):
    verify(secret, BODY, headers_for([secret]))


def test_header_names_are_case_insensitive_and_str_body_is_accepted(secret):
    h = {k.title(): v for k, v in headers_for([secret]).items()}
    verify(secret, BODY.decode(), h)


def test_ruby_header_alone_verifies(secret):
    verify(secret, BODY, {"X-Ims-Signature-256": headers_for([secret])["x-ims-signature-256"]})


def test_standard_headers_alone_verify(secret):
    verify(secret, BODY, without(headers_for([secret]), "x-ims-signature-256"))


def test_rotation_verifies_with_either_secret(secret):
    old = new_webhook_secret()
    h = headers_for([secret, old])
    verify(secret, BODY, h)
    verify(old, BODY, h)  # x-ims-signature-256 is the new secret's; webhook-signature decides
    with pytest.raises(WebhookVerificationError):
        verify(new_webhook_secret(), BODY, h)


def test_timestamp_within_tolerance_verifies(secret):
    now = 1_700_000_000
    verify(secret, BODY, headers_for([secret], timestamp=now - 300), now=now)
    verify(secret, BODY, headers_for([secret], timestamp=now + 300), now=now)
    verify(secret, BODY, headers_for([secret], timestamp=now - 3000), now=now, tolerance=3600)


def test_unknown_signature_versions_are_skipped(secret):
    h = headers_for([secret])
    h["webhook-signature"] = "v2,abc v1,not*base64 " + h["webhook-signature"]
    verify(secret, BODY, h)


# --- verify: rejecting ---------------------------------------------------------------------


def reason(secret, body, headers, **kw) -> str:
    with pytest.raises(WebhookVerificationError) as e:
        verify(secret, body, headers, **kw)
    return str(e.value)


def test_tampered_body_fails_both_ways(secret):
    h = headers_for([secret])
    tampered = BODY.replace(b"170000", b"170001")
    assert "no v1 signature" in reason(secret, tampered, h)
    assert "x-ims-signature-256" in reason(
        secret, tampered, {"x-ims-signature-256": h["x-ims-signature-256"]}
    )


def test_wrong_secret_fails(secret):
    h = headers_for([secret])
    other = new_webhook_secret()
    reason(other, BODY, h)
    reason(other, BODY, {"x-ims-signature-256": h["x-ims-signature-256"]})


def test_old_timestamp_fails_even_with_a_matching_ruby_header(secret):
    now = 1_700_000_000
    h = headers_for([secret], timestamp=now - 301)
    assert "301 s old" in reason(secret, BODY, h, now=now)


def test_future_timestamp_fails(secret):
    now = 1_700_000_000
    assert "in the future" in reason(secret, BODY, headers_for([secret], timestamp=now + 301), now=now)


def test_replayed_timestamp_cannot_be_swapped(secret):
    # An attacker who captured a delivery cannot refresh its timestamp: it is signed.
    now = int(time.time())
    h = headers_for([secret], timestamp=now - 3600)
    h["webhook-timestamp"] = str(now)
    assert "no v1 signature" in reason(secret, BODY, h)


def test_message_id_is_signed(secret):
    h = headers_for([secret])
    h["webhook-id"] = "msg_other"
    reason(secret, BODY, h)


def test_incomplete_standard_headers_fail(secret):
    h = headers_for([secret])
    assert "webhook-timestamp" in reason(secret, BODY, without(h, "webhook-timestamp"))
    assert "webhook-signature" in reason(secret, BODY, without(h, "webhook-signature"))


def test_non_numeric_timestamp_fails(secret):
    h = headers_for([secret])
    h["webhook-timestamp"] = "yesterday"
    assert "unix seconds" in reason(secret, BODY, h)


def test_no_signature_headers_fail(secret):
    assert "no signature" in reason(secret, BODY, {"content-type": "application/json"})


def test_empty_secret_fails():
    assert "secret" in reason("", BODY, headers_for([new_webhook_secret()]))
