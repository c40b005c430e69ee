"""Every Redis key of the gateway, and the operations on them.

Survivors' numbers and inputs are stored only as Fernet tokens in hash fields named `enc:*`;
records about a phone are found by its keyed hash (privacy.Vault.digest), never by the number.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from rq import Queue, Retry

from gateway.cases import Case, candidate_refs
from gateway.privacy import Vault

# ---- key formats (the only place that knows them) ------------------------------------------
PREFIX = "hd:"
PHONE = PREFIX + "phone:{digest}"  # hash: enc:phone, lang, ... (profile of one phone)
MESSAGE = PREFIX + "msg:{id}"  # hash: enc:to, enc:body, route, state, segments, created
OUTBOX = PREFIX + "outbox"  # list of message ids written by the console channel (newest first)
OUTBOX_MAX = 500
ENCRYPTED_FIELD = "enc:"
USSD_SESSION = PREFIX + "ussd:{session}"  # hash: enc:state, enc:reply, last (digest of text)
USSD_LOCK = PREFIX + "ussdlock:{session}"  # string, serialises duplicate deliveries of a hop
RESUME = PREFIX + "resume:{digest}"  # string: encrypted menu state of a dropped session
SEEN = PREFIX + "seen:{channel}:{id}"  # string: inbound provider ids already handled (dedupe)
CASE = PREFIX + "case:{id}"  # hash: Case fields, enc:phone, enc:note:N
REF = PREFIX + "ref:{ref}"  # string: case id, while the case is not closed
OPEN_CASES = PREFIX + "cases:open"  # sorted set: case id -> created
RATE = PREFIX + "rate:{what}:{digest}:{window}"  # counter per phone and hour
AUDIT = PREFIX + "audit"  # stream: who did what, when (ids and kinds only, never numbers)
SEEN_TTL = 7 * 86400
RESUME_TTL = 300

# RQ queues, by role. One queue per worker keeps RQ on its crash-safe BLMOVE path.
QUEUES = ("alerts",)


@dataclass(frozen=True)
class RotationReport:
    """What a key rotation changed."""

    records: int
    fields: int
    rekeyed: int


class Store:
    """Redis-backed state, with personal data encrypted on the way in."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault

    # ---- health -----------------------------------------------------------------------------
    def ping(self) -> bool:
        """True when Redis answers."""
        return bool(self.redis.ping())

    # ---- audit trail ---------------------------------------------------------------------------
    def audit(self, event: str, **fields: str) -> str:
        """Append an event to the audit stream; returns its stream id."""
        entry = {
            "event": event,
            "at": f"{time.time():.3f}",
            **{k: str(v) for k, v in fields.items()},
        }
        return self.redis.xadd(AUDIT, entry).decode()

    def audit_trail(self, count: int = 1000) -> list[dict[str, str]]:
        """The newest audit entries, oldest first."""
        rows = self.redis.xrevrange(AUDIT, count=count)
        return [{k.decode(): v.decode() for k, v in row.items()} for _, row in reversed(rows)]

    # ---- phone profiles ---------------------------------------------------------------------
    def _phone_key(self, phone: str) -> str:
        # During a rotation the profile may still sit under an older key's hash.
        keys = [PHONE.format(digest=d) for d in self.vault.digests(phone)]
        for key in keys[1:]:
            if self.redis.exists(key):
                return key
        return keys[0]

    def phone_profile(self, phone: str) -> dict[str, str]:
        """The stored profile fields of a phone (no encrypted fields), empty when unknown."""
        raw = self.redis.hgetall(self._phone_key(phone))
        return {
            k.decode(): v.decode()
            for k, v in raw.items()
            if not k.decode().startswith(ENCRYPTED_FIELD)
        }

    def update_phone_profile(self, phone: str, **fields: str) -> None:
        """Set profile fields of a phone, keeping its number encrypted beside them."""
        key = self._phone_key(phone)
        mapping = {ENCRYPTED_FIELD + "phone": self.vault.encrypt(phone), **fields}
        self.redis.hset(key, mapping=mapping)

    def phone_digest(self, phone: str) -> str:
        """The keyed hash a phone is known by (never the number)."""
        return self.vault.digest(phone)

    # ---- inbound dedupe and rate limits ------------------------------------------------------
    def first_delivery(self, channel: str, external_id: str) -> bool:
        """True the first time a provider id is seen; False for every repeat within 7 days."""
        key = SEEN.format(channel=channel, id=self.vault.digest(external_id))
        return bool(self.redis.set(key, "1", nx=True, ex=SEEN_TTL))

    def forget_delivery(self, channel: str, external_id: str) -> None:
        """Undo first_delivery() when handling failed, so a provider retry is not dropped."""
        self.redis.delete(SEEN.format(channel=channel, id=self.vault.digest(external_id)))

    def within_rate(self, what: str, phone: str, limit: int, window: int = 3600) -> bool:
        """Count one event for the phone; True while at most `limit` happened in this window."""
        key = RATE.format(
            what=what, digest=self.vault.digest(phone), window=int(time.time() // window)
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window)
            count, _ = pipe.execute()
        return count <= limit

    # ---- USSD sessions -----------------------------------------------------------------------
    def ussd_lock(self, session: str, wait: float = 2.0) -> bool:
        """Take the per-session lock (waiting up to `wait` s); False if it stayed busy."""
        key = USSD_LOCK.format(session=session)
        deadline = time.monotonic() + wait
        while not self.redis.set(key, "1", nx=True, px=5000):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def ussd_unlock(self, session: str) -> None:
        """Release the per-session lock."""
        self.redis.delete(USSD_LOCK.format(session=session))

    def ussd_session(self, session: str) -> tuple[dict | None, str, dict | None]:
        """The saved menu state, the digest of the last text handled, and the reply given to it."""
        raw = self.redis.hgetall(USSD_SESSION.format(session=session))
        if not raw:
            return None, "", None
        state = json.loads(self.vault.decrypt(raw[b"enc:state"]))
        reply = json.loads(self.vault.decrypt(raw[b"enc:reply"]))
        return state, raw.get(b"last", b"").decode(), reply

    def save_ussd_session(
        self, session: str, state: dict, last: str, reply: dict, ttl: int
    ) -> None:
        """Keep the menu state and the reply for this text (both encrypted) for `ttl` seconds."""
        key = USSD_SESSION.format(session=session)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "enc:state": self.vault.encrypt(json.dumps(state)),
                    "enc:reply": self.vault.encrypt(json.dumps(reply)),
                    "last": last,
                },
            )
            pipe.expire(key, ttl)
            pipe.execute()

    def resumable(self, phone: str) -> dict | None:
        """The menu state of her dropped session, if she dials again within RESUME_TTL."""
        token = self.redis.get(RESUME.format(digest=self.vault.digest(phone)))
        return json.loads(self.vault.decrypt(token)) if token else None

    def keep_resumable(self, phone: str, state: dict | None) -> None:
        """Remember (or with None, forget) where her session stood, for a few minutes."""
        key = RESUME.format(digest=self.vault.digest(phone))
        if state is None:
            self.redis.delete(key)
        else:
            self.redis.set(key, self.vault.encrypt(json.dumps(state)), ex=RESUME_TTL)

    # ---- cases -------------------------------------------------------------------------------
    def reserve_ref(self, case_id: str, refs: Iterable[str] | None = None) -> str:
        """A reference unique among cases not yet closed, now bound to case_id."""
        for ref in refs or candidate_refs():
            if self.redis.set(REF.format(ref=ref), case_id, nx=True):
                return ref
        raise RuntimeError("no free reference after many tries")

    def open_case(self, case: Case, phone: str) -> None:
        """Store the case with her number encrypted and enqueue its alert planning, atomically."""
        queue = Queue("alerts", connection=self.redis)
        key = CASE.format(id=case.id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.multi()  # explicit, because RQ's enqueue expects a pipeline already in MULTI
            pipe.hset(key, mapping={**case.to_fields(), "enc:phone": self.vault.encrypt(phone)})
            pipe.zadd(OPEN_CASES, {case.id: case.created})
            queue.enqueue_call(
                "workers.jobs.plan_alerts",
                args=(case.id,),
                job_id=f"plan-{case.id}",
                description=f"plan alerts for case {case.ref}",
                timeout=60,
                retry=Retry(max=3, interval=[5, 30, 120]),
                failure_ttl=30 * 86400,
                pipeline=pipe,
            )
            pipe.execute()
        profile = self.phone_profile(phone)
        cases = [c for c in profile.get("cases", "").split(",") if c] + [case.id]
        self.update_phone_profile(
            phone, district=case.district, last_case=case.id, cases=",".join(cases[-20:])
        )

    def case(self, case_id: str) -> Case | None:
        """The case, without personal data, or None."""
        raw = self.redis.hgetall(CASE.format(id=case_id))
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return Case.from_fields({k: v for k, v in fields.items() if not k.startswith("enc:")})

    def case_by_ref(self, ref: str) -> Case | None:
        """The not-yet-closed case with this reference, or None."""
        case_id = self.redis.get(REF.format(ref=ref))
        return self.case(case_id.decode()) if case_id else None

    def case_phone(self, case_id: str) -> str | None:
        """Her number for a case (decrypted), or None once purged."""
        token = self.redis.hget(CASE.format(id=case_id), "enc:phone")
        return self.vault.decrypt(token) if token else None

    def add_note(self, case_id: str, text: str) -> int:
        """Append something she wrote to the case, encrypted; returns the note's number."""
        key = CASE.format(id=case_id)
        number = self.redis.hincrby(key, "notes", 1)
        self.redis.hset(key, f"enc:note:{number}", self.vault.encrypt(text))
        return number

    def notes(self, case_id: str) -> list[str]:
        """What she wrote after opening the case, decrypted, oldest first."""
        raw = self.redis.hgetall(CASE.format(id=case_id))
        notes = {k.decode(): v for k, v in raw.items() if k.startswith(b"enc:note:")}
        return [self.vault.decrypt(notes[k]) for k in sorted(notes, key=lambda k: int(k[9:]))]

    def suppress(self, phone: str) -> None:
        """Record her STOP: nothing more is sent to this phone."""
        self.update_phone_profile(phone, stop="1")

    def suppressed(self, phone: str) -> bool:
        """True when she asked that nothing more be sent to her."""
        return self.phone_profile(phone).get("stop") == "1"

    def schedule_purge(self, phone: str) -> None:
        """Enqueue the purge of her data (cases' personal fields, notes, session traces)."""
        digest = self.vault.digest(phone)
        Queue("alerts", connection=self.redis).enqueue_call(
            "workers.jobs.purge_phone",
            args=(digest,),
            job_id=f"purge-{digest}",
            description="purge a phone's data",
            timeout=120,
            retry=Retry(max=5, interval=[10, 60, 300, 900, 1800]),
        )

    def purge_phone(self, digest: str) -> int:
        """Remove her number and words from every case of hers; keep only her STOP. Cases purged."""
        key = PHONE.format(digest=digest)
        profile = {k.decode(): v for k, v in self.redis.hgetall(key).items()}
        case_ids = [c for c in profile.get("cases", b"").decode().split(",") if c]
        with self.redis.pipeline(transaction=True) as pipe:
            for case_id in case_ids:
                case_key = CASE.format(id=case_id)
                fields = [f for f in self.redis.hkeys(case_key) if f.startswith(b"enc:")]
                if fields:
                    pipe.hdel(case_key, *fields)
                pipe.hset(case_key, "purged", "1")
            pipe.delete(RESUME.format(digest=digest))
            extra = [f for f in profile if f not in ("enc:phone", "stop")]
            if extra:
                pipe.hdel(key, *extra)
            pipe.execute()
        return len(case_ids)

    # ---- outbound messages ------------------------------------------------------------------
    def add_message(self, to: str, body: str, route: str, segments: int, state: str) -> str:
        """Store an outbound message with its recipient and body encrypted; returns its id."""
        message_id = uuid.uuid4().hex
        self.redis.hset(
            MESSAGE.format(id=message_id),
            mapping={
                ENCRYPTED_FIELD + "to": self.vault.encrypt(to),
                ENCRYPTED_FIELD + "body": self.vault.encrypt(body),
                "route": route,
                "segments": segments,
                "state": state,
                "created": f"{time.time():.3f}",
            },
        )
        return message_id

    def message(self, message_id: str) -> dict[str, str] | None:
        """The message with recipient and body decrypted, or None when unknown."""
        raw = self.redis.hgetall(MESSAGE.format(id=message_id))
        if not raw:
            return None
        out = {"id": message_id}
        for k, v in raw.items():
            name = k.decode()
            if name.startswith(ENCRYPTED_FIELD):
                out[name[len(ENCRYPTED_FIELD) :]] = self.vault.decrypt(v)
            else:
                out[name] = v.decode()
        return out

    def push_outbox(self, message_id: str) -> None:
        """Put a message on the console outbox, keeping only the newest OUTBOX_MAX."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(OUTBOX, message_id)
            pipe.ltrim(OUTBOX, 0, OUTBOX_MAX - 1)
            pipe.execute()

    def outbox(self, limit: int = 50) -> list[dict[str, str]]:
        """The newest console-channel messages, decrypted, newest first."""
        ids = [i.decode() for i in self.redis.lrange(OUTBOX, 0, limit - 1)]
        return [m for m in (self.message(i) for i in ids) if m is not None]

    # ---- key rotation -----------------------------------------------------------------------
    def rotate_keys(self) -> RotationReport:
        """Re-encrypt every `enc:*` field under the newest key and re-key phone profiles."""
        records = fields = rekeyed = 0
        for key in self.redis.scan_iter(match=PREFIX + "*", count=500):
            if self.redis.type(key) != b"hash":
                continue
            changes = {}
            for name, token in self.redis.hgetall(key).items():
                if name.decode().startswith(ENCRYPTED_FIELD) and not self.vault.is_current(token):
                    changes[name] = self.vault.rotate(token)
            if changes:
                self.redis.hset(key, mapping=changes)
                records += 1
                fields += len(changes)
            rekeyed += self._rekey_phone(key.decode())
        return RotationReport(records=records, fields=fields, rekeyed=rekeyed)

    def _rekey_phone(self, key: str) -> int:
        if not key.startswith(PHONE.format(digest="")):
            return 0
        token = self.redis.hget(key, ENCRYPTED_FIELD + "phone")
        if token is None:
            return 0
        target = PHONE.format(digest=self.vault.digest(self.vault.decrypt(token)))
        if target == key:
            return 0
        # Merge rather than RENAME: a newer profile may already exist under the new hash.
        with self.redis.pipeline(transaction=True) as pipe:
            for name, value in self.redis.hgetall(key).items():
                pipe.hsetnx(target, name, value)
            pipe.delete(key)
            pipe.execute()
        return 1


def queue_depths(client: redis.Redis) -> dict[str, dict[str, int]]:
    """Jobs waiting, scheduled and failed per RQ queue."""
    from rq import Queue

    depths = {}
    for name in QUEUES:
        queue = Queue(name, connection=client)
        depths[name] = {
            "queued": queue.count,
            "started": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count,
            "failed": queue.failed_job_registry.count,
        }
    return depths
