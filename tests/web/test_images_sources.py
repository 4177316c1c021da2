"""Sources beyond fs, through the image route: S3 (real SeaweedFS) and http (a real local origin).

Pixels and storage only: SQLite is enough.
"""

import uuid
from urllib.parse import quote

import pytest

from ims.config import Limits


@pytest.fixture
def bucket(seaweed):
    return seaweed.create_bucket(f"ims-web-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def s3_app(make_sqlite_app, kit, seaweed, bucket):
    """An app with an s3 source ``pics`` on ``bucket`` under the prefix ``in/``."""
    app = make_sqlite_app(allow_private_networks=True)  # SeaweedFS listens on 127.0.0.1
    kit.create_source(app, name="pics", kind="s3", bucket=bucket, prefix="in",
                      endpoint_url=seaweed.endpoint_url, **seaweed.credentials)
    return app


@pytest.fixture
def web(make_sqlite_app, kit, http_origin):
    """(app, folder, url path of the folder): an http source ``web`` serving ``folder``."""
    app = make_sqlite_app(allow_private_networks=True, limits=Limits(fetch_seconds=0.5, source_bytes=200_000))
    folder, base_url = http_origin.folder()
    kit.create_source(app, name="web", kind="http", base_url=base_url)
    return app, folder, "/" + folder.name


# --- s3 --------------------------------------------------------------------------


def test_an_s3_source_renders(s3_app, kit, seaweed, bucket):
    seaweed.client().put_object(Bucket=bucket, Key="in/photos/a.jpg", Body=kit.image(300, 200, suffix=".jpg"))

    reply = s3_app.client.get("/pics/photos/a.jpg?w=150&fm=webp")

    assert reply.headers["content-type"] == "image/webp"
    image = kit.decode(reply)
    assert (kit.loader(image), image.width, image.height) == ("webpload_buffer", 150, 100)


def test_an_s3_source_only_sees_its_prefix(s3_app, kit, seaweed, bucket):
    seaweed.client().put_object(Bucket=bucket, Key="outside.jpg", Body=kit.image(30, 20, suffix=".jpg"))

    kit.error(s3_app.client.get("/pics/outside.jpg"), 404, words="does not exist")
    kit.error(s3_app.client.get("/pics/missing.jpg?w=10"), 404, words="does not exist")


def test_an_overwritten_s3_object_is_served_fresh(s3_app, kit, seaweed, bucket):
    s3 = seaweed.client()
    s3.put_object(Bucket=bucket, Key="in/a.jpg", Body=kit.image(300, 200, suffix=".jpg"))
    first = s3_app.client.get("/pics/a.jpg?w=100")
    assert s3_app.client.get("/pics/a.jpg?w=100").headers["x-ims-cache"] == "hit"

    s3.put_object(Bucket=bucket, Key="in/a.jpg", Body=kit.image(300, 150, suffix=".jpg"))
    second = s3_app.client.get("/pics/a.jpg?w=100")

    assert second.headers["x-ims-cache"] == "miss"
    assert second.headers["etag"] != first.headers["etag"]
    assert kit.decode(second).height == 50


def test_s3_with_wrong_credentials_is_a_storage_error(make_sqlite_app, kit, seaweed, bucket):
    app = make_sqlite_app(allow_private_networks=True)
    seaweed.client().put_object(Bucket=bucket, Key="a.jpg", Body=kit.image(30, 20, suffix=".jpg"))
    kit.create_source(app, name="badkeys", kind="s3", bucket=bucket, endpoint_url=seaweed.endpoint_url,
                      access_key_id=seaweed.access_key, secret_access_key="not-the-secret")

    kit.error(app.client.get("/badkeys/a.jpg"), 502)


# --- http ------------------------------------------------------------------------


def test_an_http_source_renders(web, kit):
    app, folder, _ = web
    kit.put(folder, "photos/a.jpg", kit.image(300, 200, suffix=".jpg"))

    image = kit.decode(app.client.get("/web/photos/a.jpg?w=60&h=60&fit=crop&fm=png"))

    assert (kit.loader(image), image.width, image.height) == ("pngload_buffer", 60, 60)


def test_an_http_key_with_spaces_and_unicode_reaches_the_origin(web, kit):
    app, folder, _ = web
    kit.put(folder, "my café.jpg", kit.image(40, 20, suffix=".jpg"))

    assert kit.decode(app.client.get("/web/my%20caf%C3%A9.jpg")).width == 40


def test_a_missing_http_object_is_404(web, kit):
    app, _, _ = web

    kit.error(app.client.get("/web/missing.jpg?w=10"), 404, words="does not exist")


def test_a_changed_http_object_is_served_fresh(web, kit):
    app, folder, _ = web
    path = kit.put(folder, "a.jpg", kit.image(300, 200, suffix=".jpg"))
    app.client.get("/web/a.jpg?w=100")

    kit.rewrite(path, kit.image(300, 150, suffix=".jpg"))
    reply = app.client.get("/web/a.jpg?w=100")

    assert reply.headers["x-ims-cache"] == "miss"
    assert kit.decode(reply).height == 50


def test_a_slow_origin_is_504(web, kit, http_origin):
    app, _, prefix = web
    http_origin.route(f"{prefix}/slow.jpg", delay=3, body=kit.image(30, 20, suffix=".jpg"))

    body = kit.error(app.client.get("/web/slow.jpg?w=10"), 504)
    assert "0.5 s" in body["message"]


def test_an_origin_that_trickles_its_body_is_504(make_sqlite_app, kit, http_origin):
    app = make_sqlite_app(allow_private_networks=True, limits=Limits(fetch_seconds=0.5), cache_size_mb=0)
    folder, base_url = http_origin.folder()
    kit.create_source(app, name="trickle", kind="http", base_url=base_url)
    http_origin.route(f"/{folder.name}/a.jpg", body=kit.image(300, 200, suffix=".jpg"), trickle=0.05)

    kit.error(app.client.get("/trickle/a.jpg"), 504)


@pytest.mark.parametrize("status", [500, 503, 403])
def test_an_origin_error_is_502(web, kit, http_origin, status):
    app, _, prefix = web
    http_origin.route(f"{prefix}/broken.jpg", status=status, body=b"oops")

    body = kit.error(app.client.get("/web/broken.jpg?w=10"), 502)
    assert str(status) in body["message"]


def test_an_http_object_over_the_byte_limit_is_413(web, kit):
    app, folder, _ = web
    kit.put(folder, "big.png", b"\x89PNG" + b"\0" * 300_000)

    kit.error(app.client.get("/web/big.png?w=10"), 413)


def test_an_origin_redirect_is_followed(web, kit, http_origin):
    app, folder, prefix = web
    kit.put(folder, "new/a.jpg", kit.image(60, 40, suffix=".jpg"))
    http_origin.route(f"{prefix}/old.jpg", status=301, location=f"{prefix}/new/a.jpg")

    assert kit.decode(app.client.get("/web/old.jpg")).width == 60


def test_a_redirect_loop_is_502(web, kit, http_origin):
    app, _, prefix = web
    http_origin.route(f"{prefix}/loop.jpg", status=302, location=f"{prefix}/loop.jpg")

    body = kit.error(app.client.get("/web/loop.jpg"), 502)
    assert "redirect" in body["message"].lower()


# --- every backend ---------------------------------------------------------------

ODD_KEYS = ["my café.jpg", "a+b.jpg", "100%.jpg", "x#y.jpg", "q?x.jpg", "eq=a&b.jpg",
            "sp ace/dir two/f.jpg", "日本.jpg"]


def test_odd_keys_reach_their_object_on_every_backend(make_sqlite_app, kit, seaweed, bucket, http_origin):
    app = make_sqlite_app(allow_private_networks=True)
    kit.create_source(app, name="pics", kind="s3", bucket=bucket, endpoint_url=seaweed.endpoint_url,
                      **seaweed.credentials)
    folder, base_url = http_origin.folder()
    kit.create_source(app, name="web", kind="http", base_url=base_url)
    s3 = seaweed.client()

    for i, key in enumerate(ODD_KEYS):
        data = kit.image(20 + i, 10, suffix=".jpg")
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        kit.put(folder, key, data)
        kit.put(kit.default_dir(app), key, data)
        for source in ("pics", "web", "default"):
            reply = app.client.get(f"/{source}/{quote(key)}")
            assert kit.decode(reply).width == 20 + i, (source, key)
