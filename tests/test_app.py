"""The app over HTTP: health with a real Redis, and 503 when Redis is gone."""

from __future__ import annotations

from gateway.app import create_app
from gateway.localredis import free_port
from tests.conftest import make_env


def test_healthz_reports_redis_and_queues(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["redis"] == {"reachable": True}
    assert body["queues"]["alerts"] == {"queued": 0, "started": 0, "scheduled": 0, "failed": 0}


def test_healthz_is_503_when_redis_is_down(tmp_path, redis_url):
    from config.settings import Settings

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(Settings.from_env(make_env(dead, tmp_path)))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "redis": {"reachable": False}}


def test_unknown_path_is_404(client):
    assert client.get("/nope").status_code == 404
