"""URL and webhook signatures (SPEC §2 "Signature", §4)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ims.errors import Forbidden, Gone, ImsError, InvalidParameter, Unauthorized
from ims.signing import (
    check_url_signature,
    ims_signature_256,
    new_webhook_secret,
    sign_url,
    standard_signature,
    strip_signature,
    url_signature,
)

NOW = 1_700_000_000


def split(url: str) -> tuple[str, str]:
    path, _, query = url.partition("?")
    return path, query


# --- known vectors ------------------------------------------------------------


def test_hmac_sha256_vector_computed_with_openssl():
    # printf '/default/photos/a.jpg?w=400&h=300' | openssl dgst -sha256 -hmac test-key
    assert (
        url_signature("/default/photos/a.jpg", "w=400&h=300", "test-key")
        == "306b5056d70906bb96d90bee05cb9023b97ce609ef8c29320763104d0ec6767a"
    )


def test_imgix_md5_vector_computed_with_openssl():
    # printf 'test-key/default/photos/a.jpg?w=400&h=300' | openssl md5
    assert (
        url_signature("/default/photos/a.jpg", "w=400&h=300", "test-key", "imgix-md5")
        == "b03b63487ac25c8a6fe13237f3e042ef"
    )


def test_empty_query_signs_the_path_alone():
    # printf '/default/a%20b.jpg' | openssl dgst -sha256 -hmac k
    expected = "0a01fc3f778ddac50d4fbb6039d83dfc300f72f888678f00b029ddec367fe944"
    assert url_signature("/default/a%20b.jpg", "", "k") == expected
    assert sign_url("/default/a%20b.jpg", "", "k") == f"/default/a%20b.jpg?s={expected}"


def test_key_and_message_are_utf8():
    path, query, key = "/src/caf%C3%A9.jpg", "txt=%E2%9C%93", "clé-ü"
    expected = hmac.new(key.encode(), f"{path}?{query}".encode(), hashlib.sha256).hexdigest()
    assert url_signature(path, query, key) == expected
    assert url_signature(path, query, key, "imgix-md5") == hashlib.md5(
        (key + path + "?" + query).encode()
    ).hexdigest()


def test_unknown_scheme_is_a_programming_error():
    with pytest.raises(ValueError, match="hmac-sha256"):
        url_signature("/a", "", "k", "sha1")


# --- sign_url -----------------------------------------------------------------


def test_sign_url_puts_expires_in_the_signed_query_and_s_last():
    url = sign_url("/default/a.jpg", "w=10&fm=webp", "k", expires=NOW + 60)
    path, query = split(url)
    assert query.startswith(f"w=10&fm=webp&expires={NOW + 60}&s=")
    signed = f"w=10&fm=webp&expires={NOW + 60}"
    expected = hmac.new(b"k", f"{path}?{signed}".encode(), hashlib.sha256).hexdigest()
    assert query == f"{signed}&s={expected}"
    check_url_signature(path, query, "k", now=NOW)


def test_sign_url_replaces_an_existing_signature():
    once = sign_url("/a.jpg", "w=1", "k")
    again = sign_url(*split(once), "k")
    assert again == once
    assert again.count("s=") == 1


# --- check_url_signature --------------------------------------------------------


def test_missing_signature_is_401_with_a_hint():
    with pytest.raises(Unauthorized) as e:
        check_url_signature("/a.jpg", "w=1", "k", now=NOW)
    assert e.value.status == 401
    assert e.value.message == "this source requires a signed URL: add the s parameter"


def test_wrong_signature_is_403():
    with pytest.raises(Forbidden) as e:
        check_url_signature("/a.jpg", "w=1&s=" + "0" * 64, "k", now=NOW)
    assert e.value.status == 403
    assert e.value.message == "signature does not match"


def test_wrong_key_and_wrong_scheme_fail():
    path, query = split(sign_url("/a.jpg", "w=1", "k"))
    with pytest.raises(Forbidden):
        check_url_signature(path, query, "other", now=NOW)
    with pytest.raises(Forbidden):
        check_url_signature(path, query, "k", "imgix-md5", now=NOW)


def test_uppercase_hex_is_not_accepted():
    path, query = split(sign_url("/a.jpg", "w=1", "k"))
    base, _, s = query.rpartition("s=")
    assert s.upper() != s
    with pytest.raises(Forbidden):
        check_url_signature(path, base + "s=" + s.upper(), "k", now=NOW)


def test_imgix_md5_urls_check():
    path, query = split(sign_url("/photos/x.png", "w=200&auto=format", "secret", "imgix-md5"))
    check_url_signature(path, query, "secret", "imgix-md5", now=NOW)
    assert query.endswith("&s=" + hashlib.md5(b"secret/photos/x.png?w=200&auto=format").hexdigest())


def test_signature_may_sit_anywhere_in_the_query():
    s = url_signature("/a.jpg", "w=1&h=2", "k")
    for query in (f"s={s}&w=1&h=2", f"w=1&s={s}&h=2", f"w=1&h=2&s={s}"):
        check_url_signature("/a.jpg", query, "k", now=NOW)
    with pytest.raises(Forbidden):  # others reordered: a different message
        check_url_signature("/a.jpg", f"h=2&w=1&s={s}", "k", now=NOW)


def test_percent_encoding_is_signed_as_sent():
    path, query = "/default/dir%2Fa%20b.jpg", "txt=hello%20world&mark=%2Fx"
    url = sign_url(path, query, "k")
    assert split(url)[0] == path and split(url)[1].startswith(query + "&s=")
    check_url_signature(path, split(url)[1], "k", now=NOW)
    # The same request re-encoded differently is a different message.
    with pytest.raises(Forbidden):
        check_url_signature(path, split(url)[1].replace("%20", "+"), "k", now=NOW)
    with pytest.raises(Forbidden):
        check_url_signature("/default/dir/a%20b.jpg", split(url)[1], "k", now=NOW)


def test_repeated_s_is_rejected():
    path, query = split(sign_url("/a.jpg", "w=1", "k"))
    s = query.rpartition("s=")[2]
    with pytest.raises(InvalidParameter) as e:
        check_url_signature(path, f"{query}&s={s}", "k", now=NOW)
    assert e.value.status == 400 and e.value.field == "s"


def test_a_percent_encoded_s_name_counts_as_s():
    assert strip_signature("w=1&%73=abc&h=2") == ("w=1&h=2", "abc")
    with pytest.raises(InvalidParameter):
        strip_signature("s=a&%73=b")


def test_empty_s_is_a_wrong_signature():
    with pytest.raises(Forbidden):
        check_url_signature("/a.jpg", "w=1&s=", "k", now=NOW)


def test_expires_in_the_future_and_exactly_now_pass():
    path, query = split(sign_url("/a.jpg", "w=1", "k", expires=NOW))
    check_url_signature(path, query, "k", now=NOW)
    check_url_signature(path, query, "k", now=NOW - 3600)


def test_expired_url_is_410_with_the_time():
    path, query = split(sign_url("/a.jpg", "w=1", "k", expires=NOW))
    with pytest.raises(Gone) as e:
        check_url_signature(path, query, "k", now=NOW + 1)
    assert e.value.status == 410
    assert e.value.message == "this signed URL expired at 2023-11-14T22:13:20Z"


def test_expiry_is_checked_only_after_the_signature():
    with pytest.raises(Forbidden):
        check_url_signature("/a.jpg", f"expires={NOW - 10}&s=" + "0" * 64, "k", now=NOW)
    with pytest.raises(Forbidden):
        check_url_signature("/a.jpg", "expires=soon&s=" + "0" * 64, "k", now=NOW)


@pytest.mark.parametrize("value", ["soon", "1.5", "-5", "", "1e9"])
def test_non_integer_expires_is_400(value):
    path, query = split(sign_url("/a.jpg", f"w=1&expires={value}", "k"))
    with pytest.raises(InvalidParameter) as e:
        check_url_signature(path, query, "k", now=NOW)
    assert e.value.field == "expires"


def test_repeated_expires_is_400():
    path, query = split(sign_url("/a.jpg", f"expires={NOW + 9}&expires={NOW - 9}", "k"))
    with pytest.raises(InvalidParameter):
        check_url_signature(path, query, "k", now=NOW)


# --- properties -----------------------------------------------------------------

URL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%/+,:"
segments = st.text(alphabet=URL_CHARS, min_size=1, max_size=12)
paths = st.lists(segments, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
# No digit but 2 in names, so no name can spell s or expires, even percent-encoded.
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_%2F", min_size=1, max_size=6).filter(
    lambda n: n not in ("s", "expires")
)
params = st.tuples(names, st.text(alphabet=URL_CHARS.replace("/", "") + "=", max_size=10)).map(
    lambda nv: f"{nv[0]}={nv[1]}"
)
queries = st.lists(params, max_size=5).map("&".join)
keys = st.text(min_size=1, max_size=40)
schemes = st.sampled_from(["hmac-sha256", "imgix-md5"])


@given(paths, queries, keys, schemes)
def test_signed_urls_check(path, query, key, scheme):
    url = sign_url(path, query, key, scheme)
    check_url_signature(*split(url), key, scheme, now=NOW)


@given(paths, queries, keys, st.integers(min_value=0, max_value=2**34))
def test_expiring_urls_check_until_they_expire(path, query, key, expires):
    url_path, url_query = split(sign_url(path, query, key, expires=expires))
    check_url_signature(url_path, url_query, key, now=expires)
    with pytest.raises(Gone):
        check_url_signature(url_path, url_query, key, now=expires + 1)


@given(paths, queries, keys, schemes, st.data())
def test_any_single_character_tamper_fails(path, query, key, scheme, data):
    url = sign_url(path, query, key, scheme)
    i = data.draw(st.integers(min_value=0, max_value=len(url) - 1))
    c = data.draw(st.sampled_from(URL_CHARS + "?&=s"))
    assume(c != url[i])
    tampered = url[:i] + c + url[i + 1 :]
    with pytest.raises(ImsError) as e:
        check_url_signature(*split(tampered), key, scheme, now=NOW)
    assert e.value.status in (400, 401, 403)


@given(st.lists(params, max_size=6), st.data(), st.text(alphabet="0123456789abcdef", max_size=64))
def test_strip_removes_s_anywhere_and_keeps_the_rest_as_sent(others, data, s):
    at = data.draw(st.integers(min_value=0, max_value=len(others)))
    raw = "&".join(others[:at] + [f"s={s}"] + others[at:])
    assert strip_signature(raw) == ("&".join(others), s)


@given(st.lists(params, max_size=6))
def test_strip_without_s_changes_nothing(others):
    raw = "&".join(others)
    assert strip_signature(raw) == (raw, None)


# --- webhook signature primitives ---------------------------------------------------


def test_new_webhook_secret_is_whsec_base64_of_32_bytes():
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:], validate=True)) == 32
    assert new_webhook_secret() != secret


def test_ims_signature_256_keys_with_the_whole_secret_string():
    secret, body = "whsec_c2VjcmV0", b'{"status_code": 200}'
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert ims_signature_256(secret, body) == "sha256=" + expected


def test_standard_signature_matches_the_standard_webhooks_example():
    # The example from the Standard Webhooks specification / reference libraries.
    assert (
        standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_standard_signature_keys_with_the_decoded_secret():
    raw_key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(raw_key).decode()
    body = b"\x00\xffbinary-safe"
    digest = hmac.new(raw_key, b"msg_1.42." + body, hashlib.sha256).digest()
    assert standard_signature(secret, "msg_1", 42, body) == "v1," + base64.b64encode(digest).decode()


def test_standard_signature_rejects_a_secret_that_is_not_base64():
    with pytest.raises(ValueError, match="whsec_"):
        standard_signature("whsec_not base64!", "m", 1, b"")
