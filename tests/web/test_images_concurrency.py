"""Many requests at once (behaviour only, no timings) — SQLite and PostgreSQL."""

from concurrent.futures import ThreadPoolExecutor


def _all_at_once(app, urls: list[str], headers: dict | None = None):
    with ThreadPoolExecutor(len(urls)) as pool:
        return list(pool.map(lambda url: app.client.get(url, headers=headers or {}), urls))


def test_identical_concurrent_requests_without_cache_all_get_the_same_image(make_app, kit):
    app = make_app(cache_size_mb=0)
    kit.put(kit.default_dir(app), "a.jpg", kit.image(1200, 800, suffix=".jpg"))

    replies = _all_at_once(app, ["/default/a.jpg?w=300&fm=webp"] * 10)

    assert [r.status_code for r in replies] == [200] * 10
    assert len({r.content for r in replies}) == 1
    assert len({r.headers["etag"] for r in replies}) == 1
    image = kit.decode(replies[0])
    assert (kit.loader(image), image.width, image.height) == ("webpload_buffer", 300, 200)


def test_identical_concurrent_requests_with_cache_all_get_the_same_image(make_app, kit):
    app = make_app(cache_size_mb=64)
    kit.put(kit.default_dir(app), "a.jpg", kit.image(1200, 800, suffix=".jpg"))

    replies = _all_at_once(app, ["/default/a.jpg?w=300&auto=format"] * 10, {"accept": "image/avif"})

    assert [r.status_code for r in replies] == [200] * 10
    assert len({r.content for r in replies}) == 1
    assert {r.headers["content-type"] for r in replies} == {"image/avif"}
    assert app.client.get("/default/a.jpg?w=300&auto=format",
                          headers={"accept": "image/avif"}).headers["x-ims-cache"] == "hit"


def test_different_concurrent_requests_each_get_their_own_image(make_app, kit):
    app = make_app(cache_size_mb=0)
    kit.put(kit.default_dir(app), "a.jpg", kit.image(1200, 800, suffix=".jpg"))
    widths = [100 + 10 * i for i in range(10)]

    replies = _all_at_once(app, [f"/default/a.jpg?w={w}&fm=png" for w in widths])

    assert [kit.decode(r).width for r in replies] == widths
    assert len({r.headers["etag"] for r in replies}) == 10


def test_concurrent_errors_stay_errors(make_app, kit):
    app = make_app(cache_size_mb=0)
    kit.put(kit.default_dir(app), "bad.jpg", b"this is not an image")

    replies = _all_at_once(app, ["/default/bad.jpg?w=100"] * 10)

    for reply in replies:
        kit.error(reply, 422)
