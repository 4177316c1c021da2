"""POST /api/processes/v1/background_processes and friends — on SQLite and PostgreSQL."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

URL = "/api/processes/v1/background_processes"


def _source_id(app):
    return app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]


def _seed(app, **extra):
    return {"source_id": _source_id(app), "object_key": "000/018/083/18083.jpg",
            "parameters": {"w": 1600, "h": 1600}, "destination_object_key": "000/018/083/18083.jpg", **extra}


def test_seed_request_is_accepted(app):
    reply = app.api("POST", URL, json=_seed(app))
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["status_code"] == 202 and body["message"] == "Accepted"
    response = body["response"]
    assert response["status"] == "queued" and len(response["job_id"]) == 24
    assert response["source_id"] == _source_id(app) and response["object_key"] == "000/018/083/18083.jpg"
    job = app.api("GET", f"{URL}/{response['job_id']}").json()["response"]
    assert job["status"] == "queued" and job["attempts"] == 0 and job["parameters"] == {"h": "1600", "w": "1600"}
    assert job["created_at"].endswith("Z") and job["started_at"] is None and job["deliveries"] == []


def test_form_bodies(app):
    sid = _source_id(app)
    form = {"source_id": sid, "object_key": "a.jpg", "parameters[w]": "300", "parameters[fm]": "webp"}
    reply = app.api("POST", URL, data=form)
    assert reply.status_code == 202, reply.text
    job = app.api("GET", f"{URL}/{reply.json()['response']['job_id']}").json()["response"]
    assert job["parameters"] == {"fm": "webp", "w": "300"}

    as_json_string = {"source_id": sid, "object_key": "a.jpg", "parameters": json.dumps({"w": 10})}
    assert app.api("POST", URL, data=as_json_string).status_code == 202
    multipart = app.api("POST", URL, files={"source_id": (None, sid), "object_key": (None, "a.jpg"),
                                             "parameters[h]": (None, "20")})
    assert multipart.status_code == 202, multipart.text


def test_requests_data_payload_gets_the_json_hint(app):
    # what requests.post(url, data=payload) sends for the seed's nested "parameters" dict
    body = f"source_id={_source_id(app)}&object_key=a.jpg&parameters=w&parameters=h&destination_object_key=a.jpg"
    reply = app.api("POST", URL, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400
    error = reply.json()
    assert error["errors"][0]["field"] == "parameters"
    assert "json=payload" in error["message"] and "bare names" in error["message"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"parameters": {"w": "abc"}}, 400, "parameters.w"),
        ({"parameters": {"wdth": 3}}, 400, "parameters.wdth"),
        ({"parameters": [1]}, 400, "parameters"),
        ({"object_key": "../etc/passwd"}, 400, "object_key"),
        ({"object_key": "/abs.jpg"}, 400, "object_key"),
        ({"object_key": "a\x00b"}, 400, "object_key"),
        ({"object_key": "x" * 1025}, 400, "object_key"),
        ({"destination_object_key": "a/../../b"}, 400, "destination_object_key"),
        ({"source_id": "nope"}, 400, "source_id"),
        ({"source_id": "0" * 24}, 404, "source_id"),
        ({"destination_ids": ["0" * 24]}, 400, "destination_ids"),
        ({"destination_ids": []}, 400, "destination_ids"),
        ({"metadata": {"big": "x" * 5000}}, 400, "metadata"),
        ({"metadata": "text"}, 400, "metadata"),
        ({"colour": "red"}, 400, "colour"),
        ({"webhook_url": "https://1.1.1.1/hook"}, 400, "webhook_url"),  # no endpoint to sign with
        ({"webhook_url": "http://127.0.0.1/hook"}, 400, "webhook_url"),  # private address
    ],
)
def test_bad_requests_fail_before_any_job(app, change, status, field):
    body = _seed(app)
    body.update(change)
    reply = app.api("POST", URL, json=body)
    assert reply.status_code == status, reply.text
    assert field in [e["field"] for e in reply.json()["errors"]], reply.json()
    assert app.api("GET", URL).json()["response"]["items"] == []


def test_missing_required_fields_are_listed_together(app):
    reply = app.api("POST", URL, json={})
    assert reply.status_code == 400
    assert {e["field"] for e in reply.json()["errors"]} == {"source_id", "object_key"}


def test_not_json(app):
    assert app.api("POST", URL, content=b"{oops", headers={"content-type": "application/json"}).status_code == 400
    assert app.api("POST", URL, content=b"hi", headers={"content-type": "text/plain"}).status_code == 415


def test_idempotency(app):
    body = _seed(app)
    first = app.api("POST", URL, json=body, headers={"Idempotency-Key": "k1"})
    again = app.api("POST", URL, json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = app.api("POST", URL, json={**body, "object_key": "other.jpg"}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert len(app.api("GET", URL).json()["response"]["items"]) == 1
    # a failed request does not burn the key
    bad = app.api("POST", URL, json={**body, "parameters": {"w": -1}}, headers={"Idempotency-Key": "k2"})
    assert bad.status_code == 400
    assert app.api("POST", URL, json=body, headers={"Idempotency-Key": "k2"}).status_code == 202


def test_idempotency_in_flight_is_409(app):
    from ims.jobs import idempotency

    body = _seed(app)
    claim = idempotency.begin(app.svc.db, app.project_id, "busy", idempotency.request_hash(body))
    assert isinstance(claim, idempotency.Claim)
    reply = app.api("POST", URL, json=body, headers={"Idempotency-Key": "busy"})
    assert reply.status_code == 409
    assert 1 <= int(reply.headers["Retry-After"]) <= idempotency.LEASE.total_seconds()  # when the lease ends


def _age_key(app, key: str, seconds: float) -> None:
    """Make the in-flight row of ``key`` look ``seconds`` older (a request that began that long ago)."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from ims.db.tables import idempotency_keys

    with app.svc.db.write() as conn:
        c = idempotency_keys.c
        since = conn.execute(select(c.created_at).where(c.key == key)).scalar_one()
        conn.execute(update(idempotency_keys).where(c.key == key)
                     .values(created_at=since - timedelta(seconds=seconds)))


def test_a_key_left_in_flight_by_a_crashed_request_is_taken_over_after_its_lease(app):
    """The process handling the first request died between ``begin`` and its reply: a retry
    is refused (409, Retry-After) while the key's short lease runs, then takes the key over."""
    from ims.jobs import idempotency

    body = _seed(app)
    crashed = idempotency.begin(app.svc.db, app.project_id, "crash", idempotency.request_hash(body))
    assert isinstance(crashed, idempotency.Claim)
    early = app.api("POST", URL, json=body, headers={"Idempotency-Key": "crash"})
    assert early.status_code == 409 and "Retry-After" in early.headers
    _age_key(app, "crash", idempotency.LEASE.total_seconds() + 1)
    retry = app.api("POST", URL, json=body, headers={"Idempotency-Key": "crash"})
    assert retry.status_code == 202, retry.text
    again = app.api("POST", URL, json=body, headers={"Idempotency-Key": "crash"})
    assert again.status_code == 202 and again.json() == retry.json()
    assert len(app.api("GET", URL).json()["response"]["items"]) == 1


def test_a_request_that_outlived_its_lease_creates_nothing_once_its_key_was_taken_over(app):
    from ims.errors import Conflict
    from ims.jobs import idempotency, submit
    from ims.web.processes import _enqueue

    body = _seed(app)
    slow = idempotency.begin(app.svc.db, app.project_id, "slow", idempotency.request_hash(body))
    _age_key(app, "slow", idempotency.LEASE.total_seconds() + 1)
    taken = app.api("POST", URL, json=body, headers={"Idempotency-Key": "slow"})
    assert taken.status_code == 202
    # The slow request finally gets to create its job: the key is another request's now.
    with pytest.raises(Conflict):
        _enqueue(app.svc, app.project_id, [submit.parse_submission(body, app.svc.settings)], slow)
    assert len(app.api("GET", URL).json()["response"]["items"]) == 1


def test_concurrent_idempotent_requests_make_one_job(app):
    body = _seed(app)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: app.api("POST", URL, json=body, headers={"Idempotency-Key": "c"}),
                                range(8)))
    ok = [r for r in replies if r.status_code == 202]
    assert ok and all(r.status_code in (202, 409) for r in replies)
    assert len({r.json()["response"]["job_id"] for r in ok}) == 1
    assert len(app.api("GET", URL).json()["response"]["items"]) == 1


def test_cancel_list_and_pagination(app):
    ids = [app.api("POST", URL, json=_seed(app)).json()["response"]["job_id"] for _ in range(5)]
    canceled = app.api("POST", f"{URL}/{ids[0]}/cancel")
    assert canceled.status_code == 200 and canceled.json()["response"]["status"] == "canceled"
    assert app.api("POST", f"{URL}/{ids[0]}/cancel").status_code == 409
    seen, cursor = [], None
    while True:
        page = app.api("GET", f"{URL}?limit=2" + (f"&cursor={cursor}" if cursor else "")).json()["response"]
        seen += [j["job_id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    queued = app.api("GET", f"{URL}?status=queued").json()["response"]["items"]
    assert {j["job_id"] for j in queued} == set(ids[1:])
    assert app.api("GET", f"{URL}?status=done").json()["errors"][0]["field"] == "status"


def test_batch(app):
    good = _seed(app)
    items = [good, {**good, "parameters": {"w": "x"}}, {**good, "source_id": "1" * 24}, good]
    reply = app.api("POST", f"{URL}/batch", json={"items": items})
    assert reply.status_code == 200, reply.text
    result = reply.json()["response"]
    assert [i["status_code"] for i in result["items"]] == [202, 400, 404, 202]
    assert result["accepted"] == 2 and result["rejected"] == 2
    assert result["items"][1]["errors"][0]["field"] == "parameters.w"
    assert len(app.api("GET", URL).json()["response"]["items"]) == 2
    too_many = app.api("POST", f"{URL}/batch", json={"items": [good] * 1001})
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["field"] == "items"


def test_other_projects_job_is_404_everywhere(app):
    from ims.manage.keys import create_project

    job_id = app.api("POST", URL, json=_seed(app)).json()["response"]["job_id"]
    with app.svc.db.write() as conn:
        _, other = create_project(conn, "other")
    assert app.api("GET", f"{URL}/{job_id}", key=other).status_code == 404
    assert app.api("POST", f"{URL}/{job_id}/cancel", key=other).status_code == 404
    assert app.api("POST", f"{URL}/{job_id}/run_again", key=other).status_code == 404
    assert app.api("GET", URL, key=other).json()["response"]["items"] == []
    assert app.api("GET", f"{URL}/{job_id}").status_code == 200


def test_run_again_queues_a_new_job_with_the_same_request(app):
    dest = app.api("GET", "/api/v1/destinations").json()["response"]["items"][0]["id"]
    first = app.api("POST", URL, json=_seed(app, parameters={"w": 300, "fm": "webp"}, destination_ids=[dest],
                                          metadata={"order": 7}, destination_object_key="out/a.webp"))
    job_id = first.json()["response"]["job_id"]
    assert app.api("POST", f"{URL}/{job_id}/cancel").status_code == 200

    again = app.api("POST", f"{URL}/{job_id}/run_again")
    assert again.status_code == 202, again.text
    assert again.json()["message"] == "Accepted"
    new_id = again.json()["response"]["job_id"]
    assert new_id != job_id and again.json()["response"]["status"] == "queued"
    old = app.api("GET", f"{URL}/{job_id}").json()["response"]
    new = app.api("GET", f"{URL}/{new_id}").json()["response"]
    assert old["status"] == "canceled" and new["status"] == "queued" and new["attempts"] == 0
    same = ("source_id", "object_key", "destination_object_key", "parameters", "destination_ids", "metadata")
    assert {k: new[k] for k in same} == {k: old[k] for k in same}
    assert new["parameters"] == {"fm": "webp", "w": "300"} and new["metadata"] == {"order": 7}


def test_run_again_follows_the_submission_rules(app):
    dest = app.api("POST", "/api/v1/destinations", json={
        "name": "extra", "kind": "fs", "bucket": "extra", "path": str(app.svc.settings.data_dir / "destinations")})
    assert dest.status_code == 201, dest.text
    dest_id = dest.json()["response"]["id"]
    job_id = app.api("POST", URL, json=_seed(app, destination_ids=[dest_id])).json()["response"]["job_id"]
    assert app.api("DELETE", f"/api/v1/destinations/{dest_id}").status_code == 200
    refused = app.api("POST", f"{URL}/{job_id}/run_again")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "destination_ids"
    assert dest_id in refused.json()["message"]
    assert app.api("POST", f"{URL}/{'f' * 24}/run_again").status_code == 404
