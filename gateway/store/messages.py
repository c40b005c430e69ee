"""Outbound messages and the console outbox."""

from __future__ import annotations

import time
import uuid
from typing import Any

from gateway.store.keys import ENCRYPTED_FIELD, MESSAGE, OUTBOX, OUTBOX_MAX


class MessageStore:
    """Outbound messages and the console outbox."""

    redis: Any
    vault: Any

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
