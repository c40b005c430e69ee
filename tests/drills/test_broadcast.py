"""Drill: a 200-member group broadcast on the Procfile's processes while help requests come in
and the first route answers 500: every member gets it once, every alert arrives, and each alert
reaches its responders before the broadcast is done."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from config.settings import Settings
from gateway.compose import build
from testing.app import add_operator, console_session, form_token
from testing.drill import DrillGateway, sent_about, survivor, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(600)]

MEMBERS = [f"+9929000{70000 + n}" for n in range(200)]
CASES = 5
GROUP = {"id": "drill-group", "name": "Drill group", "organisation": "bench", "code": "909",
         "hours": [0, 24]}  # fmt: skip
COURSE = "Course on Saturday at 10:00. Everyone is welcome."
OUTAGE = 8  # seconds the first route answers 500 once the broadcast starts


def test_a_broadcast_during_an_outage_goes_once_and_never_ahead_of_an_alert(
    tmp_path, drill_redis, report
):
    gateway = DrillGateway(
        drill_redis.url, tmp_path / "gw", android=True, groups=(GROUP,), SEND_RATE="50"
    )
    try:
        for n, phone in enumerate(MEMBERS):
            form = {"MessageSid": f"SMjoin{n}", "From": survivor(phone), "To": "+15005550006"}
            assert gateway.twilio_sms({**form, "Body": "JOIN 909"}) == 200

        def delivered(fake) -> list:
            with fake.lock:
                return [s for s in fake.sent if s.to in set(MEMBERS)]

        def everywhere() -> list:
            return delivered(gateway.twilio) + delivered(gateway.android)

        assert wait_until(lambda: len(everywhere()) >= len(MEMBERS), 120), "confirmations"
        context = build(Settings.from_env(gateway.env))
        add_operator(context, "malika", "bench")
        with console_session(gateway.base, "malika") as http:
            url = f"{gateway.base}/console/groups/drill-group"
            token = form_token(http.get(url, timeout=10).text)
            form = {"csrf": token, "template": "course", "day": "sat", "time": "10:00"}
            gateway.twilio.fail_next(500, {"code": 20500}, times=5000)  # the outage begins
            began = time.monotonic()
            sent = http.post(f"{url}/send", data=form, allow_redirects=False, timeout=10)
            assert sent.status_code == 302
        refs = [
            gateway.ask_for_help(survivor(f"+9929000750{n:02d}"), index=n) for n in range(CASES)
        ]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - began)))
        with gateway.twilio.lock:
            gateway.twilio.failures.clear()  # the outage ends

        def course() -> list:
            return [s for s in everywhere() if s.body == COURSE]

        assert wait_until(lambda: len(course()) >= len(MEMBERS), 300, 1.0), "the broadcast"
        done = max(s.at for s in course())

        def alerts(ref: str) -> list:
            return sent_about(gateway.twilio, ref) + sent_about(gateway.android, ref)

        assert wait_until(lambda: all(alerts(ref) for ref in refs), 60), "an alert never came"
        time.sleep(3)  # a second copy would come now
        copies = Counter(s.to for s in course())
        first_alert = {ref: min(s.at for s in alerts(ref)) for ref in refs}
        on_android = {id(s) for s in delivered(gateway.android)}
        routes = Counter("android" if id(s) in on_android else "twilio" for s in course())
        duplicates = sum(n - 1 for n in copies.values())
        report(f"{len(MEMBERS)} members joined by SMS; one course notice; {CASES} help requests")
        report(f"first route answered 500 for {OUTAGE} s: the notice went by {dict(routes)}")
        report(
            f"members reached: {len(copies)}, duplicates: {duplicates}, "
            f"lost: {len(set(MEMBERS) - set(copies))}"
        )
        ahead = min(done - t for t in first_alert.values())
        report(f"alerts: all {CASES} arrived, each at least {ahead:.1f} s before the notice's last")
        assert set(copies) == set(MEMBERS) and duplicates == 0
        assert ahead > 0
    finally:
        gateway.stop()
