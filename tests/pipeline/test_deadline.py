"""The processing time limit stops libvips mid-computation and answers 503."""

from __future__ import annotations

import pyvips
import pytest

from ims.config import Limits
from ims.errors import Unavailable
from ims.params import parse
from ims.pipeline import process
from ims.pipeline.steps import Deadline
from tests.pipeline.conftest import data


def test_a_spent_deadline_is_unavailable():
    with pytest.raises(Unavailable) as e:
        process(data("photos/pool-2.4mp.jpg"), parse({"w": "100"}),
                Limits(processing_seconds=0))
    assert e.value.status == 503 and e.value.message == "processing took longer than 0 s"


def test_kill_stops_libvips_while_it_computes():
    # a slow pipeline (several seconds) watched with a 0.2 s deadline
    deadline = Deadline(0.2)
    image = pyvips.Image.new_from_buffer(data("photos/leaf-8mp.jpg"), "", access="sequential")
    deadline.watch(image)
    slow = image.gaussblur(60).sharpen().gaussblur(40)
    with pytest.raises(pyvips.Error):
        slow.jpegsave_buffer()
    assert deadline.killed


def test_process_turns_a_kill_into_unavailable():
    # 8 MP at full size, blurred hard and sharpened: far longer than 50 ms
    with pytest.raises(Unavailable):
        process(data("photos/leaf-8mp.jpg"), parse({"sharp": "100", "blur": "100", "fm": "png"}),
                Limits(processing_seconds=0.05))


def test_a_generous_deadline_does_not_interfere():
    result = process(data("photos/pool-2.4mp.jpg"), parse({"w": "100"}),
                     Limits(processing_seconds=30))
    assert result.width == 100
