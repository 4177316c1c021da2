"""URLs built by the real imgix SDK (PyPI ``imgix``) at its default settings work (issue 10 item 1).

The SDK adds ``ixlib=python-…`` to every URL and signs with md5(token + path + "?" + query):
ims accepts and ignores ``ixlib``/``ixid`` (and ``IMS_IGNORED_PARAMS``), keeps them in the
signed message, and leaves them out of the canonical form (cache key, ETag).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from imgix import UrlBuilder

TOKEN = "imgix-token-0123456789"
HOST = "img.example.test"
KEYS = ("photo é.png", "summer 2024/café au lait é.png")


@pytest.fixture
def site(make_sqlite_app, kit):
    """A signed imgix-md5 source named ``legacy``, bound to HOST, holding KEYS (1000×500 each)."""
    app = make_sqlite_app()
    source, directory = kit.fs_source(app, "legacy", access="signed", signature="imgix-md5",
                                      signing_key=TOKEN, hostnames=[HOST])
    for key in KEYS:
        kit.put(directory, key, kit.image(1000, 500))
    return app, source


def _builder(form: str) -> tuple[UrlBuilder, str]:
    """The SDK at its defaults (ixlib on) with a signing key, and the path prefix of ``form``.

    Path form: the domain is just a name that no source binds, so the first path segment
    names the source. Host form: the domain is the source's bound hostname."""
    if form == "path":
        return UrlBuilder("ims.example.test", use_https=False, sign_key=TOKEN), "legacy/"
    return UrlBuilder(HOST, use_https=False, sign_key=TOKEN), ""


def _srcset_urls(srcset: str) -> list[tuple[str, str]]:
    """(url, descriptor) pairs of a srcset attribute as the SDK writes it."""
    return [tuple(entry.strip().rsplit(" ", 1)) for entry in srcset.split(",\n")]  # type: ignore[misc]


def _get(app, url: str):
    """Send the SDK's URL as it is: its host goes into the Host header."""
    assert "ixlib=python-" in url and "&s=" in url, url
    return app.client.get(url)


@pytest.mark.parametrize("form", ["path", "host"])
@pytest.mark.parametrize("key", KEYS)
def test_single_sdk_urls_work(site, kit, form, key):
    app, _ = site
    builder, prefix = _builder(form)

    for params, size in [({"w": 300}, (300, 150)), ({"w": 200, "h": 200, "fit": "crop"}, (200, 200)),
                         ({"h": 100, "fm": "webp"}, (200, 100)), ({}, (1000, 500))]:
        url = builder.create_url(prefix + key, params)
        assert "%20" in urlsplit(url).path and "%C3%A9" in urlsplit(url).path, url
        image = kit.decode(_get(app, url))
        assert (image.width, image.height) == size, (url, params)


@pytest.mark.parametrize("form", ["path", "host"])
def test_fluid_width_srcsets_work(site, kit, form):
    app, _ = site
    builder, prefix = _builder(form)

    srcset = builder.create_srcset(prefix + KEYS[1], {"fm": "webp"}, start=100, stop=900, tol=0.2)
    entries = _srcset_urls(srcset)

    assert len(entries) >= 3
    for url, descriptor in entries:
        assert descriptor.endswith("w")
        assert kit.decode(_get(app, url)).width == int(descriptor[:-1]), url


@pytest.mark.parametrize("form", ["path", "host"])
def test_dpr_srcsets_work(site, kit, form):
    app, _ = site
    builder, prefix = _builder(form)

    srcset = builder.create_srcset(prefix + KEYS[0], {"w": 120})
    entries = _srcset_urls(srcset)

    assert [d for _, d in entries] == ["1x", "2x", "3x", "4x", "5x"]
    for url, descriptor in entries:
        assert "q=" in url  # the SDK's variable quality per DPR
        assert kit.decode(_get(app, url)).width == 120 * int(descriptor[:-1]), url


def test_an_unsigned_sdk_url_on_a_public_source_works(make_sqlite_app, kit):
    app = make_sqlite_app()
    kit.put(kit.default_dir(app), "a é.png", kit.image(400, 200))

    url = UrlBuilder("ims.example.test", use_https=False).create_url("default/a é.png", {"w": 100})

    assert "ixlib=python-" in url
    assert kit.decode(app.client.get(url)).width == 100


def test_ignored_names_are_not_part_of_the_etag_or_the_cache_key(make_sqlite_app, kit):
    app = make_sqlite_app()
    kit.put(kit.default_dir(app), "a.png", kit.image(400, 200))

    plain = app.client.get("/default/a.png?w=100")
    with_ixlib = app.client.get("/default/a.png?w=100&ixlib=python-4.0.0&ixid=M3wxMjA3fDB8MXxzZWFyY2g")
    other_ixlib = app.client.get("/default/a.png?ixlib=js-3.8.0&w=100")

    assert plain.headers["x-ims-cache"] == "miss"
    for reply in (with_ixlib, other_ixlib):
        assert reply.status_code == 200, reply.text
        assert reply.headers["etag"] == plain.headers["etag"]
        assert reply.headers["x-ims-cache"] == "hit"  # the same cache entry
        assert reply.content == plain.content
    conditional = app.client.get("/default/a.png?w=100&ixlib=python-4.0.0",
                                 headers={"if-none-match": plain.headers["etag"]})
    assert conditional.status_code == 304


def test_ixlib_stays_in_the_signed_message(site, kit):
    app, _ = site
    url = UrlBuilder(HOST, use_https=False, sign_key=TOKEN).create_url("photo é.png", {"w": 50})
    assert kit.decode(app.client.get(url)).width == 50

    tampered = url.replace("ixlib=python-", "ixlib=js-")
    kit.error(app.client.get(tampered), 403, field="s")
    dropped = re.sub(r"ixlib=[^&]*&", "", url)  # the SDK sorts: ?ixlib=…&w=50&s=…
    assert "ixlib" not in dropped and "w=50&s=" in dropped
    kit.error(app.client.get(dropped), 403, field="s")


def test_names_in_ims_ignored_params_are_accepted_and_others_still_refused(make_sqlite_app, kit):
    app = make_sqlite_app(ignored_params=("ixlib", "ixid", "utm_source"))
    kit.put(kit.default_dir(app), "a.png", kit.image(400, 200))

    plain = app.client.get("/default/a.png?w=100")
    tagged = app.client.get("/default/a.png?w=100&utm_source=newsletter&ixlib=python-4.0.0")
    assert kit.decode(tagged).width == 100
    assert tagged.headers["etag"] == plain.headers["etag"]

    kit.error(app.client.get("/default/a.png?w=100&utm_medium=email"), 400, field="utm_medium",
              words="unknown parameter 'utm_medium'")
    kit.error(app.client.get("/default/a.png?w=100&ixlibs=1"), 400, field="ixlibs")
