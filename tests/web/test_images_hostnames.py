"""The service's own hosts are never routed by hostname (issue 9 item 4) — SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import insert

from ims.db.tables import source_hostnames


def test_a_stored_claim_on_the_services_own_hosts_is_ignored(make_app, kit):
    """Rows stored before claims were refused must not hijack the service's own hosts."""
    app = make_app(public_hosts=("images.example.org",))
    kit.put(kit.default_dir(app), "a.png", kit.image(40, 20))
    hijacker, directory = kit.fs_source(app, "b")
    kit.put(directory, "default/a.png", kit.image(80, 80))
    with app.svc.db.write() as conn:
        for host in ("127.0.0.1", "localhost", "app.localhost", "images.example.org", "[::1]", "127.1"):
            conn.execute(insert(source_hostnames).values(hostname=host, source_id=hijacker["id"]))

    for host in ("127.0.0.1:8080", "localhost", "app.localhost:80", "Images.Example.org.", "[::1]:8080", "127.1"):
        reply = app.client.get("/default/a.png", headers={"host": host})
        assert reply.status_code == 200, (host, reply.text)
        assert kit.decode(reply).width == 40, host  # the default source's image, not b's


def test_a_request_reads_the_configuration_version_once(make_app, kit, monkeypatch):
    """By hostname (not bound), then by name: both lookups share one version read (a round trip
    on PostgreSQL), and a hit answers from the cache."""
    app = make_app()
    kit.put(kit.default_dir(app), "a.png", kit.image(40, 20))
    assert app.client.get("/default/a.png", headers={"host": "img.example.com"}).status_code == 200  # fills it
    version = app.svc.lookup._version
    reads = []
    real = version.current

    async def counted(**kw):
        reads.append(1)
        return await real(**kw)

    monkeypatch.setattr(version, "current", counted)
    assert app.client.get("/default/a.png?w=10", headers={"host": "img.example.com"}).status_code == 200
    assert len(reads) == 1
