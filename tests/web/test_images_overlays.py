"""mark and blend over HTTP (issue 12): the images come only from the project's own sources —
a key of the same source, a URL on a hostname bound to one, under an http source's base URL,
or ims's own path — never from another host; their version is part of the ETag; SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


@pytest.fixture
def app(make_app, kit):
    app = make_app(allow_private_networks=True)   # (the http source test's origin is on 127.0.0.1)
    kit.put(kit.default_dir(app), "a.png", kit.image(300, 200, BLUE))
    kit.put(kit.default_dir(app), "logo.png", kit.image(40, 20, RED, alpha=True))
    return app


def _mark_box(image: pyvips.Image) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the red pixels."""
    red = (image[0] == 255) & (image[1] == 0) & (image[2] == 0)
    cols, rows = red.project()
    xs = [x for x in range(image.width) if cols(x, 0)[0]]
    ys = [y for y in range(image.height) if rows(0, y)[0]]
    return (xs[0], ys[0], xs[-1] - xs[0] + 1, ys[-1] - ys[0] + 1) if xs else (0, 0, 0, 0)


def _get(app, query: str):
    return app.client.get(f"/default/a.png?{query}")


@pytest.mark.parametrize("mark", ["/logo.png", "logo.png", "http://localhost/default/logo.png",
                                  "https://127.0.0.1:8443/default/logo.png"])
def test_a_mark_of_the_same_source_lands_at_the_top_left_pad(app, kit, mark):
    image = kit.decode(_get(app, f"mark={quote(mark, safe='')}&mark-align=top,left&mark-pad=10&fm=png"))
    assert _mark_box(image) == (10, 10, 40, 20)
    assert kit.pixel(image, 9, 9)[:3] == list(BLUE) and kit.pixel(image, 150, 150)[:3] == list(BLUE)


def test_mark64_and_the_marks_own_parameters(app, kit):
    encoded = base64.urlsafe_b64encode(b"/logo.png?w=20&h=10&fit=scale").decode().rstrip("=")
    image = kit.decode(_get(app, f"mark64={encoded}&mark-align=top,left&mark-pad=0"))
    assert _mark_box(image) == (0, 0, 20, 10)
    plain = _get(app, "mark=%2Flogo.png%3Fw%3D20%26h%3D10%26fit%3Dscale&mark-align=top,left&mark-pad=0")
    assert plain.content == _get(app, f"mark64={encoded}&mark-align=top,left&mark-pad=0").content


def test_a_blend_colour_needs_no_object(app, kit):
    image = kit.decode(_get(app, "blend=00ff00&blend-mode=normal&fm=png"))
    assert kit.pixel(image, 0, 0)[:3] == list(GREEN)


def test_mark_from_another_public_source_by_its_hostname_and_by_ims_path(app, kit):
    _, directory = kit.fs_source(app, "brand", hostnames=["brand.example.com"])
    kit.put(directory, "img/logo.png", kit.image(30, 30, RED, alpha=True))
    for url in ("https://brand.example.com/img/logo.png", "http://localhost/brand/img/logo.png"):
        image = kit.decode(_get(app, f"mark={quote(url, safe='')}&mark-align=top,left&mark-pad=0"))
        assert _mark_box(image) == (0, 0, 30, 30), url


def test_mark_under_an_http_sources_base_url_is_read_through_that_source(app, kit, http_origin):
    folder, base_url = http_origin.folder()
    (folder / "logo.png").write_bytes(kit.image(25, 25, RED, alpha=True))
    kit.create_source(app, name="web", kind="http", base_url=base_url)
    before = len(http_origin.requests)
    image = kit.decode(_get(app, f"mark={quote(base_url + '/logo.png', safe='')}&mark-align=top,left&mark-pad=0"))
    assert _mark_box(image) == (0, 0, 25, 25)
    assert len(http_origin.requests) > before     # (this counter is what the guard tests read)


@pytest.mark.parametrize("query, words", [
    ("mark=https%3A%2F%2Fexample.com%2Flogo.png", "must name an image of this project"),
    ("mark=http%3A%2F%2Flocalhost%2Fnope%2Flogo.png", "not a source of this project"),
    ("mark=file%3A%2F%2F%2Fetc%2Fpasswd", "file: URL"),
    ("blend=data%3Aimage%2Fpng%3Bbase64%2CiVBORw0KGgo", "data: URL"),
    ("mark=%2Fmissing.png", "missing.png"),
    ("mark=..%2Fsecret.png", "mark"),
    ("mark=logo.png%3Fmark%3Dlogo.png", "of its own"),
    ("mark=logo.png%3Fw%3Dbig", "bad parameter of its own"),
    ("mark=logo.png&m=logo.png", "more than once"),
    ("mark-base=https%3A%2F%2Fexample.com", "not supported"),
])
def test_bad_marks_are_a_400_naming_the_parameter(app, kit, query, words):
    field = query.split("=", 1)[0] if not query.startswith("mark=logo.png&m") else "m"
    kit.error(_get(app, query), 400, field=field, words=words)


def test_a_mark_that_is_not_an_image_is_a_422_naming_it(app, kit):
    kit.put(kit.default_dir(app), "notes.png", b"just text")
    kit.error(_get(app, "mark=notes.png"), 422, field="mark", words="mark:")


def test_another_projects_source_is_never_used(app, kit):
    directory = app.svc.settings.data_dir / "sources" / "theirs"
    directory.mkdir()
    reply = app.api("POST", "/api/v1/sources", key=kit.other_project_key(app), json={
        "name": "theirs", "kind": "fs", "path": str(directory), "hostnames": ["theirs.example.com"]})
    assert reply.status_code == 201, reply.text
    kit.put(directory, "logo.png", kit.image(10, 10, RED))
    kit.error(_get(app, "mark=http%3A%2F%2Flocalhost%2Ftheirs%2Flogo.png"), 400, field="mark",
              words="not a source of this project")
    kit.error(_get(app, "mark=https%3A%2F%2Ftheirs.example.com%2Flogo.png"), 400, field="mark")


def test_a_private_source_is_no_overlay_for_a_public_one(app, kit):
    _, directory = kit.fs_source(app, "vault", access="private")
    kit.put(directory, "secret.png", kit.image(10, 10, RED))
    kit.error(_get(app, "blend=http%3A%2F%2Flocalhost%2Fvault%2Fsecret.png&bm=normal"), 400, field="blend",
              words="private source 'vault'")


def test_the_etag_changes_when_the_mark_object_is_replaced(app, kit):
    query = "mark=logo.png&mark-align=top,left&mark-pad=0&fm=png"
    first = _get(app, query)
    assert _get(app, query).headers["x-ims-cache"] == "hit"
    etag = first.headers["etag"]
    assert app.client.get(f"/default/a.png?{query}", headers={"If-None-Match": etag}).status_code == 304
    kit.rewrite(kit.default_dir(app) / "logo.png", kit.image(40, 20, GREEN, alpha=True))
    second = _get(app, query)
    assert second.headers["etag"] != etag and second.headers["x-ims-cache"] == "miss"
    assert kit.pixel(kit.decode(second), 5, 5)[:3] == list(GREEN)
    stale = app.client.get(f"/default/a.png?{query}", headers={"If-None-Match": etag})
    assert stale.status_code == 200
    fresh = app.client.get(f"/default/a.png?{query}", headers={"If-None-Match": second.headers["etag"]})
    assert fresh.status_code == 304


# --- no value of mark/blend makes ims fetch outside the project's sources ---

def _hostile_refs(port: int):
    hosts = ["127.0.0.1", "127.1", "2130706433", "[::1]", "localhost", "0x7f.1", "169.254.169.254",
             "example.com", "127.0.0.1.nip.io", "brand.example.com.evil"]
    paths = ["/logo.png", "/x.png", "/default/logo.png", "/../etc/passwd", "/%2e%2e/a.png", ""]
    url = st.builds(lambda scheme, host, path, port_part: f"{scheme}://{host}{port_part}{path}",
                    st.sampled_from(["http", "https", "HTTP", "ftp", "gopher", "file"]), st.sampled_from(hosts),
                    st.sampled_from(paths), st.sampled_from(["", f":{port}"]))
    odd = st.sampled_from([f"//127.0.0.1:{port}/logo.png", "file:///etc/passwd", "data:image/png;base64,AAAA",
                           f"http://user:pw@127.0.0.1:{port}/logo.png", f"http:/127.0.0.1:{port}/logo.png",
                           "javascript:alert(1)", "\\\\127.0.0.1\\share\\a.png", f"http://127.0.0.1:{port}",
                           "C:\\logo.png", "/logo.png\x00.jpg", "ｈｔｔｐ://127.0.0.1/logo.png", "%00"])
    inner = st.sampled_from(["", "?w=10", f"?mark=http://127.0.0.1:{port}/logo.png", "?fm=json"])
    return st.tuples(st.one_of(url, odd, st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)), inner).map("".join)


@pytest.fixture(scope="module")
def watched(http_origin):
    http_origin.route("/logo.png", body=b"not served")
    return http_origin


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mark_and_blend_never_fetch_outside_the_projects_sources(app, watched, data):
    ref = data.draw(_hostile_refs(watched.port))
    name = data.draw(st.sampled_from(["mark", "blend", "mark64", "blend64", "m", "b"]))
    value = base64.urlsafe_b64encode(ref.encode()).decode() if name.endswith("64") else ref
    before = len(watched.requests)
    reply = app.client.get(f"/default/a.png?{name}={quote(value, safe='')}&bm=normal")
    assert len(watched.requests) == before, watched.requests[before:]
    assert reply.status_code in (200, 400, 413, 415, 422), (ref, reply.status_code, reply.text[:300])
    if reply.status_code != 200:
        body = reply.json()
        assert body["errors"][0]["field"] in (name, "mark", "blend"), body


@pytest.mark.parametrize("name", ["mark64", "mark"])
def test_a_mark_built_by_the_imgix_sdk_works(make_sqlite_app, kit, name):
    """imgix-python at its defaults: a signed mark URL of the same host-bound source (with its
    own ixlib and s, dropped inside), passed as mark64 (the SDK base64-encodes it) or mark."""
    from imgix import UrlBuilder

    app = make_sqlite_app()
    _, directory = kit.fs_source(app, "legacy", access="signed", signature="imgix-md5",
                                 signing_key="imgix-token-0123456789", hostnames=["img.example.test"])
    kit.put(directory, "photo é.png", kit.image(600, 300, BLUE))
    kit.put(directory, "brand/logo é.png", kit.image(100, 50, RED, alpha=True))
    builder = UrlBuilder("img.example.test", use_https=True, sign_key="imgix-token-0123456789")
    mark = builder.create_url("brand/logo é.png", {"w": 40})
    assert "ixlib=python-" in mark and "&s=" in mark
    url = builder.create_url("photo é.png", {"w": 300, name: mark, "mark-align": "top,left", "mark-pad": 0})
    image = kit.decode(app.client.get(url))
    assert (image.width, image.height) == (300, 150)
    assert _mark_box(image) == (0, 0, 40, 20)
