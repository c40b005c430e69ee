"""Every Redis key of the gateway, and the operations on them.

Survivors' numbers and inputs are stored only as Fernet tokens in hash fields named `enc:*`;
records about a phone are found by its keyed hash (privacy.Vault.digest), never by the number.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis

from gateway.privacy import Vault

# ---- key formats (the only place that knows them) ------------------------------------------
PREFIX = "hd:"
PHONE = PREFIX + "phone:{digest}"  # hash: enc:phone, lang, ... (profile of one phone)
MESSAGE = PREFIX + "msg:{id}"  # hash: enc:to, enc:body, route, state, segments, created
OUTBOX = PREFIX + "outbox"  # list of message ids written by the console channel (newest first)
OUTBOX_MAX = 500
ENCRYPTED_FIELD = "enc:"

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
