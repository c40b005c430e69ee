"""Route names to senders, built from plain values by the composition roots."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.channels.android import AndroidSender
from gateway.channels.base import Sender
from gateway.channels.console import ConsoleSender
from gateway.channels.twilio import TwilioSender

BUILDERS: Mapping[str, Callable[..., Sender]] = {
    "twilio": lambda o: TwilioSender(
        o["twilio_account_sid"],
        o["twilio_auth_token"],
        o["twilio_from"],
        o["twilio_api_url"],
        status_url=o["public_url"] + "/sms/twilio/status",
        validity=o["validity"],
        read_timeout=o["send_timeout"],
    ),
    "android": lambda o: AndroidSender(
        o["android_gateway_url"],
        o["android_gateway_user"],
        o["android_gateway_password"],
        validity=o["validity"],
        read_timeout=o["send_timeout"],
    ),
    "console": lambda o: ConsoleSender(o["store"]),
}


def build(routes: tuple[str, ...], options: Mapping[str, object]) -> list[Sender]:
    """The senders for the configured routes, in order."""
    return [BUILDERS[name](options) for name in routes]
