"""Who may read a source (SPEC §2 "Access per source", "Signature") — SQLite and PostgreSQL."""

import hashlib
import hmac
import time

import pytest

from ims.signing import sign_url


@pytest.fixture
def signed(app, kit):
    """A signed fs source holding a.png (300×200) and photos/b.png (60×40): (source, directory)."""
    source, directory = kit.fs_source(app, "signed", access="signed")
    kit.put(directory, "a.png", kit.image(300, 200))
    kit.put(directory, "photos/b.png", kit.image(60, 40))
    return source, directory


# --- public and private ----------------------------------------------------------


def test_a_public_source_needs_nothing(app, kit):
    kit.put(kit.default_dir(app), "a.png", kit.image(30, 20))

    assert kit.decode(app.client.get("/default/a.png")).width == 30


def test_signing_parameters_mean_nothing_on_a_public_source(app, kit):
    kit.put(kit.default_dir(app), "a.png", kit.image(30, 20))
    plain = app.client.get("/default/a.png?w=10")

    signed_looking = app.client.get(f"/default/a.png?w=10&expires={int(time.time()) - 60}&s=whatever")

    assert signed_looking.status_code == 200 and signed_looking.content == plain.content


def test_a_private_source_needs_a_key_of_its_own_project(app, kit):
    _, directory = kit.fs_source(app, "vault", access="private")
    kit.put(directory, "a.png", kit.image(30, 20))
    other = kit.other_project_key(app)

    kit.error(app.client.get("/vault/a.png"), 401, field="x-api-key")
    assert kit.decode(app.api("GET", "/vault/a.png")).width == 30
    kit.error(app.api("GET", "/vault/a.png", key=other), 401, field="x-api-key")
    kit.error(app.api("GET", "/vault/a.png", key="ims_not_a_real_key"), 401, field="x-api-key")


def test_a_private_source_does_not_leak_through_a_conditional_request(app, kit):
    _, directory = kit.fs_source(app, "vault", access="private")
    kit.put(directory, "a.png", kit.image(30, 20))
    etag = app.api("GET", "/vault/a.png").headers["etag"]

    reply = app.client.get("/vault/a.png", headers={"if-none-match": etag})

    kit.error(reply, 401)


def test_a_private_source_does_not_tell_which_objects_exist(app, kit):
    _, directory = kit.fs_source(app, "vault", access="private")
    kit.put(directory, "a.png", kit.image(30, 20))

    kit.error(app.client.get("/vault/a.png?w=10"), 401)
    kit.error(app.client.get("/vault/missing.png?w=10"), 401)
    kit.error(app.api("GET", "/vault/missing.png?w=10"), 404)


def test_a_private_image_is_not_publicly_cacheable_by_default(app, kit):
    _, directory = kit.fs_source(app, "vault", access="private")
    kit.put(directory, "a.png", kit.image(30, 20))

    reply = app.api("GET", "/vault/a.png")

    assert reply.status_code == 200
    cache_control = reply.headers["cache-control"].lower()
    vary = reply.headers.get("vary", "").lower()
    assert "private" in cache_control or "no-store" in cache_control or "x-api-key" in vary, reply.headers


# --- signed ----------------------------------------------------------------------


def test_a_valid_signature_is_accepted(app, kit, signed):
    source, _ = signed

    reply = app.client.get(sign_url("/signed/a.png", "w=100&fm=webp", source["signing_key"]))

    image = kit.decode(reply)
    assert (image.width, image.height, kit.loader(image)) == (100, 67, "webpload_buffer")


def test_the_signature_is_hmac_sha256_of_path_and_query_as_the_spec_says(app, kit, signed):
    source, _ = signed
    message = "/signed/a.png?w=50&h=50&fit=crop"
    s = hmac.new(source["signing_key"].encode(), message.encode(), hashlib.sha256).hexdigest()

    reply = app.client.get(f"{message}&s={s}")

    assert (kit.decode(reply).width, kit.decode(reply).height) == (50, 50)


def test_without_parameters_the_signature_covers_the_path_alone(app, kit, signed):
    source, _ = signed
    s = hmac.new(source["signing_key"].encode(), b"/signed/a.png", hashlib.sha256).hexdigest()

    assert kit.decode(app.client.get(f"/signed/a.png?s={s}")).width == 300


def test_a_missing_signature_is_401(app, kit, signed):
    kit.error(app.client.get("/signed/a.png?w=100"), 401, field="s")
    kit.error(app.client.get("/signed/a.png"), 401, field="s")
    # Whether the object exists is not revealed before the signature is checked.
    kit.error(app.client.get("/signed/missing.png"), 401, field="s")
    kit.error(app.client.get(sign_url("/signed/missing.png", "", "wrong-key-0123456789")), 403, field="s")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda url: url.replace("/signed/a.png", "/signed/photos/b.png"), id="other-path"),
        pytest.param(lambda url: url.replace("w=100", "w=101"), id="changed-value"),
        pytest.param(lambda url: url.replace("w=100&fm=png", "fm=png&w=100"), id="reordered"),
        pytest.param(lambda url: url.replace("?w=100", "?h=9&w=100"), id="added-param"),
        pytest.param(lambda url: url.replace("w=100&", ""), id="dropped-param"),
        pytest.param(lambda url: url[:-1] + ("0" if url[-1] != "0" else "1"), id="changed-s"),
        pytest.param(lambda url: url + "&w=100", id="appended-after-s"),
    ],
)
def test_a_tampered_url_is_403(app, kit, signed, tamper):
    source, _ = signed
    url = sign_url("/signed/a.png", "w=100&fm=png", source["signing_key"])
    assert app.client.get(url).status_code == 200

    kit.error(app.client.get(tamper(url)), 403, field="s")


def test_a_signed_url_gets_304_and_head_like_any_other(app, kit, signed):
    source, _ = signed
    url = sign_url("/signed/a.png", "w=100", source["signing_key"])
    etag = app.client.get(url).headers["etag"]

    assert app.client.get(url, headers={"if-none-match": etag}).status_code == 304
    head = app.client.head(url)
    assert head.status_code == 200 and head.headers["etag"] == etag and head.content == b""


def test_a_signature_made_with_another_key_is_403(app, kit, signed):
    url = sign_url("/signed/a.png", "w=100", "not-the-source-signing-key")

    kit.error(app.client.get(url), 403, field="s")


def test_expires_in_the_future_works_and_in_the_past_is_410(app, kit, signed):
    source, _ = signed
    key = source["signing_key"]

    future = sign_url("/signed/a.png", "w=100", key, expires=int(time.time()) + 3600)
    assert kit.decode(app.client.get(future)).width == 100

    past = sign_url("/signed/a.png", "w=100", key, expires=int(time.time()) - 60)
    body = kit.error(app.client.get(past), 410, field="expires")
    assert "expired" in body["message"]


def test_expires_cannot_be_extended_without_resigning(app, kit, signed):
    source, _ = signed
    then = int(time.time()) - 60
    url = sign_url("/signed/a.png", "w=100", source["signing_key"], expires=then)

    kit.error(app.client.get(url.replace(f"expires={then}", f"expires={then + 7200}")), 403, field="s")


def test_the_signature_covers_the_path_exactly_as_sent(app, kit, signed):
    source, _ = signed
    key = source["signing_key"]

    encoded = sign_url("/signed/photos%2Fb.png", "w=30", key)
    assert kit.decode(app.client.get(encoded)).width == 30
    # Same object, same s, but the path as sent differs: refused.
    kit.error(app.client.get(encoded.replace("photos%2Fb.png", "photos/b.png")), 403, field="s")

    plain = sign_url("/signed/photos/b.png", "w=30", key)
    assert app.client.get(plain).content == app.client.get(encoded).content


def test_percent_encoding_in_the_query_is_signed_as_sent(app, kit, signed):
    source, _ = signed
    url = sign_url("/signed/a.png", "w=50&dl=my%20photo.png", source["signing_key"])

    reply = app.client.get(url)

    assert kit.decode(reply).width == 50
    assert "my photo.png" in reply.headers["content-disposition"]


def test_a_signed_source_is_reachable_by_id_with_the_id_path_signed(app, kit, signed):
    source, _ = signed

    reply = app.client.get(sign_url(f"/{source['id']}/a.png", "w=40", source["signing_key"]))

    assert kit.decode(reply).width == 40


def test_a_project_key_always_works_on_a_signed_source(app, kit, signed):
    other = kit.other_project_key(app)

    assert kit.decode(app.api("GET", "/signed/a.png?w=20")).width == 20
    assert app.api("GET", "/signed/a.png?w=20&s=bogus").status_code == 200
    kit.error(app.api("GET", "/signed/a.png?w=20", key=other), 401, field="s")


def test_imgix_md5_sources_check_md5_of_key_path_and_query(app, kit):
    source, directory = kit.fs_source(app, "legacy", access="signed", signature="imgix-md5",
                                      signing_key="imgix-style-token-0123")
    kit.put(directory, "a.png", kit.image(300, 200))
    message = "/legacy/a.png?w=120"
    s = hashlib.md5(("imgix-style-token-0123" + message).encode()).hexdigest()

    reply = app.client.get(f"{message}&s={s}")
    assert kit.decode(reply).width == 120
    assert app.client.get(sign_url("/legacy/a.png", "w=120", source["signing_key"], "imgix-md5")).content \
        == reply.content

    hmac_s = sign_url("/legacy/a.png", "w=120", source["signing_key"])
    kit.error(app.client.get(hmac_s), 403, field="s")
    kit.error(app.client.get("/legacy/a.png?w=120"), 401, field="s")
