"""Renders over the pixel-cost budget are refused at once with a clear 4xx (SPEC §2 limits);
renders past the processing limit answer 503 and leave the service answering."""

from __future__ import annotations

import time

from tests.pipeline.test_cost import svg_bomb


def test_the_svg_blur_bomb_is_refused_at_once(make_sqlite_app, kit):
    app = make_sqlite_app(cache_size_mb=0)
    kit.put(kit.default_dir(app), "bomb.svg", svg_bomb())
    started = time.monotonic()
    reply = app.client.get("/default/bomb.svg")
    assert time.monotonic() - started < 2
    kit.error(reply, 413, words="filter effects")
    assert app.client.get("/default/bomb.svg?w=64").status_code == 200


def test_the_padded_animation_is_refused_at_once_naming_pad(make_sqlite_app, kit):
    app = make_sqlite_app(cache_size_mb=0)
    kit.put(kit.default_dir(app), "squares.gif",
            (kit.testdata / "formats/animated-rotating-squares.gif").read_bytes())
    started = time.monotonic()
    reply = app.client.get("/default/squares.gif?fit=fillmax&pad=4000&sharp=61&trim-color=000&auto=format",
                           headers={"accept": "image/avif,image/webp,*/*"})
    assert time.monotonic() - started < 2
    kit.error(reply, 400, field="pad", words="30 frames")


def test_errors_from_the_render_process_keep_their_status_and_field(make_sqlite_app, kit):
    app = make_sqlite_app(cache_size_mb=0)
    kit.put(kit.default_dir(app), "cut.jpg", (kit.testdata / "hostile/truncated.jpg").read_bytes())
    kit.put(kit.default_dir(app), "a.jpg", kit.image(300, 200, suffix=".jpg"))
    kit.error(app.client.get("/default/cut.jpg?w=100"), 422)
    kit.error(app.client.get("/default/a.jpg?w=100&rect=400,0,10,10"), 400, field="rect")
    assert kit.decode(app.client.get("/default/a.jpg?w=100")).width == 100
