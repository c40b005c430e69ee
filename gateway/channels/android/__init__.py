"""SMS Gateway for Android (an app on a phone with a local SIM): signed webhooks in.

Webhooks carry X-Signature = hex(HMAC-SHA256(signing key, raw body + X-Timestamp)) and
X-Timestamp in unix seconds. The app retries any answer that is not 2xx for days, so every
event kind it documents is answered 2xx (those we have no use for are ignored) and a body we can
never understand gets a 400 naming why, never a 5xx.

Here: its settings, its webhook, its status table and the channel that registers them
(CHANNEL); the signature check and event parser are in `events`, the sender in `sender`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.channels.android.events import (
    EVENTS,
    STATUS,
    AndroidAuthError,
    AndroidFormError,
    parse,
    sign,
    verify,
)
from gateway.channels.android.sender import AndroidSender
from gateway.channels.base import (
    Channel,
    Common,
    Env,
    Gateway,
    Request,
    Response,
    Route,
    TryAgain,
)

__all__ = ["CHANNEL", "EVENTS", "STATUS", "AndroidSender", "Config", "receive", "sign", "verify"]

log = logging.getLogger(__name__)

WEBHOOK_SECRET = "ANDROID_WEBHOOK_SECRET"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Config:
    """ANDROID_* settings; the gateway's URL, user and password are required when SMS_ROUTES
    names android. The webhook secret is made up in development when unset."""

    gateway_url: str = ""
    user: str = ""
    password: str = ""
    webhook_secret: str = ""

    @classmethod
    def read(cls, env: Env, needed: bool, generated: Mapping[str, str]) -> Config:
        return cls(
            gateway_url=env.url("ANDROID_GATEWAY_URL", None if needed else ""),
            user=env.text("ANDROID_GATEWAY_USER", "", needed=needed),
            password=env.text("ANDROID_GATEWAY_PASSWORD", "", needed=needed),
            webhook_secret=env.text(WEBHOOK_SECRET, generated.get(WEBHOOK_SECRET, "")),
        )

    def secrets(self) -> tuple[str, ...]:
        return (self.password, self.webhook_secret)


# ---- webhooks ----------------------------------------------------------------------------------
def _json(status: str) -> Response:
    return Response(json.dumps({"status": status}) + "\n", mimetype="application/json")


def receive(request: Request, gateway: Gateway, config: Config) -> Response:
    """A webhook event from SMS Gateway for Android: signature and freshness checked."""
    body = request.get_data()
    try:
        verify(
            config.webhook_secret,
            body,
            request.headers.get("X-Signature", ""),
            request.headers.get("X-Timestamp", ""),
            time.time(),
        )
        event = parse(body)
    except AndroidAuthError as error:
        log.warning("android: %s", error)
        return Response(str(error), error.status)
    except AndroidFormError as error:
        return Response(f"bad Android webhook: {error}", 400)
    if event.inbound is not None:
        try:
            gateway.take_sms(event.inbound)
        except TryAgain as error:
            log.error("android: inbound SMS neither handled nor spooled: %s", error)
            return Response("try again", 503)  # the app retries
        answer = "ok"
    elif event.kind not in STATUS:
        if event.kind not in EVENTS:
            log.warning("android: event kind %r not documented; ignored", event.kind[:40])
        answer = "ignored"  # system:ping and app:started say no more than that it is alive
    else:
        gateway.status(event.message_id, STATUS[event.kind], error=event.state_error)
        answer = "ok"
    gateway.heard("android", event.device)  # every signed event says its phone is alive
    return _json(answer)


def _sender(config: Config, common: Common) -> AndroidSender:
    return AndroidSender(
        config.gateway_url,
        config.user,
        config.password,
        validity=common.validity,
        read_timeout=common.read_timeout,
    )


CHANNEL = Channel(
    name="android",
    config=Config,
    routes=(Route("sms_android", "/sms/android", receive),),
    sender=_sender,
    secrets=("ANDROID_GATEWAY_PASSWORD", WEBHOOK_SECRET),
    generated=(WEBHOOK_SECRET,),
)
