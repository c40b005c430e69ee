"""The console outbox as phones' inboxes: one per responder, and the simulated woman's own."""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.directory import Directory
from gateway.phone import synthetic

FIELDS = ("id", "body", "purpose", "state", "segments", "encoding", "created")


def group(
    messages: list[dict[str, str]],
    directory: Directory,
    own: str | None,
    transcript: Callable[[str], list[dict]] = lambda phone: [],
    ref: str = "",
    case_id: str = "",
) -> dict:
    """Every synthetic responder's inbox (also before anything reached it; those with messages
    or a transcript first, each group in tier order) and
    the inbox of `own`, messages newest first, each with the phone's transcript (what it typed
    and sent, newest first). With `ref`, only what belongs to that case: messages of `case_id`
    or naming the reference, transcript entries naming it.

    Messages to any other number outside the directory are left out: they belong to other
    simulated women, and the page shows nothing of hers but her own phone. So are responders
    with a real (not synthetic) number: their messages may be about real cases.
    """
    named = re.compile(rf"(?<!\d){re.escape(ref)}(?!\d)") if ref else None

    def wanted(message: dict[str, str]) -> bool:
        if named is None:
            return True
        return bool(case_id and message.get("case") == case_id) or bool(
            named.search(message.get("body", ""))
        )

    def said(phone: str) -> list[dict]:
        entries = transcript(phone)
        if named is None:
            return entries
        return [e for e in entries if any(named.search(str(v)) for v in e.values())]

    by_phone: dict[str, list[dict]] = {}
    ordered = sorted(messages, key=lambda m: float(m.get("created") or 0), reverse=True)
    for message in ordered:
        if wanted(message):
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
            "messages": by_phone.get(r.phone, []),
            "transcript": said(r.phone),
        }
        for r in responders
        if synthetic(r.phone)
    ]
    inboxes.sort(key=lambda box: not (box["messages"] or box["transcript"]))  # stable
    mine = None
    if own is not None:
        mine = {"phone": own, "messages": by_phone.get(own, []), "transcript": said(own)}
    return {"responders": inboxes, "phone": mine, "ref": ref}


def _entry(message: dict[str, str]) -> dict:
    entry: dict = {name: message.get(name, "") for name in FIELDS}
    entry["segments"] = int(entry["segments"] or 0)
    entry["created"] = float(entry["created"] or 0)
    return entry
