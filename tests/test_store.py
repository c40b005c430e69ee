"""Store: personal data lands encrypted in a real Redis; key rotation re-encrypts and re-keys."""

from __future__ import annotations

import itertools
import time

import pytest
import redis

from gateway import cases
from gateway.privacy import Vault, new_key
from gateway.store import Store
from testing.leaks import redis_dump as all_bytes

PHONE = "+992900001234"
BODY = "Ёрдам лозим"


def test_phone_profile_is_found_by_number_but_stored_without_it(redis_client):
    store = Store(redis_client, Vault([new_key()]))
    store.phones.update_profile(PHONE, lang="tg")
    assert store.phones.profile(PHONE) == {"lang": "tg"}
    assert store.phones.profile("+992900009999") == {}
    dump = all_bytes(redis_client)
    assert b"900001234" not in dump


def test_message_and_outbox_keep_body_encrypted(redis_client):
    store = Store(redis_client, Vault([new_key()]))
    message_id = "m-outbox"
    store.messages.create(message_id, PHONE, BODY, route="console")
    store.messages.push_outbox(message_id)
    [shown] = store.messages.outbox()
    assert shown["to"] == PHONE and shown["body"] == BODY and shown["route"] == "console"
    dump = all_bytes(redis_client)
    assert b"900001234" not in dump
    assert BODY.encode() not in dump


def test_rotation_reencrypts_everything_and_rekeys_profiles(redis_client):
    old, new = new_key(), new_key()
    before = Store(redis_client, Vault([old]))
    before.phones.update_profile(PHONE, lang="ru")
    message_id = "m-rotated"
    before.messages.create(message_id, PHONE, BODY, route="console")

    during = Store(redis_client, Vault([new, old]))
    assert during.phones.profile(PHONE) == {"lang": "ru"}  # found under the old hash
    report = during.phones.rotate_keys()
    assert (report.records, report.fields, report.rekeyed) == (2, 3, 1)

    after = Store(redis_client, Vault([new]))
    assert after.phones.profile(PHONE) == {"lang": "ru"}
    assert after.messages.get(message_id)["body"] == BODY
    assert during.phones.rotate_keys().fields == 0  # nothing left to do


def test_the_stores_case_transitions_follow_the_domain_rules(redis_client):
    """The Lua scripts that take and close cases in production give, for every state and every
    responder, the outcome the domain's take() and close() state."""
    store = Store(redis_client, Vault([new_key()]))
    for n, (state, holder, who) in enumerate(
        itertools.product(list(cases.CaseState), ("", "g1"), ("g1", "g2"))
    ):
        before = cases.new_case(
            id=f"c{n}",
            ref=str(4000 + n),
            answers={"kind": "legal", "district": "vakhsh", "consent": "group", "call": "any"},
            channel="sms",
            lang="tg",
            now=time.time(),
        )
        before = cases.Case.from_fields({**before.to_fields(), "state": state, "taken_by": holder})
        redis_client.hset(f"hd:case:{before.id}", mapping=before.to_fields())
        try:
            expected = cases.take(before, who).state
        except cases.CaseError:
            expected = None
        outcome = store.cases.take(before.id, who)
        after = store.cases.get(before.id)
        assert (outcome == "won") == (expected is not None), (state, holder, who)
        assert after.state == (expected or state)
        try:
            closed = cases.close(after, who, 1.0).state
        except cases.CaseError:
            closed = None
        assert store.cases.close(after.id, who, after.ref, 60) == (closed is not None), (state, who)
        assert store.cases.get(before.id).state == (closed or after.state)
    with pytest.raises(cases.CaseError):
        cases.take(store.cases.get("c0"), "g2")


def test_operators_close_and_hand_over_follow_the_domain_rules(redis_client):
    """An operator's close (any open or taken case) and hand-over in the store's Lua scripts
    give what close_for() and hand_over() state, for every state and holder."""
    store = Store(redis_client, Vault([new_key()]))
    answers = {"kind": "legal", "district": "vakhsh", "consent": "group", "call": "any"}
    for n, (state, holder, to) in enumerate(
        itertools.product(list(cases.CaseState), ("", "g1"), ("g1", "g2"))
    ):
        base = cases.new_case(
            id=f"h{n}", ref=str(5000 + n), answers=answers, channel="sms", lang="tg", now=1.0
        )
        before = cases.Case.from_fields({**base.to_fields(), "state": state, "taken_by": holder})
        redis_client.hset(f"hd:case:{before.id}", mapping=before.to_fields())
        try:
            expected = cases.hand_over(before, to)
        except cases.CaseError:
            expected = None
        previous = store.cases.hand_over(before.id, to)
        after = store.cases.get(before.id)
        assert (previous is not None) == (expected is not None), (state, holder, to)
        assert (after.state, after.taken_by) == (
            (expected.state, expected.taken_by) if expected else (state, holder)
        )
        if expected:
            assert previous == holder and to in store.cases.alerted(before.id)
        try:
            closed = cases.close_for(after, 2.0).state
        except cases.CaseError:
            closed = None
        assert store.cases.close(after.id, "", after.ref, 60) == (closed is not None)
        assert store.cases.get(before.id).state == (closed or after.state)
    assert not redis_client.zrange("hd:cases:open", 0, -1)
    assert not redis_client.zrange("hd:cases:taken", 0, -1)


def test_recording_aid_follows_the_domain_rules(redis_client):
    """The store's AID script gives what with_aid() states: only a taken or closed case, only
    by its holder (or an operator), each kind once, in the vocabulary's order, first time kept."""
    store = Store(redis_client, Vault([new_key()]))
    answers = {"kind": "legal", "district": "vakhsh", "consent": "group", "call": "any"}
    for n, (state, by) in enumerate(itertools.product(list(cases.CaseState), ("g1", "g2", ""))):
        base = cases.new_case(
            id=f"a{n}", ref=str(6000 + n), answers=answers, channel="sms", lang="tg", now=1.0
        )
        before = cases.Case.from_fields(
            {**base.to_fields(), "state": state, "taken_by": "g1" if state != "open" else ""}
        )
        redis_client.hset(f"hd:case:{before.id}", mapping=before.to_fields())
        for kinds in (("peer", "legal"), ("legal", "debt")):
            current = store.cases.get(before.id)
            try:
                expected = cases.with_aid(current, kinds, 5.0)
                if by and current.taken_by != by:
                    expected = None
            except cases.CaseError:
                expected = None
            recorded = store.cases.record_aid(before.id, kinds, by=by)
            assert recorded == (expected.aid if expected else None), (state, by, kinds)
        after = store.cases.get(before.id)
        if after.aid:
            assert after.aid == ("legal", "debt", "peer") and after.aid_at > 0


def test_repository_writes_join_a_callers_transaction(redis_client):
    """Writes given the caller's pipeline are queued there: nothing before execute(), all of
    them after, in one transaction."""
    store = Store(redis_client, Vault([new_key()]))
    phone = "+992900009811"
    store.deliveries.first("twilio", "SM-pipe")
    with redis_client.pipeline(transaction=True) as pipe:
        store.phones.update_profile(phone, pipeline=pipe, lang="uz")
        store.metrics.count_send("twilio", "sent", pipeline=pipe)
        store.metrics.count_inbound_dropped("twilio", "rate_limit", pipeline=pipe)
        store.deliveries.forget("twilio", "SM-pipe", pipeline=pipe)
        assert store.phones.profile(phone) == {}
        assert store.metrics.send_counts() == {}
        pipe.execute()
    assert store.phones.profile(phone) == {"lang": "uz"}
    assert store.metrics.send_counts() == {("twilio", "sent"): 1}
    assert store.metrics.inbound_dropped_counts() == {("twilio", "rate_limit"): 1}
    assert store.deliveries.first("twilio", "SM-pipe")  # forgotten, so new again


def test_a_script_runs_again_after_redis_forgot_it_and_after_its_connection_was_dropped(
    redis_client, redis_url
):
    """The lean script path (store/pipes.run): a Redis that restarted without its script cache
    gets the script again, and a connection the server dropped is replaced under the client's
    retry policy, as redis-py's own Script call does."""
    store = Store(redis_client, Vault([new_key()]))
    assert store.sessions.open("s-pipes").state is None
    store.sessions.unlock("s-pipes")
    redis_client.script_flush()
    assert store.sessions.open("s-pipes").state is None  # EVAL, and cached again
    store.sessions.unlock("s-pipes")
    assert redis_client.script_exists(store.sessions._open.sha) == [True]
    before = redis_client.client_id()
    with redis.Redis.from_url(redis_url) as other:
        assert other.client_kill_filter(_id=before) == 1
    assert store.sessions.open("s-pipes").state is None  # on a fresh connection
    assert redis_client.client_id() != before
    store.sessions.unlock("s-pipes")


def test_a_failing_script_raises_and_leaves_its_connection_usable(redis_client):
    from redis.exceptions import ResponseError

    from gateway.store.pipes import run

    failing = redis_client.register_script("return redis.error_reply('ERR no such thing')")
    echo = redis_client.register_script("return ARGV[1]")
    for _ in range(3):  # the pool hands the same connection back each time
        with pytest.raises(ResponseError, match="no such thing"):
            run(failing, [], [])
        assert run(echo, [], ["fine"]) == b"fine"


def test_her_first_hop_reads_her_language_and_resume_point_with_the_lock(redis_client):
    store = Store(redis_client, Vault([new_key()]))
    store.phones.update_profile(PHONE, lang="ru")
    opened = store.sessions.open("s-first", phone=PHONE)
    assert opened == (None, "", None, ("ru", None))
    assert opened.first == store.sessions.first(PHONE)
    record = ({"screen": "kind"}, "digest", {"text": "Menu", "end": False})
    store.sessions.close("s-first", PHONE, record, 60, resume={"screen": "kind"})
    # A session that exists answers with its state; the lookups are not made.
    assert store.sessions.open("s-first", phone=PHONE) == (
        {"screen": "kind"},
        "digest",
        {"text": "Menu", "end": False},
        None,
    )
    store.sessions.unlock("s-first")
    assert store.sessions.open("s-other", phone=PHONE).first == ("ru", {"screen": "kind"})


def test_scripts_inside_one_connection_share_it_and_give_it_back(redis_client):
    from gateway.store.pipes import run

    store = Store(redis_client, Vault([new_key()]))
    one = redis_client.register_script("return 1")
    pool = redis_client.connection_pool
    with store.one_connection():
        run(one, [], [])
        [held] = pool._in_use_connections
        assert run(one, [], []) == 1
        assert list(pool._in_use_connections) == [held]
    assert not pool._in_use_connections and held in pool._available_connections
    with pytest.raises(RuntimeError), store.one_connection():
        run(one, [], [])
        raise RuntimeError("a hop that failed")
    assert not pool._in_use_connections


def _scripts_run(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("eval", "evalsha"))


def test_a_reference_is_found_in_a_round_trip_per_batch_when_short_ones_are_taken(redis_client):
    # With thousands of cases open, most 4-digit references are taken: each batch of
    # candidates is tried in one script call, so a new case does not pay a round trip per try.
    store = Store(redis_client, Vault([new_key()]))
    with redis_client.pipeline(transaction=False) as pipe:
        for ref in range(1000, 10000):
            pipe.set(f"hd:ref:{ref}", "other-case")
        pipe.execute()
    assert store.cases.reserve("c-warm", ["999999"]) == "999999"  # the script is cached now
    before = _scripts_run(redis_client)
    ref = store.cases.reserve_ref("c-new")
    assert _scripts_run(redis_client) - before == 2  # the 4-digit batch, then the 5-digit one
    assert len(ref) == 5 and redis_client.get(f"hd:ref:{ref}") == b"c-new"
    assert store.cases.reserve("c-other", ["1234", ref]) is None  # taken ones stay theirs
    assert redis_client.get("hd:ref:1234") == b"other-case"
    assert store.cases.reserve("c-other", ["1234", "777777"]) == "777777"
