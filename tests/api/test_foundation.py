"""Bootstrap, auth and tenancy, health and the OpenAPI document — on SQLite and PostgreSQL."""

from ims.bootstrap import bootstrap
from tests.support.app import start_app, app_settings


def test_first_start_creates_the_defaults(app, tmp_path):
    sources = app.api("GET", "/api/v1/sources").json()["response"]["items"]
    assert [(s["name"], s["kind"], s["access"]) for s in sources] == [("default", "fs", "public")]
    assert sources[0]["path"] == str((tmp_path / "sources" / "default").resolve())
    dests = app.api("GET", "/api/v1/destinations").json()["response"]["items"]
    assert [(d["name"], d["kind"], d["bucket"]) for d in dests] == [("default", "fs", "local")]
    assert (tmp_path / "destinations" / "default").is_dir()


def test_second_start_changes_nothing(app):
    before = app.api("GET", "/api/v1/sources").json()
    assert bootstrap(app.svc.db, app.svc.settings, app.svc.sealer) is None
    assert app.api("GET", "/api/v1/sources").json() == before
    assert len(app.api("GET", "/api/v1/api_keys").json()["response"]["items"]) == 1


def test_generated_key_when_no_bootstrap_key(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url, bootstrap_api_key=None))
    try:
        assert running.key.startswith("ims_") and len(running.key) >= 4 + 43
        assert running.api("GET", "/api/v1/sources").status_code == 200
    finally:
        running.close()


def test_missing_wrong_and_revoked_keys_are_401(app):
    missing = app.api("GET", "/api/v1/sources", key=None)
    assert missing.status_code == 401
    assert missing.json()["errors"] == [{"field": "x-api-key", "message": "the x-api-key header is required"}]
    wrong = app.api("GET", "/api/v1/sources", key="ims_nope")
    assert wrong.status_code == 401 and "not valid" in wrong.json()["message"]

    second = app.api("POST", "/api/v1/api_keys", json={"name": "ci"}).json()["response"]
    assert app.api("GET", "/api/v1/sources", key=second["key"]).status_code == 200
    assert app.api("DELETE", f"/api/v1/api_keys/{second['id']}").status_code == 200
    revoked = app.api("GET", "/api/v1/sources", key=second["key"])
    assert revoked.status_code == 401 and "revoked" in revoked.json()["message"]


def test_keys_are_stored_only_as_hashes(app):
    from sqlalchemy import select

    from ims.db.tables import api_keys

    created = app.api("POST", "/api/v1/api_keys", json={}).json()["response"]
    with app.svc.db.read() as conn:
        stored = conn.execute(select(api_keys)).mappings().all()
    assert all(created["key"] not in str(dict(row).values()) for row in stored)
    listed = app.api("GET", "/api/v1/api_keys").json()["response"]["items"]
    assert all("key" not in item for item in listed)


def test_last_active_key_cannot_be_revoked(app):
    only = app.api("GET", "/api/v1/api_keys").json()["response"]["items"][0]
    reply = app.api("DELETE", f"/api/v1/api_keys/{only['id']}")
    assert reply.status_code == 409
    assert app.api("GET", "/api/v1/sources").status_code == 200


def test_another_projects_objects_are_404(app):
    from ims.manage.keys import create_project

    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    mine = {
        "sources": app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"],
        "destinations": app.api("GET", "/api/v1/destinations").json()["response"]["items"][0]["id"],
        "webhook_endpoints": app.api(
            "POST", "/api/v1/webhook_endpoints", json={"url": "https://1.1.1.1/hook"}
        ).json()["response"]["id"],
        "api_keys": app.api("GET", "/api/v1/api_keys").json()["response"]["items"][0]["id"],
    }
    for kind, object_id in mine.items():
        for method, body in (("GET", None), ("PATCH", {}), ("DELETE", None)):
            if kind == "api_keys" and method != "DELETE":
                continue
            reply = app.api(method, f"/api/v1/{kind}/{object_id}", key=other_key, json=body)
            assert reply.status_code == 404, (kind, method, reply.text)
            assert reply.json()["status_code"] == 404
    assert app.api("GET", "/api/v1/sources", key=other_key).json()["response"]["items"] == []
    # and nothing was changed or deleted by those calls
    assert app.api("GET", f"/api/v1/sources/{mine['sources']}").status_code == 200


def test_health_and_readiness(app):
    assert app.client.get("/healthz").json() == {"status": "ok"}
    assert app.client.get("/readyz").json() == {"status": "ok", "database": "ok"}


def test_openapi_describes_every_route(app):
    doc = app.client.get("/openapi.json").json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    for route in app.client.app.routes:
        methods = getattr(route, "methods", None) or set()
        if getattr(route, "include_in_schema", False):
            for method in methods - {"HEAD"}:
                assert (route.path, method) in documented
    assert ("/api/v1/sources", "POST") in documented


def test_metrics(app, tmp_path):
    import pyvips

    pyvips.Image.black(8, 8).jpegsave(str(tmp_path / "sources" / "default" / "m.jpg"))
    assert app.client.get("/default/m.jpg?w=4").status_code == 200
    assert app.client.get("/default/missing.jpg").status_code == 404
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    app.api("POST", "/api/processes/v1/background_processes", json={"source_id": source_id, "object_key": "m.jpg"})
    text = app.client.get("/metrics").text
    assert 'ims_http_requests_total{method="GET",route="/{path:path}",status="200"} 1' in text
    assert 'ims_http_requests_total{method="GET",route="/{path:path}",status="404"} 1' in text
    assert 'ims_http_requests_total{method="POST",route="/api/processes/v1/background_processes",status="202"} 1' \
        in text
    assert 'ims_jobs{status="queued"} 1' in text
    assert 'ims_render_seconds_count{format="jpg"} 1' in text
    assert 'ims_result_cache_total{result="miss"} 1' in text  # the 404 never reached the cache
