"""The directory as plain data for its change history: what changed, never whose phone."""

from __future__ import annotations

from collections.abc import Callable

from gateway.directory.model import Directory


def snapshot(found: Directory, digest: Callable[[str], str]) -> dict:
    """The directory as plain data for change history: phones only as keyed hashes."""
    return {
        "responders": {
            r.id: {
                "phone": digest(r.phone),
                "role": r.role,
                "tier": r.tier,
                "languages": list(r.languages),
                "districts": list(r.districts),
            }
            for r in found.responders.values()
        },
        "districts": {
            d.id: {"organisation": d.organisation, "names": dict(d.names)}
            for d in found.districts.values()
        },
    }


def changes(before: dict | None, after: dict) -> list[tuple[str, str, str]]:
    """(event, id, changed fields) between two snapshots, for the audit trail."""
    before = before or {"responders": {}, "districts": {}}
    out = []
    for section in ("responders", "districts"):
        kind = section[:-1]
        old, new = before.get(section, {}), after[section]
        for item in sorted(new.keys() - old.keys()):
            out.append((f"{kind}_added", item, ""))
        for item in sorted(old.keys() - new.keys()):
            out.append((f"{kind}_removed", item, ""))
        for item in sorted(old.keys() & new.keys()):
            changed = sorted(k for k in new[item] if new[item][k] != old[item].get(k))
            if changed:
                out.append((f"{kind}_changed", item, ",".join(changed)))
    return out
