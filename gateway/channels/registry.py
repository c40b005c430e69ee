"""Every channel, in one list: adding one is its module plus one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.channels import africastalking, android, console, twilio
from gateway.channels.base import Channel, Common, Sender

CHANNELS: tuple[Channel, ...] = (
    twilio.CHANNEL,
    android.CHANNEL,
    console.CHANNEL,
    africastalking.CHANNEL,
)

BY_NAME: Mapping[str, Channel] = {channel.name: channel for channel in CHANNELS}
# The names SMS_ROUTES may list: the channels that send SMS.
ROUTES: tuple[str, ...] = tuple(c.name for c in CHANNELS if c.sender is not None)


def build(routes: tuple[str, ...], configs: Mapping[str, Any], common: Common) -> list[Sender]:
    """The senders for the configured routes, in order."""
    senders = []
    for name in routes:
        make = BY_NAME[name].sender
        assert make is not None, f"{name} sends no SMS"
        senders.append(make(configs[name], common))
    return senders
