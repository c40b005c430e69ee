"""Mutual aid groups: JOIN by SMS (confirmed once, neutrally), LEAVE and STOP at once; a
broadcast from approved templates in each member's language, only in the group's hours, never
twice, never to one who left; an alert opened during a 500-member broadcast goes first."""

from __future__ import annotations

import calendar
import re
import time

import pytest
from rq import Queue

from gateway import groups, templates
from gateway.groups import GroupError
from gateway.jobs import ALERTS_QUEUE
from gateway.message import HANDED, MessageState
from gateway.usecases.outbox import message_id
from testing.app import (
    GROUP_1,
    GROUP_2,
    ask_for_help,
    coordinator_client,
    form_token,
    sms_from,
    texts_to,
    work,
)
from testing.leaks import assert_no_clear, redis_dump

pytestmark = pytest.mark.live

LEVAKAND = "4107"  # levakand-women in the example directory, hours [9, 18]
MEMBERS = [f"+9929000096{n:02d}" for n in range(10)]


def local(hour: int, days: int = 0) -> float:
    """Today's (or a later day's) hour in Tajikistan (UTC+5), as a unix time."""
    today = time.gmtime(time.time() + 5 * 3600)
    midnight = calendar.timegm((today.tm_year, today.tm_mon, today.tm_mday, 0, 0, 0))
    return midnight - 5 * 3600 + (days * 24 + hour) * 3600


def clock_at(app, when: float) -> None:
    """The groups' clock, in the app and in the worker's jobs, stopped at `when`."""
    from workers import jobs

    for context in (app.extensions["hamdam"], jobs._context()):
        context.groups.clock = lambda: when


def test_join_by_sms_is_confirmed_once_and_leave_and_stop_end_it(app, twilio_fake, caplog):
    context = app.extensions["hamdam"]
    store = context.store
    sms_from(app, MEMBERS[0], f"ДОХИЛ {LEVAKAND}")
    sms_from(app, MEMBERS[0], f"join {LEVAKAND}")  # again: no second confirmation
    sms_from(app, MEMBERS[1], "JOIN 9999")  # no such group: nothing is sent
    work(app)
    joined = groups.confirmation("tg")
    assert texts_to(twilio_fake, MEMBERS[0]) == [joined]
    assert texts_to(twilio_fake, MEMBERS[1]) == []
    assert store.members.groups(MEMBERS[0]) == ["levakand-women"]
    assert store.members.count("levakand-women") == 1
    sms_from(app, MEMBERS[0], "JOIN 4108")
    sms_from(app, MEMBERS[0], "LEAVE 4107")
    assert store.members.groups(MEMBERS[0]) == ["vakhsh-circle"]
    sms_from(app, MEMBERS[0], "STOP")
    assert store.members.groups(MEMBERS[0]) == []
    events = [e["event"] for e in store.audit.trail()]
    assert events.count("member_joined") == 2 and events.count("member_left") == 2
    assert "join_unknown_code" in events
    for phone in MEMBERS[:2]:
        assert_no_clear(redis_dump(store.redis), phone)
        assert_no_clear(caplog.text, phone)


def test_a_member_and_a_survivor_with_the_same_number_are_not_linked(app):
    store = app.extensions["hamdam"].store
    ask_for_help(app, MEMBERS[2])
    sms_from(app, MEMBERS[2], f"JOIN {LEVAKAND}")
    digest = store.members.digest(MEMBERS[2])
    assert digest not in store.vault.digests(MEMBERS[2])  # her profile's keyed hash differs
    assert not [
        k for k in store.redis.scan_iter(f"*{store.vault.digest(MEMBERS[2])}*") if b"member" in k
    ]


def test_a_broadcast_waits_for_the_groups_hours_goes_once_in_each_language_and_skips_who_left(
    app, twilio_fake
):
    context = app.extensions["hamdam"]
    for phone, word in zip(MEMBERS[3:6], ("ДОХИЛ", "ВСТУПИТЬ", "JOIN"), strict=True):
        sms_from(app, phone, f"{word} {LEVAKAND}")
    work(app)
    draft = groups.draft("meeting", "thu", "14:00")
    clock_at(app, local(23))  # at night
    preview = context.groups.preview("levakand-women", draft)
    assert preview.recipients == 3 and preview.languages == {"tg": 1, "ru": 1, "en": 1}
    assert preview.send_at == local(9, days=1) and preview.segments == 3
    broadcast = context.groups.send("levakand-women", draft, by="dilnoza")
    sms_from(app, MEMBERS[5], "LEAVE")  # she left during the night
    work(app, scheduled=f"bcast-{broadcast}-1")  # run too early: it waits again
    assert all(len(texts_to(twilio_fake, p)) == 1 for p in MEMBERS[3:6])  # joined only
    clock_at(app, local(9, days=1) + 60)  # morning
    work(app, scheduled=f"bcast-{broadcast}-2")
    work(app)
    assert texts_to(twilio_fake, MEMBERS[3])[-1] == groups.render(draft, "tg")
    assert texts_to(twilio_fake, MEMBERS[4])[-1] == "Встреча: четверг, 14:00, на обычном месте."
    assert len(texts_to(twilio_fake, MEMBERS[5])) == 1  # her confirmation, nothing after LEAVE
    figures = context.groups.figures(broadcast)
    assert figures[MessageState.DROPPED] == 1 and sum(figures.values()) == 3
    context.groups.pump(broadcast, 9)  # a pump run again: nothing twice
    work(app)
    assert len(texts_to(twilio_fake, MEMBERS[3])) == 2


def test_only_approved_neutral_words_reach_a_group():
    with pytest.raises(GroupError, match="not one of"):
        groups.draft("party", "mon", "10:00")
    with pytest.raises(GroupError, match="HH:MM"):
        groups.draft("meeting", "mon", "25:00")
    with pytest.raises(GroupError, match="must not name: приют"):
        groups.draft(groups.FREE, text="Собрание в приюте в среду")
    with pytest.raises(GroupError, match="must not name: nur"):
        groups.draft(groups.FREE, text="Nur meets on Friday", extra=["Nur women's network"])
    assert groups.problems() == []  # every template: one segment, no word of NEVER


def test_an_alert_opened_during_a_500_member_broadcast_goes_first(app, twilio_fake):
    context = app.extensions["hamdam"]
    for n in range(500):
        context.groups.join(f"+99290000{80000 + n}", LEVAKAND, "tg", how="console:test")
    work(app)  # their confirmations (they joined over weeks)
    twilio_fake.sent.clear()
    clock_at(app, local(10))
    draft = groups.draft("course", "sat", "10:00")
    broadcast = context.groups.send("levakand-women", draft, by="dilnoza")
    work(app, max_jobs=60)  # the broadcast is under way
    before = len(twilio_fake.sent)
    assert 0 < before < 500
    ref = ask_for_help(app, "+992900009690", district="Vakhsh")
    work(app)
    sent = [(m.to, m.body) for m in twilio_fake.sent]
    first_alert = next(
        i for i, (to, body) in enumerate(sent) if to == GROUP_1 and f"#{ref}" in body
    )
    assert first_alert - before <= 2 * groups_batch()  # a few sends at most, never the rest
    assert sum(1 for _, body in sent if body == groups.render(draft, "tg")) == 500
    assert (
        sum(n for state, n in context.groups.figures(broadcast).items() if state in HANDED) == 500
    )


def groups_batch() -> int:
    from gateway.usecases.groups import BATCH

    return BATCH


def test_a_coordinator_adds_a_member_previews_and_sends_on_the_console(app, twilio_fake):
    # In the group's hours, and not after now: the figures below count up to the end of today
    # (UTC), and from 19:00 UTC today's 10:00 in Tajikistan is tomorrow's.
    morning = local(10) if local(10) <= time.time() else local(10, days=-1)
    clock_at(app, morning)
    nur = coordinator_client(app)
    listed = nur.get("/console/groups").get_data(as_text=True)
    assert "Levakand women" in listed and "Khujand group" not in listed
    assert nur.get("/console/groups/khujand-group").status_code == 404  # another organisation's
    page = nur.get("/console/groups/levakand-women").get_data(as_text=True)
    token = form_token(page)
    member = {"csrf": token, "phone": "+992 900 009 650", "lang": "ru"}
    refused = nur.post("/console/groups/levakand-women/members", data=member)
    assert refused.status_code == 400 and "she must agree to join" in refused.get_data(as_text=True)
    added = nur.post("/console/groups/levakand-women/members", data={**member, "agreed": "yes"})
    assert "said=member" in added.headers["Location"]
    clock_at(app, morning)
    draft = {"csrf": token, "template": "meeting", "day": "fri", "time": "15:30"}
    own = nur.post(
        "/console/groups/levakand-women/preview", data={**draft, "template": "free", "text": "Hi"}
    )
    assert own.status_code == 400 and "only an admin" in own.get_data(as_text=True)
    preview = nur.post("/console/groups/levakand-women/preview", data=draft)
    shown = preview.get_data(as_text=True)
    assert preview.status_code == 200 and 'class="recipients">1<' in shown
    assert "Встреча: пятница, 15:30, на обычном месте." in shown and "Send to 1 members" in shown
    sent = nur.post("/console/groups/levakand-women/send", data=draft)
    assert "said=sent" in sent.headers["Location"]
    work(app)
    assert texts_to(twilio_fake, "+992900009650") == [
        groups.confirmation("ru"),
        "Встреча: пятница, 15:30, на обычном месте.",
    ]
    page = nur.get("/console/groups/levakand-women").get_data(as_text=True)
    assert "queued 1" in page  # its delivery figures
    events = {e["event"]: e for e in app.extensions["hamdam"].store.audit.trail()}
    assert events["member_joined"]["how"] == "console:dilnoza"
    assert events["broadcast_queued"]["by"] == "dilnoza"
    figures = nur.get("/console/reports").get_data(as_text=True)
    assert 'members of Levakand women&#39;s group</td><td class="n">&lt;5<' in figures
    assert 'messages to groups</td><td class="n">1<' in figures


def test_a_sender_writes_to_the_group_by_sms_with_a_preview_and_yes(app, twilio_fake):
    for phone in MEMBERS[6:8]:
        sms_from(app, phone, "JOIN 4108")  # vakhsh-circle, whose sender is GROUP_1
    clock_at(app, local(11))
    sms_from(app, GROUP_2, "MEET 4108 Friday 14:00")  # not one of its senders
    sms_from(app, GROUP_1, "MEET 4108 someday")
    sms_from(app, GROUP_1, "ВОХӮРӢ 4108 ҷумъа 14:00")
    work(app)
    said = texts_to(twilio_fake, GROUP_1)
    assert said[0] == templates.render("meet_how", "tg")
    assert said[1].startswith("Гурӯҳи 4108: 2 аъзо, 2 SMS") and "ВОХӮРӢ 4108 ҲА" in said[1]
    assert texts_to(twilio_fake, GROUP_2) == [templates.render("unclear", "tg")]
    assert len(texts_to(twilio_fake, MEMBERS[6])) == 1  # nothing before the YES
    sms_from(app, GROUP_1, "ВОХӮРӢ 4108 ҲА")
    sms_from(app, GROUP_1, "MEET 4108 YES")  # a second YES sends nothing more
    work(app)
    meeting = "Meeting on Friday at 14:00, at the usual place."  # JOIN: in English
    for phone in MEMBERS[6:8]:
        assert texts_to(twilio_fake, phone) == [groups.confirmation("en"), meeting]
    assert templates.render("meet_sent", "tg", code="4108", count="2") in texts_to(
        twilio_fake, GROUP_1
    )


def test_a_send_posted_twice_goes_once_and_no_rate_key_ties_a_member_to_her_number(
    app, twilio_fake
):
    context = app.extensions["hamdam"]
    store = context.store
    ask_for_help(app, MEMBERS[8])  # she is a survivor with a case, too
    sms_from(app, MEMBERS[8], f"JOIN {LEVAKAND}")
    clock_at(app, local(10))
    nur = coordinator_client(app)
    token = form_token(nur.get("/console/groups/levakand-women").get_data(as_text=True))
    draft = {"csrf": token, "template": "cancelled", "day": "mon"}
    page = nur.post("/console/groups/levakand-women/preview", data=draft).get_data(as_text=True)
    broadcast = re.search(r'name="broadcast" value="([0-9a-f]{12})"', page)[1]
    for _ in range(2):  # a double click
        nur.post("/console/groups/levakand-women/send", data={**draft, "broadcast": broadcast})
    work(app)
    cancelled = groups.render(groups.draft("cancelled", "mon"), "en")
    assert texts_to(twilio_fake, MEMBERS[8]).count(cancelled) == 1
    hers = store.vault.digest(MEMBERS[8])
    assert not [k for k in store.redis.scan_iter(f"hd:rate:*{hers}*") if b":out:" in k]
    assert not [k for k in store.redis.scan_iter(f"hd:rate:sms:{hers}*")]


def test_a_member_added_at_night_is_confirmed_in_the_groups_hours(app, twilio_fake):
    context = app.extensions["hamdam"]
    clock_at(app, local(23))
    context.groups.add("levakand-women", MEMBERS[9], "ru", True, by="dilnoza")
    work(app)
    assert texts_to(twilio_fake, MEMBERS[9]) == []
    digest = context.store.members.digest_of(MEMBERS[9])
    mid = message_id("levakand-women", groups.JOINED, digest)
    work(app, scheduled=f"send-{mid}")  # the morning
    assert texts_to(twilio_fake, MEMBERS[9]) == [groups.confirmation("ru")]


def test_a_broadcast_whose_pump_jobs_were_lost_is_resumed_by_the_clock(app, twilio_fake):
    context = app.extensions["hamdam"]
    for phone in MEMBERS[:7]:
        context.groups.join(phone, LEVAKAND, "en", how="console:test")
    clock_at(app, local(10))
    work(app)
    broadcast = context.groups.send("levakand-women", groups.draft("course", "sun", "11:00"), "x")
    work(app, max_jobs=1)  # one pump run: five sends queued, the next run queued behind them
    queue = Queue(ALERTS_QUEUE, connection=context.store.redis)
    queue.remove(f"bcast-{broadcast}-2")  # its chain is lost (retries spent in an outage)
    work(app)
    course = groups.render(groups.draft("course", "sun", "11:00"), "en")
    assert sum(course in texts_to(twilio_fake, p) for p in MEMBERS[:7]) == 5
    assert context.groups.resume() == 0  # it ran a moment ago: not stalled yet
    clock_at(app, local(10) + 3600)
    assert context.groups.resume() == 1
    work(app)
    assert all(texts_to(twilio_fake, p).count(course) == 1 for p in MEMBERS[:7])
    assert context.groups.resume() == 0  # nothing pending any more
