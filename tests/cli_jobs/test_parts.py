"""The pure parts of `ims jobs`: request bodies from flags and files, tallies, rate and ETA,
the plain progress lines and the summaries (the commands themselves: test_commands.py)."""

from __future__ import annotations

import io
from argparse import ArgumentTypeError, Namespace

import pytest

from ims.cli_jobs import body
from ims.cli_jobs.commands import bulk_summary, job_summary
from ims.cli_jobs.display import Lines, progress_text
from ims.cli_jobs.errors import ApiError, UsageError
from ims.cli_jobs.tally import Rate, duration, of_bulk, of_job
from ims.errors import FieldError


def _flags(**given) -> Namespace:
    return Namespace(**{"param": [], "preset": None, "dest_key": None, "metadata": None, **given})


def test_a_parameter_flag_is_name_equals_value_and_anything_else_is_refused_with_an_example():
    assert body.parameter("w=1600") == ("w", "1600")
    assert body.parameter("txt=a=b") == ("txt", "a=b")  # the first '=' splits
    assert body.parameter("bg=") == ("bg", "")
    for wrong in ("w", "=5", " =5"):
        with pytest.raises(ArgumentTypeError, match=r"expected NAME=VALUE \(e.g. w=1600\), got"):
            body.parameter(wrong)


def test_metadata_must_be_a_json_object():
    assert body.metadata('{"order": 17}') == {"order": 17}
    for wrong in ("[1]", "17", "{nope"):
        with pytest.raises(ArgumentTypeError, match="must be a JSON object"):
            body.metadata(wrong)


def test_flags_go_over_the_file_parameters_merged_the_rest_replaced():
    base = {"source_id": "default", "object_key": "a.jpg", "parameters": {"w": 100, "fm": "webp"},
            "destination_object_key": "x.webp", "metadata": {"a": 1}}
    flags = _flags(param=[("w", "50"), ("q", "70")], dest_key="y.webp")

    made = body.with_flags(base, flags, source_id="6b1022bbfdf555acc1e7893f", object_key=None, destination_ids=None)

    assert made == {"source_id": "6b1022bbfdf555acc1e7893f", "object_key": "a.jpg",
                    "parameters": {"w": "50", "fm": "webp", "q": "70"},
                    "destination_object_key": "y.webp", "metadata": {"a": 1}}
    assert base["parameters"] == {"w": 100, "fm": "webp"}  # the file's body is not changed
    assert "parameters" not in body.with_flags({}, _flags(preset="card"))  # no --param: none sent


def test_a_file_that_is_not_json_or_not_the_right_shape_is_a_usage_error_naming_it(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "list.json").write_text('[{"parameters": {"w": 10}}]')
    with pytest.raises(UsageError, match=r"--file: '.*bad.json' is not JSON"):
        body.job_base(str(tmp_path / "bad.json"))
    with pytest.raises(UsageError, match="cannot read"):
        body.job_base(str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match="must hold a JSON object"):
        body.job_base(str(tmp_path / "list.json"))
    assert body.bulk_base(str(tmp_path / "list.json")) == {"outputs": [{"parameters": {"w": 10}}]}


def test_a_job_is_a_tally_of_one():
    tally = of_job({"job_id": "j1", "status": "processing"})
    assert (tally.total, tally.ended, tally.done, tally.counts["processing"]) == (1, 0, False, 1)
    ended = of_job({"job_id": "j1", "status": "failed"})
    assert (ended.ended, ended.done, ended.ok) == (1, True, False)


def test_a_bulk_tally_reads_its_counts_nested_or_flat_and_never_totals_less_than_it_counts():
    nested = of_bulk({"bulk_id": "b1", "status": "running",
                      "counts": {"listed": 10, "queued": 4, "processing": 2, "succeeded": 3, "failed": 1}})
    flat = of_bulk({"bulk_id": "b1", "status": "running", "listed": 10, "queued": 4, "processing": 2,
                    "succeeded": 3, "failed": 1, "canceled": 0})
    assert nested == flat
    assert (nested.total, nested.ended, nested.counts["canceled"]) == (10, 4, 0)
    listing = of_bulk({"bulk_id": "b1", "status": "listing", "listed": 3, "queued": 5})  # read between two counts
    assert listing.total == 5 and listing.listing and not listing.done


def test_the_rate_is_over_the_window_and_the_eta_waits_for_the_listing():
    rate = Rate(window=30)
    assert rate.per_second() is None
    rate.add(0, 0)
    rate.add(10, 50)
    assert rate.per_second() == 5.0
    running = of_bulk({"bulk_id": "b", "status": "running", "listed": 100, "succeeded": 50})
    assert rate.eta(running) == 10.0
    assert rate.eta(of_bulk({"bulk_id": "b", "status": "listing", "listed": 100, "succeeded": 50})) is None
    rate.add(40, 80)  # the sample at 0 s is out of the window now: 30 jobs in 30 s
    rate.add(41, 81)
    assert rate.per_second() == pytest.approx(31 / 31)


def test_durations_read_like_a_person_says_them():
    assert [duration(s) for s in (None, 0.25, 42, 185, 7620)] == ["–", "0.2 s", "42 s", "3 min 05 s", "2 h 07 min"]


def test_plain_lines_come_on_a_status_change_and_every_few_seconds_not_on_every_read():
    now = [0.0]
    out = io.StringIO()
    lines = Lines(out, every=5, clock=lambda: now[0])
    for t, status, done in [(0, "listing", 0), (1, "listing", 0), (2, "running", 10), (3, "running", 20),
                            (7.5, "running", 60), (8, "succeeded", 100)]:
        now[0] = t
        lines.show(of_bulk({"bulk_id": "b", "status": status, "listed": 100, "succeeded": done}))
    printed = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in printed] == ["bulk b: listing", "bulk b: running", "bulk b: running",
                                                       "bulk b: succeeded"]
    assert printed[-1].endswith("canceled 0 · 12.5/s")  # ended: no ETA (100 jobs in 8 s)
    assert printed[2] == ("bulk b: running, 60/100 ended · queued 0 · processing 0 · succeeded 60 · failed 0 · "
                          "canceled 0 · 8.0/s · ETA 5.0 s")
    assert "\x1b" not in out.getvalue()


def test_a_listing_bulk_says_its_total_may_grow():
    line = progress_text(of_bulk({"bulk_id": "b", "status": "listing", "listed": 40}), Rate())
    assert line.startswith("bulk b: listing, 0/40+ ended") and line.endswith("–/s · ETA after the listing")


def test_a_job_summary_lists_each_output_and_a_failure_the_puts_that_landed():
    outputs = {"job_id": "j", "status": "succeeded", "created_at": "2026-01-01T00:00:00Z",
               "finished_at": "2026-01-01T00:00:01.5Z",
               "result": {"outputs": [
                   {"name": "large", "object_puts": [{"bucket": "local", "key": "l/a.jpg"}], "mime": "image/jpeg",
                    "size": "181042", "width": 1600, "height": 900},
                   {"name": "thumb", "object_puts": [{"bucket": "local", "key": "t/a.webp"}], "mime": "image/webp",
                    "size": 900, "width": 200, "height": 200}]}}
    assert job_summary(outputs) == ["job j: succeeded in 1.5 s, 2 outputs",
                                    "  large: local/l/a.jpg (image/jpeg, 176.8 KB, 1600×900)",
                                    "  thumb: local/t/a.webp (image/webp, 900 B, 200×200)"]
    failed = {"job_id": "j", "status": "failed", "attempts": 5,
              "result": {"object_puts": [{"bucket": "local", "key": "a.jpg"}]},
              "error": {"code": "storage_error", "detail": "the bucket refused the write"}}
    assert job_summary(failed) == ["job j: failed after 5 attempts: storage_error: the bucket refused the write",
                                   "  put before it failed: local/a.jpg"]


def test_a_bulk_summary_gives_the_counts_and_where_the_failed_jobs_are():
    view = {"bulk_id": "b", "status": "failed", "listed": 3, "succeeded": 2, "failed": 1}
    assert bulk_summary(view) == [
        "bulk b: failed, 3 listed · succeeded 2 · failed 1 · canceled 0",
        "  the failed jobs: GET /api/processes/v1/background_processes?bulk_id=b&status=failed"]


def test_an_api_error_names_each_field_the_message_does_not_already_name():
    named = ApiError(400, "w must be an integer", [FieldError("parameters.w", "w must be an integer")])
    assert named.lines() == ["ims: the service refused the request (400): w must be an integer",
                             "  parameters.w: w must be an integer"]
    said = ApiError(401, "the x-api-key is not valid", [FieldError("x-api-key", "the x-api-key is not valid")])
    assert said.lines() == ["ims: the service refused the request (401): the x-api-key is not valid",
                            "  the API key comes from --key or IMS_API_KEY"]
    assert ApiError(503, "overloaded", []).retryable and not named.retryable


def test_a_bulk_summary_gives_the_listings_error():
    view = {"bulk_id": "b", "status": "failed", "listed": 0,
            "error": {"code": "storage_error", "detail": "the bucket does not exist"}}
    assert bulk_summary(view) == ["bulk b: failed, 0 listed · succeeded 0 · failed 0 · canceled 0",
                                  "  error: storage_error: the bucket does not exist"]
