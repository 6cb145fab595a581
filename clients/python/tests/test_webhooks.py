"""verify_webhook, without a server."""

import base64
import hashlib
import hmac
import json

import pytest

from oauth_vault import WebhookVerificationError, verify_webhook

# The example of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_" + base64.b64encode(b"a secret of twenty-four!").decode()
NOW = 1_700_000_000


def sign(body: bytes, msg_id: str = "msg_1", timestamp: int = NOW, secret: str = SECRET) -> dict:
    key = base64.b64decode(secret[len("whsec_") :])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


BODY = json.dumps({"type": "connection.created", "timestamp": "2023-11-14T22:13:20Z", "data": {"connection_id": "con_1"}}).encode()


def test_the_specifications_example_verifies():
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": SPEC_SIGNATURE}
    assert verify_webhook(SPEC_BODY, headers, SPEC_SECRET, now=SPEC_TIMESTAMP) == {"test": 2432232314}


def test_a_valid_webhook_returns_its_event():
    event = verify_webhook(BODY, sign(BODY), SECRET, now=NOW)
    assert event["type"] == "connection.created"
    assert event["data"]["connection_id"] == "con_1"


def test_str_and_bytes_payloads_verify_alike():
    body = json.dumps({"type": "test", "timestamp": "t", "data": {"message": "café ☕"}}, ensure_ascii=False)
    headers = sign(body.encode("utf-8"))
    assert verify_webhook(body, headers, SECRET, now=NOW) == verify_webhook(body.encode("utf-8"), headers, SECRET, now=NOW)
    assert verify_webhook(bytearray(body.encode("utf-8")), headers, SECRET, now=NOW)["data"]["message"] == "café ☕"


def test_header_names_are_case_insensitive():
    headers = {k.upper(): v for k, v in sign(BODY).items()}
    assert verify_webhook(BODY, headers, SECRET, now=NOW)["type"] == "connection.created"


def test_a_tampered_body_is_rejected():
    headers = sign(BODY)
    tampered = BODY.replace(b"con_1", b"con_2")
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(tampered, headers, SECRET, now=NOW)


def test_a_changed_id_or_timestamp_is_rejected():
    headers = sign(BODY)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, {**headers, "webhook-id": "msg_2"}, SECRET, now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, {**headers, "webhook-timestamp": str(NOW + 1)}, SECRET, now=NOW)


def test_the_wrong_secret_is_rejected():
    other = "whsec_" + base64.b64encode(b"another secret, 24 bytes").decode()
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, sign(BODY), other, now=NOW)


def test_old_and_future_timestamps_are_rejected():
    old = sign(BODY, timestamp=NOW - 301)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(BODY, old, SECRET, now=NOW)
    future = sign(BODY, timestamp=NOW + 301)
    with pytest.raises(WebhookVerificationError, match="future"):
        verify_webhook(BODY, future, SECRET, now=NOW)
    # within the tolerance, or with a wider one, or none
    assert verify_webhook(BODY, sign(BODY, timestamp=NOW - 299), SECRET, now=NOW)
    assert verify_webhook(BODY, old, SECRET, now=NOW, tolerance=600)
    assert verify_webhook(BODY, old, SECRET, now=NOW, tolerance=None)


def test_the_clock_is_the_default_now():
    import time

    assert verify_webhook(BODY, sign(BODY, timestamp=int(time.time())), SECRET)["type"] == "connection.created"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, sign(BODY, timestamp=NOW), SECRET)


def test_one_valid_signature_among_several_is_enough():
    valid = sign(BODY)["webhook-signature"]
    forged = "v1," + base64.b64encode(b"x" * 32).decode()
    headers = {**sign(BODY), "webhook-signature": f"{forged} v1a,abc {valid}"}
    assert verify_webhook(BODY, headers, SECRET, now=NOW)["type"] == "connection.created"
    headers["webhook-signature"] = f"{forged} v2,{valid[3:]} garbage é"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, SECRET, now=NOW)


def test_missing_or_malformed_headers_are_rejected():
    headers = sign(BODY)
    for name in headers:
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(WebhookVerificationError, match="missing"):
            verify_webhook(BODY, partial, SECRET, now=NOW)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify_webhook(BODY, {**headers, "webhook-timestamp": "yesterday"}, SECRET, now=NOW)


def test_a_body_that_is_not_a_json_object_is_rejected():
    for body in (b"not json", b"[1, 2]"):
        with pytest.raises(WebhookVerificationError, match="JSON"):
            verify_webhook(body, sign(body), SECRET, now=NOW)


def test_a_secret_that_is_not_a_signing_secret_is_a_value_error():
    with pytest.raises(ValueError):
        verify_webhook(BODY, sign(BODY), "whsec_not base64!", now=NOW)
    with pytest.raises(ValueError):
        verify_webhook(BODY, sign(BODY), "whsec_", now=NOW)
