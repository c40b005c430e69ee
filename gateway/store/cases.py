"""Cases: references, opening, alerts, the first OK, closing, the retention purge."""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis
from redis.client import Pipeline

from gateway.cases import AID_KINDS, Case, CaseState, Referral, candidate_refs
from gateway.privacy import Vault
from gateway.store.keys import (
    ALERTED,
    ALERTS_FOR,
    ALERTS_FOR_TTL,
    CASE,
    CLOSED_COUNT,
    CLOSED_REF,
    DECLINED,
    OPEN_CASES,
    REF,
    TAKEN_CASES,
)
from gateway.store.phones import Phones
from gateway.store.pipes import run

# How long a reference stays bound to a case that was never opened (its opening failed).
REF_HELD = 3600
# Bind the first free reference of KEYS to the case id ARGV[1] for ARGV[2] seconds: its index
# in KEYS (from 1), or 0 when every one is taken.
BIND = """
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'EX', ARGV[2]) then return i end
end
return 0
"""
# Open a case (see Cases.open): KEYS case, open set, its ref, her profile keys (the newest key
# first; during a rotation the profile may still sit under an older one). ARGV: case id,
# created, her number encrypted, district, the case key prefix, then the case's fields.
OPEN = """
local profile = KEYS[4]
for i = 5, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then profile = KEYS[i]; break end
end
local stop_at = redis.call('HGET', profile, 'stop_at')
local stopped = stop_at and tonumber(stop_at) >= tonumber(ARGV[2])
local fields = {'tier', '-1'}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
if stopped then
  fields[#fields + 1] = 'purged'; fields[#fields + 1] = '1'
else
  fields[#fields + 1] = 'enc:phone'; fields[#fields + 1] = ARGV[3]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('PERSIST', KEYS[3])
if stopped then return 0 end
-- Her list keeps every case a STOP must purge, and no more: those still holding her number.
local kept = {}
for id in string.gmatch(redis.call('HGET', profile, 'cases') or '', '[^,]+') do
  if redis.call('HEXISTS', ARGV[5] .. id, 'enc:phone') == 1 then kept[#kept + 1] = id end
end
kept[#kept + 1] = ARGV[1]
redis.call('HSET', profile, 'enc:phone', ARGV[3], 'district', ARGV[4], 'last_case', ARGV[1],
  'cases', table.concat(kept, ','))
return 1
"""

# Escalation: move an open case to the next tier only from the tier before it.
MOVE_TIER = f"""
if redis.call('HGET', KEYS[1], 'state') ~= '{CaseState.OPEN}' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'tier') or '-1') ~= tonumber(ARGV[2]) - 1 then return 0 end
redis.call('HSET', KEYS[1], 'tier', ARGV[2])
return 1
"""
# First accept wins: compare-and-set on the case state.
TAKE = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if state == '{CaseState.OPEN}' then
  redis.call('HSET', KEYS[1], 'state', '{CaseState.TAKEN}',
             'taken_by', ARGV[2], 'taken_at', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  return 'won'
end
if redis.call('HGET', KEYS[1], 'taken_by') == ARGV[2] then return 'mine' end
return 'taken'
"""
# Close a case (cases.close, or cases.close_for when ARGV[2], the responder, is ''). KEYS: case,
# ref, closed ref, taken set, closed counter, open set. ARGV: case id, responder, now, keep.
CLOSE = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if ARGV[2] == '' then
  if state ~= '{CaseState.OPEN}' and state ~= '{CaseState.TAKEN}' then return 0 end
else
  if state ~= '{CaseState.TAKEN}' then return 0 end
  if redis.call('HGET', KEYS[1], 'taken_by') ~= ARGV[2] then return 0 end
end
redis.call('HSET', KEYS[1], 'state', '{CaseState.CLOSED}', 'closed_at', ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('INCR', KEYS[5])
return 1
"""
# Record aid given (cases.with_aid). KEYS: case. ARGV: the holder who records it ('' for an
# operator), now, every aid kind in order (comma-joined), then the kinds given. Returns the
# case's aid after it, or false when the case is open or another responder's.
AID = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= '{CaseState.TAKEN}' and state ~= '{CaseState.CLOSED}' then return false end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'taken_by') ~= ARGV[1] then return false end
local given = {{}}
for kind in string.gmatch(redis.call('HGET', KEYS[1], 'aid') or '', '[^,]+') do
  given[kind] = true
end
for i = 4, #ARGV do given[ARGV[i]] = true end
local ordered = {{}}
for kind in string.gmatch(ARGV[3], '[^,]+') do
  if given[kind] then ordered[#ordered + 1] = kind end
end
local aid = table.concat(ordered, ',')
redis.call('HSET', KEYS[1], 'aid', aid)
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'active_at', ARGV[2]) end
local at = tonumber(redis.call('HGET', KEYS[1], 'aid_at') or '0')
if not at or at == 0 then redis.call('HSET', KEYS[1], 'aid_at', ARGV[2]) end
return aid
"""
# Set a taken case's follow-up (LATER). KEYS: case. ARGV: its holder ('' for an operator), now,
# when it is due. Returns the follow-up's number (a newer LATER replaces an older one), or false.
FOLLOW_UP = f"""
if redis.call('HGET', KEYS[1], 'state') ~= '{CaseState.TAKEN}' then return false end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'taken_by') ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'follow_up', ARGV[3])
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'active_at', ARGV[2]) end
return redis.call('HINCRBY', KEYS[1], 'follow_ups', 1)
"""
# Hand a case to a responder (cases.hand_over). KEYS: case, open set, taken set, its alerted
# set, the responder's alert list. ARGV: case id, responder, now, the alert list's ttl.
# Returns the previous holder ('' when it was open), or false.
HAND_OVER = f"""
local state = redis.call('HGET', KEYS[1], 'state')
local before = redis.call('HGET', KEYS[1], 'taken_by') or ''
if state ~= '{CaseState.OPEN}' and state ~= '{CaseState.TAKEN}' then return false end
if before == ARGV[2] then return false end
redis.call('HSET', KEYS[1], 'state', '{CaseState.TAKEN}', 'taken_by', ARGV[2])
if state == '{CaseState.OPEN}' then
  redis.call('HSET', KEYS[1], 'taken_at', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
end
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('EXPIRE', KEYS[5], ARGV[4])
return before
"""
# Refer a taken case to another organisation (cases.refer). KEYS: case. ARGV: to, from,
# reason, now, the time before which a waiting referral is stale, and the holder and the
# organisation the referral was decided on. Returns the referral's number, or false (not
# taken, held by another or moved meanwhile, or referred and waiting since after that time).
REFER = f"""
if redis.call('HGET', KEYS[1], 'state') ~= '{CaseState.TAKEN}' then return false end
if (redis.call('HGET', KEYS[1], 'taken_by') or '') ~= ARGV[6] then return false end
if (redis.call('HGET', KEYS[1], 'org') or '') ~= ARGV[7] then return false end
if redis.call('HGET', KEYS[1], 'referral') == '{Referral.ASKED}'
  and tonumber(redis.call('HGET', KEYS[1], 'referred_at')) > tonumber(ARGV[5]) then
  return false
end
redis.call('HSET', KEYS[1], 'referral', '{Referral.ASKED}', 'referral_to', ARGV[1],
  'referral_from', ARGV[2], 'referral_reason', ARGV[3], 'referred_at', ARGV[4])
return redis.call('HINCRBY', KEYS[1], 'referrals', 1)
"""
# The referred case taken by a responder of the organisation it went to (cases.accept_referral).
# KEYS: case. ARGV: responder, organisation, now. Its follow-up is the new holder's to set (a
# reminder due for the previous holder is void). Returns the previous holder, or false.
ACCEPT_REFERRAL = f"""
if redis.call('HGET', KEYS[1], 'state') ~= '{CaseState.TAKEN}' then return false end
if redis.call('HGET', KEYS[1], 'referral') ~= '{Referral.ASKED}' then return false end
if redis.call('HGET', KEYS[1], 'referral_to') ~= ARGV[2] then return false end
local before = redis.call('HGET', KEYS[1], 'taken_by') or ''
redis.call('HSET', KEYS[1], 'taken_by', ARGV[1], 'org', ARGV[2],
  'referral', '{Referral.ACCEPTED}', 'active_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'follow_up')
redis.call('HINCRBY', KEYS[1], 'follow_ups', 1)
return before
"""
# A referral declined or unanswered goes back to the sender. KEYS: case. ARGV: the referral's
# number. Returns 1, or 0 when that referral was answered (or replaced) meanwhile.
RETURN_REFERRAL = f"""
if redis.call('HGET', KEYS[1], 'referral') ~= '{Referral.ASKED}' then return 0 end
if redis.call('HGET', KEYS[1], 'referrals') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'referral', '{Referral.RETURNED}')
return 1
"""


def bound(refs: list[str], found: int) -> str | None:
    """The reference a BIND of `refs` bound (its result is an index from 1), or None."""
    return refs[found - 1] if found else None


class Cases:
    """Cases: references, opening, alerts, the first OK, closing, retention purge."""

    def __init__(self, client: redis.Redis, vault: Vault, phones: Phones):
        self.redis = client
        self.vault = vault
        self.phones = phones
        # Registered once: a Script keeps its SHA and loads itself on NOSCRIPT.
        self._bind = client.register_script(BIND)
        self._open = client.register_script(OPEN)
        self._cas = client.register_script(MOVE_TIER)
        self._take = client.register_script(TAKE)
        self._hand_over = client.register_script(HAND_OVER)
        self._aid = client.register_script(AID)
        self._follow_up = client.register_script(FOLLOW_UP)
        self._close = client.register_script(CLOSE)
        self._refer = client.register_script(REFER)
        self._accept_referral = client.register_script(ACCEPT_REFERRAL)
        self._return_referral = client.register_script(RETURN_REFERRAL)

    def reserve_ref(self, case_id: str, batches: Iterable[list[str]] | None = None) -> str:
        """A reference unique among cases not yet closed, now bound to case_id until `open`
        (or REF_HELD seconds, when the case is never opened): one round trip per batch."""
        for refs in batches or candidate_refs():
            ref = self.reserve(case_id, refs)
            if ref is not None:
                return ref
        raise RuntimeError("no free reference after many tries")

    def reserve(self, case_id: str, refs: list[str], pipeline: Pipeline | None = None):
        """Bind the first free one of `refs` to case_id in one round trip: that reference, or
        None when all are taken. In the caller's pipeline, `bound(refs, result)` reads it."""
        found = run(self._bind, [REF.format(ref=r) for r in refs], [case_id, REF_HELD], pipeline)
        return pipeline if pipeline is not None else bound(refs, found)

    def open(self, case: Case, phone: str, pipeline: Pipeline) -> None:
        """Queue in the caller's MULTI: the case with her number encrypted, its reference kept,
        the case listed in her phone's profile. With the caller's enqueue of its planning in
        the same MULTI, a STOP sees either no case or a listed one.

        A case whose opening overlapped her STOP (it was created no later than the STOP) is
        stored already purged: without her number, still alerted."""
        token = self.vault.encrypt(phone)
        keys = [CASE.format(id=case.id), OPEN_CASES, REF.format(ref=case.ref)]
        fields = [v for pair in case.to_fields().items() for v in pair]
        args = [case.id, case.created, token, case.district, CASE.format(id=""), *fields]
        run(self._open, [*keys, *self.phones.keys(phone)], args, pipeline)

    def get(self, case_id: str) -> Case | None:
        """The case, without personal data, or None."""
        raw = self.redis.hgetall(CASE.format(id=case_id))
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return Case.from_fields({k: v for k, v in fields.items() if not k.startswith("enc:")})

    def by_ref(self, ref: str) -> Case | None:
        """The case with this reference (an open one first, else a recently closed one)."""
        case_id = self.redis.get(REF.format(ref=ref)) or self.redis.get(CLOSED_REF.format(ref=ref))
        return self.get(case_id.decode()) if case_id else None

    def phone(self, case_id: str) -> str | None:
        """Her number for a case (decrypted), or None once purged."""
        token = self.redis.hget(CASE.format(id=case_id), "enc:phone")
        return self.vault.decrypt(token) if token else None

    def add_note(self, case_id: str, text: str, of: str = "note") -> int:
        """Append something she wrote (`of` "note") or its holder wrote ("rnote": NOTE) to
        the case, encrypted (purged with her number); returns the note's number."""
        key = CASE.format(id=case_id)
        number = self.redis.hincrby(key, of + "s", 1)
        self.redis.hset(key, f"enc:{of}:{number}", self.vault.encrypt(text))
        return number

    def notes(self, case_id: str, of: str = "note") -> list[str]:
        """What she (or with `of` "rnote", its holder) wrote, decrypted, oldest first."""
        raw = self.redis.hgetall(CASE.format(id=case_id))
        head = f"enc:{of}:".encode()
        notes = {int(k[len(head) :]): v for k, v in raw.items() if k.startswith(head)}
        return [self.vault.decrypt(notes[n]) for n in sorted(notes)]

    def mark_alerted(self, case_id: str, responder_ids: list[str]) -> None:
        """Record that these responders were alerted for the case (so they may accept it)."""
        if responder_ids:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(ALERTED.format(case=case_id), *responder_ids)
                for responder_id in responder_ids:
                    pipe.sadd(ALERTS_FOR.format(responder=responder_id), case_id)
                    pipe.expire(ALERTS_FOR.format(responder=responder_id), ALERTS_FOR_TTL)
                pipe.execute()

    def open_alerts(self, responder_id: str) -> list[str]:
        """Ids of the cases still open (nobody took them) that this responder was alerted for."""
        key = ALERTS_FOR.format(responder=responder_id)
        case_ids = sorted(m.decode() for m in self.redis.smembers(key))
        with self.redis.pipeline(transaction=False) as pipe:
            for case_id in case_ids:
                pipe.hget(CASE.format(id=case_id), "state")
            states = pipe.execute()
        settled = [
            c for c, state in zip(case_ids, states, strict=True) if state != CaseState.OPEN.encode()
        ]
        if settled:
            self.redis.srem(key, *settled)
        return [c for c in case_ids if c not in settled]

    def alerted(self, case_id: str) -> set[str]:
        """Ids of the responders alerted for the case."""
        return {m.decode() for m in self.redis.smembers(ALERTED.format(case=case_id))}

    def mark_declined(self, case_id: str, responder_id: str) -> set[str]:
        """Record a NO; returns everyone who declined the case so far."""
        key = DECLINED.format(case=case_id)
        self.redis.sadd(key, responder_id)
        return {m.decode() for m in self.redis.smembers(key)}

    def tier(self, case_id: str) -> int:
        """The index of the last tier alerted (-1 before the first)."""
        return int(self.redis.hget(CASE.format(id=case_id), "tier") or -1)

    def move_to_tier(self, case_id: str, tier: int) -> bool:
        """Atomically move an open case from tier-1 to tier; False if taken, closed or moved."""
        return bool(self._cas(keys=[CASE.format(id=case_id)], args=["tier", tier]))

    def take(self, case_id: str, responder_id: str) -> str:
        """First OK wins: 'won', 'mine' (already hers/his), or 'taken' (someone else's)."""
        return self._take(
            keys=[CASE.format(id=case_id), OPEN_CASES, TAKEN_CASES],
            args=[case_id, responder_id, f"{time.time():.3f}"],
        ).decode()

    def close(self, case_id: str, responder_id: str, ref: str, keep: int) -> bool:
        """Close a case taken by this responder (any open or taken case when responder_id is
        '': an operator's close); its ref is freed and kept for status checks."""
        closed = self._close(
            keys=[
                CASE.format(id=case_id),
                REF.format(ref=ref),
                CLOSED_REF.format(ref=ref),
                TAKEN_CASES,
                CLOSED_COUNT,
                OPEN_CASES,
            ],
            args=[case_id, responder_id, f"{time.time():.3f}", keep],
        )
        return bool(closed)

    def record_aid(
        self, case_id: str, kinds: Iterable[str], by: str = ""
    ) -> tuple[str, ...] | None:
        """Add kinds of aid to a taken or closed case, by its holder (`by`, a responder id) or
        an operator (''): the case's aid after it, or None when refused."""
        aid = self._aid(
            keys=[CASE.format(id=case_id)],
            args=[by, f"{time.time():.3f}", ",".join(AID_KINDS), *kinds],
        )
        return None if aid is None else tuple(k for k in aid.decode().split(",") if k)

    def set_follow_up(self, case_id: str, at: float, by: str = "") -> int | None:
        """Remind the holder of a taken case at `at` (set by them, `by`, or an operator, ''):
        the follow-up's number, or None when the case is not taken (or not `by`'s)."""
        n = self._follow_up(keys=[CASE.format(id=case_id)], args=[by, f"{time.time():.3f}", at])
        return None if n is None else int(n)

    def taken(self) -> list[tuple[str, float]]:
        """(case id, when it was taken) of every taken case, oldest first."""
        return [(i.decode(), t) for i, t in self.redis.zrange(TAKEN_CASES, 0, -1, withscores=True)]

    def follow_ups(self, case_id: str) -> int:
        """How many follow-ups were set: the newest one's number."""
        return int(self.redis.hget(CASE.format(id=case_id), "follow_ups") or 0)

    def touch(self, case_id: str, at: float | None = None) -> None:
        """Its holder spoke of it (AID, NOTE): it is not a quiet case."""
        self.redis.hset(CASE.format(id=case_id), "active_at", f"{at or time.time():.3f}")

    def hand_over(self, case_id: str, responder_id: str) -> str | None:
        """Make the case this responder's (who may then close it with DONE): the previous
        holder's id ('' when it was open), or None when it is closed or theirs already."""
        before = self._hand_over(
            keys=[
                CASE.format(id=case_id),
                OPEN_CASES,
                TAKEN_CASES,
                ALERTED.format(case=case_id),
                ALERTS_FOR.format(responder=responder_id),
            ],
            args=[case_id, responder_id, f"{time.time():.3f}", ALERTS_FOR_TTL],
        )
        return None if before is None else before.decode()

    def refer(self, case: Case, before: Case, stale_before: float = 0.0) -> int | None:
        """Store a referral made by cases.refer() from the case as it was read (`before`): its
        number, or None when the case is no longer taken, changed holder or organisation
        meanwhile, or another referral waits (since `stale_before` or later)."""
        args = [case.referral_to, case.referral_from, case.referral_reason, case.referred_at]
        args += [stale_before, before.taken_by, before.org]
        n = self._refer(keys=[CASE.format(id=case.id)], args=args)
        return None if n is None else int(n)

    def accept_referral(self, case_id: str, responder_id: str, org: str) -> str | None:
        """The referred case is this responder's, of `org`, now: the previous holder, or None
        when it is not referred to `org` (any more)."""
        before = self._accept_referral(
            keys=[CASE.format(id=case_id)], args=[responder_id, org, f"{time.time():.3f}"]
        )
        return None if before is None else before.decode()

    def return_referral(self, case_id: str, n: int) -> bool:
        """Referral n goes back to the sender; False when it was answered meanwhile."""
        return bool(self._return_referral(keys=[CASE.format(id=case_id)], args=[n]))

    def referrals(self, case_id: str) -> int:
        """How many times the case was referred: the newest referral's number."""
        return int(self.redis.hget(CASE.format(id=case_id), "referrals") or 0)

    def iter(self):
        """Every case hash, decoded (personal fields left encrypted), for retention and reports."""
        for key in self.redis.scan_iter(match=CASE.format(id="*"), count=500):
            raw = self.redis.hgetall(key)
            if raw:
                yield {k.decode(): v.decode() for k, v in raw.items()}

    def purge(self, case_id: str) -> int:
        """Remove a case's personal fields (her number, her notes) and its alert lists."""
        key = CASE.format(id=case_id)
        fields = [f for f in self.redis.hkeys(key) if f.startswith(b"enc:")]
        with self.redis.pipeline(transaction=True) as pipe:
            if fields:
                pipe.hdel(key, *fields)
            pipe.hset(key, "purged", "1")
            for responder_id in self.alerted(case_id):
                pipe.srem(ALERTS_FOR.format(responder=responder_id), case_id)
            pipe.delete(ALERTED.format(case=case_id), DECLINED.format(case=case_id))
            pipe.execute()
        return len(fields)
