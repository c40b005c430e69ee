"""RQ entry points: each takes ids, never phone numbers or message bodies, and calls the service."""

from __future__ import annotations

import functools

from config.settings import load
from gateway import logs
from gateway.compose import build_service
from gateway.service import Service


@functools.cache
def _service() -> Service:
    settings = load()
    logs.configure(settings.log_level)
    return build_service(settings)


def purge_phone(digest: str) -> int:
    """Purge the personal data of the phone with this keyed hash; returns cases touched."""
    return _service().store.purge_phone(digest)
