"""The console outbox as phones' inboxes: one per responder, and the simulated woman's own."""

from __future__ import annotations

from gateway.directory import Directory
from gateway.phone import synthetic

FIELDS = ("id", "body", "purpose", "state", "segments", "encoding", "created")


def group(messages: list[dict[str, str]], directory: Directory, own: str | None) -> dict:
    """Responders' inboxes (in tier order) and the inbox of `own`, messages oldest first.

    Messages to any other number outside the directory are left out: they belong to other
    simulated women, and the page shows nothing of hers but her own phone. So are responders
    with a real (not synthetic) number: their messages may be about real cases.
    """
    by_phone: dict[str, list[dict]] = {}
    for message in sorted(messages, key=lambda m: float(m.get("created") or 0)):
        by_phone.setdefault(message.get("to", ""), []).append(_entry(message))
    responders = sorted(directory.responders.values(), key=lambda r: (r.tier, r.id))
    inboxes = [
        {
            "id": r.id,
            "name": r.name,
            "role": r.role,
            "tier": r.tier,
            "phone": r.phone,
            "lang": r.languages[0] if r.languages else "",
            "messages": by_phone[r.phone],
        }
        for r in responders
        if r.phone in by_phone and synthetic(r.phone)
    ]
    mine = None
    if own is not None:
        mine = {"phone": own, "messages": by_phone.get(own, [])}
    return {"responders": inboxes, "phone": mine}


def _entry(message: dict[str, str]) -> dict:
    entry: dict = {name: message.get(name, "") for name in FIELDS}
    entry["segments"] = int(entry["segments"] or 0)
    entry["created"] = float(entry["created"] or 0)
    return entry
