"""Sending through SMS Gateway for Android's API, with explicit timeouts."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway.channels.base import CONNECT_TIMEOUT, READ_TIMEOUT, Inbound, Outbound, SendResult


class AndroidSender:
    """Sends through the SMS Gateway for Android API (POST /messages, GET /messages/{id}).

    The PyPI client `android-sms-gateway` makes its requests without a timeout, so a phone that
    stops answering would hang a worker; these two calls are made here with explicit timeouts.
    Our message id is passed as the gateway's message id, which makes a resend idempotent.
    """

    name = "android"
    delivers_on_handover = False  # a signed webhook event says "delivered"

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        validity: int = 3600,
        read_timeout: float = READ_TIMEOUT,
    ):
        import requests

        self.timeout = (CONNECT_TIMEOUT, read_timeout)
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (user, password)
        self.validity = validity

    def send(self, message: Outbound) -> SendResult:
        """Hand the message to the phone; 5xx, 429 and network errors are retryable."""
        import requests

        payload = {
            "id": message.message_id,
            "textMessage": {"text": message.body},
            "phoneNumbers": [message.to],
            "withDeliveryReport": True,
            "ttl": self.validity,
        }
        try:
            response = self.session.post(f"{self.url}/messages", json=payload, timeout=self.timeout)
        except requests.RequestException as error:
            return SendResult(
                ok=False,
                retryable=True,
                error=f"android {type(error).__name__}",
                ambiguous=isinstance(error, requests.ReadTimeout),
            )
        if response.status_code in (200, 201, 202):
            return SendResult(ok=True, provider_id=message.message_id)
        retryable = response.status_code >= 500 or response.status_code == 429
        return SendResult(ok=False, retryable=retryable, error=f"android {response.status_code}")

    def find(self, message: Outbound, since: float) -> str | None:
        """The gateway's id for this message when the phone already has it, else None."""
        import requests

        try:
            response = self.session.get(
                f"{self.url}/messages/{message.message_id}", timeout=self.timeout
            )
        except requests.RequestException:
            raise ConnectionError("android: cannot check an earlier send") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ConnectionError(f"android: checking an earlier send gave {response.status_code}")
        return message.message_id

    def missed(self, since: float, until: float, phones: Sequence[str]) -> list[Inbound]:
        """Ask each phone to send its inbox of [since, until) again as sms:received webhooks
        (POST /messages/inbox/export); the webhooks' dedupe drops what came before. []."""
        import requests

        stamp = "%Y-%m-%dT%H:%M:%SZ"
        window = {"since": time.strftime(stamp, time.gmtime(since)),
                  "until": time.strftime(stamp, time.gmtime(until))}  # fmt: skip
        for phone in phones:
            body = {"deviceId": phone, **window}
            try:
                response = self.session.post(
                    f"{self.url}/messages/inbox/export", json=body, timeout=self.timeout
                )
            except requests.RequestException:
                raise ConnectionError("android: cannot ask for the inbox") from None
            if response.status_code not in (200, 201, 202):
                raise ConnectionError(f"android: the inbox export gave {response.status_code}")
        return []
