"""Drill: delivery status callbacks arrive out of order; a message's state never goes back."""

from __future__ import annotations

import random
import threading
from urllib.parse import urlsplit

import pytest
import requests
from twilio.request_validator import RequestValidator

from bench.common import TWILIO
from gateway.channels.twilio import STATUS
from gateway.message import RANK as STATE_RANK
from testing.drill import DrillGateway, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(240)]

CASES = 4  # two alerts each
ORDERED = ["queued", "sending", "sent", "delivered"]


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "gw")
    yield running
    running.stop()


def callback(gateway, sent, status: str, by_sid: bool) -> int:
    """POST one signed status callback for a sent message, as Twilio would; the HTTP status."""
    url = sent.extra["StatusCallback"]
    if by_sid:
        url = url.split("?", 1)[0]  # found through MessageSid instead of our ?m=
    form = {
        "MessageSid": sent.id,
        "MessageStatus": status,
        "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"],
        "To": sent.to,
    }
    signature = RequestValidator(TWILIO["TWILIO_AUTH_TOKEN"]).compute_signature(url, form)
    parts = urlsplit(url)
    target = gateway.base + parts.path + (f"?{parts.query}" if parts.query else "")
    return requests.post(
        target, data=form, headers={"X-Twilio-Signature": signature}, timeout=10
    ).status_code


def test_state_never_moves_backwards(gateway, drill_redis, report):
    for i in range(CASES):
        gateway.ask_for_help(f"+99290010{i:04d}", index=i)
    assert wait_until(lambda: len(gateway.twilio.sent) >= 2 * CASES, 60), "alerts not sent"
    sent = list(gateway.twilio.sent)
    client = drill_redis.client()

    def state(message) -> str:
        mid = message.extra["StatusCallback"].split("?m=", 1)[1]
        return client.hget(f"hd:msg:{mid}", "state").decode()

    # The worker moves a message to 'queued' right after the provider answers; wait for it.
    wait_until(lambda: all(state(m) != "new" for m in sent), 30)
    rng = random.Random(20261122)
    backwards, answers, orders = [], [], []
    for n, message in enumerate(sent[:-1]):
        order = ORDERED[:]
        rng.shuffle(order)
        orders.append(order)
        best = STATE_RANK[state(message)]
        for status in order:
            answers.append(callback(gateway, message, status, by_sid=n % 2 == 1))
            now = STATE_RANK[state(message)]
            best = max(best, STATE_RANK[STATUS[status]])
            if now != best:
                backwards.append((order, status, state(message)))
    # The last one gets every status at once, from as many threads.
    burst = sent[-1]
    statuses = ORDERED + ["undelivered", "sent", "queued"]
    gate = threading.Barrier(len(statuses))

    def fire(status):
        gate.wait(10)
        answers.append(callback(gateway, burst, status, by_sid=False))

    threads = [threading.Thread(target=fire, args=(s,), daemon=True) for s in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    final = state(burst)
    states = sorted({state(m) for m in sent[:-1]})
    client.close()
    report(f"{len(sent) - 1} messages each got {len(ORDERED)} callbacks in a shuffled order")
    report(f"e.g. orders: {[' > '.join(o) for o in orders[:3]]}")
    report(
        f"final states: {states}; steps where the state was not the furthest seen: {len(backwards)}"
    )
    report(f"burst of {len(statuses)} concurrent callbacks on one message ended '{final}'")
    report(f"HTTP answers: {sorted(set(answers))}")
    assert set(answers) == {204}
    assert not backwards, backwards[:3]
    assert states == ["delivered"]
    assert STATE_RANK[final] == STATE_RANK["delivered"]  # delivered or undelivered: both final
