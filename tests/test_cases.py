"""The case domain: routing by consent, vocabularies, transitions, references."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest

from gateway import cases


@dataclass(frozen=True)
class R:
    id: str
    role: str
    tier: int


PEOPLE = [
    R("g1", "group", 1),
    R("g2", "group", 1),
    R("m1", "mahalla", 1),
    R("c2", "group", 2),
    R("p3", "police", 3),
]
DUTY = R("duty", "duty", 4)


def case(**answers) -> cases.Case:
    base = {"kind": "legal", "district": "vakhsh", "consent": "group", "call": "day"}
    return cases.new_case(
        id="c", ref="4821", answers={**base, **answers}, channel="ussd", lang="tg", now=1.0
    )


def ids(plan) -> list[list[str]]:
    return [[r.id for r in tier] for tier in plan]


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ("group", [["g1", "g2"], ["c2"], ["duty"]]),
        ("mahalla", [["g1", "g2", "m1"], ["c2"], ["duty"]]),
        ("police", [["g1", "g2", "m1"], ["c2"], ["p3"], ["duty"]]),
    ],
)
def test_routing_follows_consent(consent, expected):
    assert ids(cases.plan_alerts(case(consent=consent), PEOPLE, DUTY)) == expected


def test_danger_now_with_group_consent_never_reaches_police():
    plan = cases.plan_alerts(case(kind="danger", consent="group"), PEOPLE, DUTY)
    assert "p3" not in sum(ids(plan), [])


def test_excluded_contact_is_skipped():
    excluded = replace(case(consent="police"), exclude=("g2", "p3"))
    assert ids(cases.plan_alerts(excluded, PEOPLE, DUTY)) == [["g1", "m1"], ["c2"], ["duty"]]


def test_no_duty_officer_means_no_last_tier():
    assert ids(cases.plan_alerts(case(), PEOPLE, None)) == [["g1", "g2"], ["c2"]]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"kind": "gossip"}, "kind 'gossip'"),
        ({"consent": "everyone"}, "consent 'everyone'"),
        ({"call": "night"}, "call 'night'"),
        ({"district": ""}, "district is missing"),
    ],
)
def test_answers_outside_the_vocabulary_are_refused(answers, message):
    with pytest.raises(cases.CaseError, match=message):
        case(**answers)


def test_urgency_and_deadline():
    assert case(kind="danger").urgency == "urgent"
    assert cases.deadline(case(kind="danger"), 600, 180) == 180
    assert cases.deadline(case(), 600, 180) == 600


def test_fields_round_trip():
    original = replace(case(), exclude=("a", "b"))
    assert cases.Case.from_fields(original.to_fields()) == original


def test_take_and_close():
    taken = cases.take(case(), "g1")
    assert (taken.state, taken.taken_by) == ("taken", "g1")
    with pytest.raises(cases.CaseError):
        cases.take(taken, "g2")
    with pytest.raises(cases.CaseError):
        cases.close(taken, "g2", 2.0)
    assert cases.close(taken, "g1", 2.0).state == "closed"


def test_status_words_are_neutral():
    assert cases.status_word(None) == "unknown"
    assert cases.status_word(case()) == "open"


def test_references_start_with_four_digits_and_grow():
    batches = list(cases.candidate_refs(random.Random(1)))
    assert [len(b) for b in batches] == [20, 20, 60]
    assert [{len(r) for r in b} for b in batches] == [{4}, {5}, {6}]


DUSHANBE = 5 * 3600  # UTC+5


@pytest.mark.parametrize(
    ("call", "local_hour", "wait_hours"),
    [
        ("any", 23, 0),
        ("day", 10, 0),
        ("day", 17.5, 0),
        ("day", 18, 15),
        ("day", 23, 10),
        ("none", 3, 6),
        ("none", 8.5, 0.5),
    ],
)
def test_sms_to_her_waits_for_daytime_unless_any_time(call, local_hour, wait_hours):
    midnight_utc = 1_790_000_000 - 1_790_000_000 % 86400
    now = midnight_utc - DUSHANBE + local_hour * 3600  # that local hour, in UTC seconds
    assert cases.sms_time(case(call=call), now) == now + wait_hours * 3600
