"""Inbound dedupe: a provider's id, a responder's command, each handled once."""

from __future__ import annotations

import redis

from gateway.privacy import Vault
from gateway.store.keys import (
    RESPONDER_COMMAND,
    RESPONDER_COMMAND_TTL,
    SEEN,
    SEEN_TTL,
)
from gateway.store.pipes import Pipeline, on


def replayed(channel: str) -> str:
    """The dedupe channel of a spooled SMS's replay (the provider id's own mark is not it)."""
    return "spool-" + channel


class Deliveries:
    """Inbound dedupe: a provider's id, a responder's command, each taken once."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault

    def _seen_keys(self, channel: str, external_id: str) -> list[str]:
        return [SEEN.format(channel=channel, id=d) for d in self.vault.digests(external_id)]

    def first(self, channel: str, external_id: str, ttl: int = SEEN_TTL) -> bool:
        """True the first time a provider id is seen; False for every repeat within 30 days
        (or `ttl` seconds, for a mark that keep() makes lasting once handled)."""
        # The id is kept encrypted, so `flask keys rotate` can move the key to the new hash.
        newest, *older = self._seen_keys(channel, external_id)
        if older and self.redis.exists(*older):
            return False  # seen before the new key was put first, not yet re-keyed
        token = self.vault.encrypt(external_id)
        return bool(self.redis.set(newest, token, nx=True, ex=ttl))

    def seen(self, channel: str, external_id: str) -> bool:
        """True when a provider id was taken before (a read only: first() decides)."""
        return bool(self.redis.exists(*self._seen_keys(channel, external_id)))

    def handled(self, channel: str, external_id: str, pipeline: Pipeline | None = None) -> None:
        """Mark a provider id seen for the full window, whatever first() said before: queued in
        the transaction of what handling it wrote (a case), the mark is there exactly when
        that is."""
        token = self.vault.encrypt(external_id)
        newest = self._seen_keys(channel, external_id)[0]
        on(self.redis, pipeline).set(newest, token, ex=SEEN_TTL)

    def keep(self, channel: str, external_id: str, pipeline: Pipeline | None = None) -> None:
        """Make a first() mark last the full dedupe window."""
        on(self.redis, pipeline).expire(self._seen_keys(channel, external_id)[0], SEEN_TTL)

    def forget(self, channel: str, external_id: str, pipeline: Pipeline | None = None) -> None:
        """Undo first() when handling failed, so a provider retry is not dropped."""
        on(self.redis, pipeline).delete(*self._seen_keys(channel, external_id))

    def first_command(self, responder_id: str, command: str, case_id: str) -> bool:
        """True the first time a responder sends this command for this case."""
        key = RESPONDER_COMMAND.format(responder=responder_id, command=command, case=case_id)
        return bool(self.redis.set(key, "1", nx=True, ex=RESPONDER_COMMAND_TTL))
