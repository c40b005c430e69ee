"""Her STOP: suppression, and the purge of her number and words from her cases."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import redis
from redis.client import Pipeline

from gateway.privacy import Vault
from gateway.store.keys import (
    CASE,
    ENCRYPTED_FIELD,
    PHONE,
    RESUME,
)
from gateway.store.phones import KEPT_AFTER_STOP, Phones

_KEPT = frozenset(f.encode() for f in KEPT_AFTER_STOP)  # as Redis returns field names


# Her number and words out of a case, atomically (a note written meanwhile cannot slip past).
PURGE_CASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(name, 1, 4) == 'enc:' then redis.call('HDEL', KEYS[1], name) end
end
redis.call('HSET', KEYS[1], 'purged', '1')
return 1
"""


class Consent:
    """Her STOP: suppression, and the purge of her number and words from her cases."""

    def __init__(self, client: redis.Redis, vault: Vault, phones: Phones):
        self.redis = client
        self.vault = vault
        self.phones = phones
        self._purge_case = client.register_script(PURGE_CASE)  # once: it keeps its SHA

    def suppress(self, phone: str) -> None:
        """Record her STOP: nothing more is sent to this phone."""
        self.phones.update_profile(phone, stop="1")

    def suppressed(self, phone: str) -> bool:
        """True when she asked that nothing more be sent to her."""
        return self.phones.profile(phone).get("stop") == "1"

    def stopped_at(self, phone: str) -> float | None:
        """When she last sent STOP (unix time), or None."""
        stop_at = self.phones.profile(phone).get("stop_at")
        return float(stop_at) if stop_at else None

    def withdraw(
        self, phone: str, now: float, then: Callable[[list[str], Pipeline], None]
    ) -> list[str]:
        """Her STOP, in one transaction: suppress the phone, drop her profile (language,
        district, case list) and resume point, and run `then(case_ids, pipeline)` (the caller's
        enqueue of the purge of her cases by their ids, which no key rotation can invalidate).
        Returns the ids of the cases to purge."""
        profiles = self.phones.keys(phone)
        resumes = [RESUME.format(digest=d) for d in self.vault.digests(phone)]
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*profiles)
                    profile = self.phones.key(phone)
                    case_ids: list[str] = []
                    stale: dict[str, list[bytes]] = {}
                    for key in profiles:
                        raw = pipe.hgetall(key)
                        for case_id in (raw.get(b"cases") or b"").decode().split(","):
                            if case_id and case_id not in case_ids:
                                case_ids.append(case_id)
                        stale[key] = [f for f in raw if f not in _KEPT]
                    pipe.multi()
                    pipe.hset(
                        profile,
                        mapping={
                            ENCRYPTED_FIELD + "phone": self.vault.encrypt(phone),
                            "stop": "1",
                            "stop_at": repr(now),
                        },
                    )
                    for key, fields in stale.items():
                        if fields:
                            pipe.hdel(key, *fields)
                    pipe.delete(*resumes)
                    if case_ids:
                        then(case_ids, pipe)
                    pipe.execute()
                    return case_ids
                except redis.WatchError:
                    continue

    def purge_cases(self, case_ids: Iterable[str]) -> int:
        """Remove her number and words from these cases (they stay open and alerted, without
        her number); returns the cases purged."""
        return sum(int(self._purge_case(keys=[CASE.format(id=c)])) for c in case_ids)

    def purge_phone(self, digest: str) -> int:
        """Purge jobs enqueued by older versions carry her phone's keyed hash: purge the cases
        its profile lists and drop the profile but her STOP. Cases purged."""
        key = PHONE.format(digest=digest)
        profile = self.redis.hgetall(key)
        case_ids = [c for c in (profile.get(b"cases") or b"").decode().split(",") if c]
        purged = self.purge_cases(case_ids)
        extra = [f for f in profile if f not in _KEPT]
        with self.redis.pipeline(transaction=True) as pipe:
            if extra:
                pipe.hdel(key, *extra)
            pipe.delete(RESUME.format(digest=digest))
            pipe.execute()
        return purged
