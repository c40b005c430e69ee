"""Operator login: throttled per source and per user name, locked, audited, unlocked by command."""

from __future__ import annotations

import base64
import math
import time

from gateway import auth
from gateway.store.keys import AUDIT

WRONG = "guess-guess-guess"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def get(client, user: str, password: str, source: str = "198.51.100.7"):
    return client.get(
        "/metrics", headers=basic(user, password), environ_base={"REMOTE_ADDR": source}
    )


def failures(app) -> list[dict[str, str]]:
    trail = app.extensions["hamdam"].store.audit.trail()
    return [e for e in trail if e["event"] == "operator_login_failed"]


def test_two_thousand_guesses_are_held_back_and_then_the_right_password_waits(app):
    settings = app.extensions["hamdam"].settings
    client = app.test_client()
    started = time.monotonic()
    answers = [get(client, "operator", f"{WRONG}-{n}").status_code for n in range(2000)]
    took = time.monotonic() - started
    assert answers[:3] == [401, 401, 401]  # three typos are free
    assert set(answers[3:]) == {429}
    # Only the passwords actually checked were counted, and each was audited: the fourth, then
    # one more each time a block (2 s, then 4 s, ...) ran out during the run.
    counts = [int(e["count"]) for e in failures(app)]
    assert counts == list(range(1, len(counts) + 1))
    assert 4 <= len(counts) <= 4 + math.log2(took + 2), (counts, took)
    refused = get(client, "operator", WRONG)
    right = get(client, "operator", settings.operator_password)
    assert refused.status_code == right.status_code == 429
    assert int(right.headers["Retry-After"]) >= 1
    assert "flask operators unlock" in right.get_data(as_text=True)


def test_each_failure_is_audited_with_user_name_source_hash_and_count(app, redis_client):
    client = app.test_client()
    get(client, "operator", WRONG)
    get(client, "someone-else", WRONG, source="198.51.100.8")
    first, second = failures(app)
    vault = app.extensions["hamdam"].store.vault
    assert first["user"] == "operator" and first["count"] == "1"
    assert first["source"] == auth.subjects(vault, source="198.51.100.7")["source"]
    assert second["user"].startswith("other:") and "someone" not in second["user"]
    assert second["source"] != first["source"]
    dump = b"".join(v for _, row in redis_client.xrange(AUDIT) for v in row.values())
    assert b"198.51.100" not in dump and b"someone-else" not in dump


def test_a_source_is_throttled_whatever_user_names_it_tries(app):
    client = app.test_client()
    answers = [get(client, f"user{n}", WRONG).status_code for n in range(5)]
    assert answers == [401, 401, 401, 429, 429]
    assert get(client, "user9", WRONG, source="198.51.100.99").status_code == 401


def test_a_user_name_is_throttled_from_every_source(app):
    settings = app.extensions["hamdam"].settings
    client = app.test_client()
    answers = [get(client, "operator", WRONG, f"203.0.113.{n}").status_code for n in range(5)]
    assert answers == [401, 401, 401, 429, 429]
    right = get(client, "operator", settings.operator_password, source="192.0.2.1")
    assert right.status_code == 429


def test_delays_grow_then_lock_for_an_hour(app):
    store = app.extensions["hamdam"].store
    counted = auth.subjects(store.vault, "operator", "198.51.100.7")
    now, waits = 1_000_000.0, []
    for _ in range(12):
        assert store.logins.wait(counted, now) == 0
        _, wait = store.logins.failed(counted, now, auth.delay)
        assert store.logins.wait(counted, now + wait - 0.5) > 0 or wait == 0
        waits.append(wait)
        now += wait
    assert waits == [0, 0, 0, 2, 4, 8, 16, 32, 64, 3600, 3600, 3600]


def test_unlock_command_lifts_the_lock(app):
    settings = app.extensions["hamdam"].settings
    client = app.test_client()
    for _ in range(4):
        get(client, "operator", WRONG)
    assert get(client, "operator", settings.operator_password).status_code == 429
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["operators", "unlock", "--source", "198.51.100.7", "--by", "tester"]
    )
    assert result.exit_code == 0, result.output
    assert "unlocked user operator and 1 sources" in result.output
    assert get(client, "operator", settings.operator_password).status_code == 200
    trail = app.extensions["hamdam"].store.audit.trail()
    assert [e["by"] for e in trail if e["event"] == "operator_login_unlocked"] == ["tester"]


def test_unlock_all(app):
    client = app.test_client()
    for n in range(4):
        get(client, f"user{n}", WRONG)
    assert get(client, "operator", WRONG).status_code == 429
    result = app.test_cli_runner().invoke(args=["operators", "unlock", "--all"])
    assert result.exit_code == 0 and "forgot every failed operator login" in result.output
    assert get(client, "operator", WRONG).status_code == 401
