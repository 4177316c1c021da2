"""On-demand routing (SPEC §2): which source and which object a URL names — SQLite and PostgreSQL."""

import pytest


def test_a_source_is_reachable_by_name_and_by_id(app, kit):
    kit.put(kit.default_dir(app), "a.png", kit.image(300, 200))
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]

    by_name = app.client.get("/default/a.png?w=60")
    by_id = app.client.get(f"/{source_id}/a.png?w=60")

    assert (kit.decode(by_name).width, kit.decode(by_name).height) == (60, 40)
    assert by_id.content == by_name.content
    assert by_id.headers["etag"] == by_name.headers["etag"]


def test_nested_keys_and_an_encoded_slash_name_the_same_object(app, kit):
    kit.put(kit.default_dir(app), "photos/2024/a.png", kit.image(300, 200))

    plain = app.client.get("/default/photos/2024/a.png?w=30")
    encoded = app.client.get("/default/photos%2F2024%2Fa.png?w=30")

    assert kit.decode(plain).width == 30
    assert encoded.status_code == 200 and encoded.content == plain.content


def test_percent_encoded_unicode_and_spaces_in_keys(app, kit):
    kit.put(kit.default_dir(app), "café au lait.png", kit.image(40, 20))

    reply = app.client.get("/default/caf%C3%A9%20au%20lait.png")

    assert (kit.decode(reply).width, kit.decode(reply).height) == (40, 20)


def test_a_host_bound_source_takes_the_whole_path_as_the_key(app, kit):
    source, directory = kit.fs_source(app, "bound", hostnames=["img.example.com"])
    kit.put(directory, "photos/a.png", kit.image(300, 200))
    # On the bound host, "/default/x.png" is the key "default/x.png" of the bound source,
    # not the object x.png of the source named default.
    kit.put(directory, "default/x.png", kit.image(80, 80))
    kit.put(kit.default_dir(app), "x.png", kit.image(10, 10))

    reply = app.client.get("/photos/a.png?w=150", headers={"host": "img.example.com"})
    assert (kit.decode(reply).width, kit.decode(reply).height) == (150, 100)

    with_port = app.client.get("/photos/a.png?w=150", headers={"host": "IMG.Example.com:8443"})
    assert with_port.content == reply.content

    shadow = app.client.get("/default/x.png", headers={"host": "img.example.com"})
    assert kit.decode(shadow).width == 80

    # The source keeps its name and id URLs on any other host.
    assert app.client.get("/bound/photos/a.png?w=150").content == reply.content
    assert app.client.get(f"/{source['id']}/photos/a.png?w=150").content == reply.content


def test_a_fully_qualified_host_with_a_trailing_dot_is_the_same_host(app, kit):
    _, directory = kit.fs_source(app, "bound", hostnames=["img.example.com"])
    kit.put(directory, "a.png", kit.image(30, 20))

    reply = app.client.get("/a.png", headers={"host": "img.example.com.:443"})

    assert kit.decode(reply).width == 30


def test_an_unbound_host_does_not_reach_a_bound_source(app, kit):
    _, directory = kit.fs_source(app, "bound", hostnames=["img.example.com"])
    kit.put(directory, "photos/a.png", kit.image(30, 20))

    reply = app.client.get("/photos/a.png", headers={"host": "other.example.com"})

    kit.error(reply, 404, field="source", words="photos")


def test_an_unknown_source_is_404_naming_it(app):
    reply = app.client.get("/nosuchsource/a.png?w=10")

    assert reply.status_code == 404
    body = reply.json()
    assert body["status_code"] == 404 and "nosuchsource" in body["message"]
    assert body["errors"][0]["field"] == "source"


def test_an_unknown_source_id_is_404(app, kit):
    kit.error(app.client.get("/0123456789abcdef01234567/a.png"), 404, field="source")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/no_such_thing",
        "/api/a.png",
        "/api",
        "/healthz/a.png",
        "/readyz/a.png",
        "/metrics/a.png",
        "/static/a.png",
        "/docs/a.png",
        "/openapi.json/a.png",
    ],
)
def test_reserved_first_segments_are_404_json(app, kit, path):
    body = kit.error(app.client.get(path), 404)
    assert "route" in body["message"].lower() or "not found" in body["message"].lower()


def test_console_paths_are_the_consoles_not_images(app):
    """/console/… is the console (signed out: 303 to its sign-in page), never an image lookup."""
    reply = app.client.get("/console/a.png", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/console/sign-in"


def test_a_missing_object_is_404_naming_the_key(app, kit):
    body = kit.error(app.client.get("/default/photos/missing.png?w=10"), 404,
                     words="does not exist")
    assert "photos/missing.png" in body["message"]


@pytest.mark.parametrize(
    "path",
    ["/default/..%2F..%2Fims.db", "/default/%2e%2e/%2e%2e/ims.db", "/default/photos/%2e%2e/%2e%2e/%2e%2e/ims.db"],
)
def test_a_key_cannot_climb_out_of_the_source(app, kit, path):
    reply = app.client.get(path)

    assert reply.status_code in (400, 404), reply.text
    kit.error(reply, reply.status_code)
    assert b"SQLite" not in reply.content


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_image_urls_only_take_get_and_head(app, kit, method):
    kit.put(kit.default_dir(app), "a.png", kit.image(30, 20))

    kit.error(app.client.request(method, "/default/a.png"), 405)
    assert (kit.default_dir(app) / "a.png").exists()
