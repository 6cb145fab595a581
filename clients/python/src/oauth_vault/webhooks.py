"""Verifying the vault's webhooks (Standard Webhooks signatures)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Dict, Mapping, Optional, TypedDict, Union

from .errors import WebhookVerificationError

__all__ = ["WebhookEvent", "verify_webhook"]

SECRET_PREFIX = "whsec_"


class WebhookEvent(TypedDict):
    """A webhook's body."""

    #: e.g. ``connection.created``, ``connection.needs_reauthorization``,
    #: ``connection.deleted``, ``test``.
    type: str
    #: When the event happened, RFC 3339.
    timestamp: str
    #: For connection events: ``connection_id``, ``app_id``, ``end_user_id``,
    #: ``provider`` and ``message``.
    data: Dict[str, Any]


def verify_webhook(
    payload: Union[bytes, str],
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: Optional[int] = 300,
    now: Optional[float] = None,
) -> WebhookEvent:
    """Checks a webhook's signature and age and returns its parsed body.

    ``payload`` is the request's raw body, exactly as received (parse it
    only after); ``headers`` its headers (any case); ``secret`` the app's
    signing secret, ``whsec_…``. A webhook is accepted when one of the
    ``v1,`` signatures in ``webhook-signature`` is the HMAC-SHA256 of
    ``"{webhook-id}.{webhook-timestamp}.{body}"`` and its timestamp is at
    most ``tolerance`` seconds from now (``None``: any age). Keep the
    ``webhook-id`` of handled webhooks to ignore redeliveries. ``now`` (unix
    seconds) stands for the clock, for tests.

    Raises :class:`WebhookVerificationError` when the webhook does not check
    out, :class:`ValueError` when ``secret`` is not a signing secret.
    """
    key = _secret_key(secret)
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number of seconds") from None
    if tolerance is not None:
        current = time.time() if now is None else now
        if sent_at < current - tolerance:
            raise WebhookVerificationError("the webhook's timestamp is too old")
        if sent_at > current + tolerance:
            raise WebhookVerificationError("the webhook's timestamp is too far in the future")

    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    signed = f"{msg_id}.{timestamp}.".encode("utf-8") + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    valid = False
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            valid = True
    if not valid:
        raise WebhookVerificationError("no valid signature in webhook-signature")
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the webhook's body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the webhook's body is not a JSON object")
    return event  # type: ignore[return-value]


def _secret_key(secret: str) -> bytes:
    text = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret is not a signing secret (whsec_ and base64)") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key
