"""The app over HTTP: 503 when Redis is gone (the rest of /healthz: test_health.py)."""

from __future__ import annotations

from gateway.app import create_app
from gateway.localredis import free_port
from testing.env import make_env


def test_healthz_is_503_when_redis_is_down(tmp_path, redis_url):
    from config.settings import Settings

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(Settings.from_env(make_env(dead, tmp_path)))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "redis": {"reachable": False}}


def test_unknown_path_is_404(client):
    assert client.get("/nope").status_code == 404
