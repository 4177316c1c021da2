"""What a newcomer sends the background API (issue 10): curl's form-labelled JSON, SDK parameters."""

from __future__ import annotations

import json

URL = "/api/processes/v1/background_processes"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _source_id(app):
    return app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]


def _seed(app) -> dict:
    return {"source_id": _source_id(app), "object_key": "000/018/083/18083.jpg",
            "parameters": {"w": 1600, "h": 1600}, "destination_object_key": "000/018/083/18083.jpg"}


def test_json_sent_as_a_form_gets_the_content_type_hint(app):
    # exactly what `curl -d '{…}' URL` sends: the JSON text as is, labelled as a form
    reply = app.api("POST", URL, content=json.dumps(_seed(app)).encode(), headers=dict(FORM))

    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert error["errors"][0]["field"] == "content-type"
    assert "content-type: application/json" in error["message"] and "curl" in error["message"]
    assert "unknown field" not in error["message"]
    assert app.api("GET", URL).json()["response"]["items"] == []  # no job


def test_json_with_ampersands_and_equals_signs_sent_as_a_form_gets_the_hint_too(app):
    body = {**_seed(app), "webhook_url": "https://hooks.example.com/in?a=1&b=2", "metadata": {"q": "x=y"}}
    reply = app.api("POST", f"{URL}/batch", content=json.dumps({"items": [body]}), headers=dict(FORM))

    assert reply.status_code == 400, reply.text
    assert reply.json()["errors"][0]["field"] == "content-type"


def test_a_real_form_body_still_works_and_a_broken_one_still_names_its_field(app):
    sid = _source_id(app)
    good = app.api("POST", URL, content=f"source_id={sid}&object_key=a.jpg&parameters[w]=300", headers=dict(FORM))
    assert good.status_code == 202, good.text

    not_json = app.api("POST", URL, content=b'{"source_id": oops', headers=dict(FORM))
    assert not_json.status_code == 400
    assert not_json.json()["errors"][0]["field"] == '{"source_id": oops'


def test_the_same_json_with_its_content_type_is_accepted(app):
    reply = app.api("POST", URL, content=json.dumps(_seed(app)), headers={"content-type": "application/json"})

    assert reply.status_code == 202, reply.text


def test_ignored_names_are_accepted_and_dropped_in_background_parameters(app):
    body = {**_seed(app), "parameters": {"w": 40, "ixlib": "python-4.0.0", "ixid": "M3wx"}}
    reply = app.api("POST", URL, json=body)

    assert reply.status_code == 202, reply.text
    job = app.api("GET", f"{URL}/{reply.json()['response']['job_id']}").json()["response"]
    assert job["parameters"] == {"w": "40"}

    refused = app.api("POST", URL, json={**_seed(app), "parameters": {"w": 40, "utm_source": "x"}})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "parameters.utm_source"
