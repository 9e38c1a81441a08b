"""The ``meta`` provider: the hub.challenge handshake, X-Hub-Signature-256, WhatsApp/Messenger bodies."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from hub.plugin import HookhubError, InvalidPayload, SignatureInvalid
from plugins.providers import meta
from tests.providers.helpers import hex_hmac, make_conn, make_request, registered

PROVIDER = registered(meta, "meta")
APP_SECRET = "test_app_secret"
VERIFY_TOKEN = "my-verify-token"

# The shared vector: non-ASCII arrives \u-escaped, and that exact byte string is what is signed.
VECTOR_BODY = (b'{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":'
               b'[{"text":{"body":"\\u00e4\\u00f6\\u00e5"}}]}}]}]}')
VECTOR_SIGNATURE = "sha256=8b287061d050914baf5a7a6e9ba51074de4ad0c1874440b51bb79210cef40f06"


def conn(app_secret: str = APP_SECRET, verify_token: str = VERIFY_TOKEN, previous: dict | None = None):
    return make_conn("meta", secrets={"app_secret": app_secret, "verify_token": verify_token}, previous=previous)


def post(body: bytes | str, secret: str = APP_SECRET, signature: str | None = None):
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return make_request(raw, {"X-Hub-Signature-256": signature or "sha256=" + hex_hmac(secret, raw)})


def handshake(**query: str):
    return make_request(b"", method="GET", url="https://hub.example.com/hooks/meta/c1?" + urlencode(query))


# --------------------------------------------------------------------------- handshake

def test_the_handshake_echoes_the_challenge_as_plain_text():
    response = PROVIDER.handshake(handshake(**{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                               "hub.challenge": "1158201444"}), conn())
    assert response.status == 200
    assert response.body == "1158201444"
    assert response.content_type.startswith("text/plain")


def test_the_handshake_accepts_a_previous_verify_token_during_rotation():
    response = PROVIDER.handshake(handshake(**{"hub.mode": "subscribe", "hub.verify_token": "old-token",
                                               "hub.challenge": "42"}),
                                  conn(previous={"verify_token": ("old-token",)}))
    assert response.body == "42"


@pytest.mark.parametrize("query, configured, words", [
    ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, VERIFY_TOKEN, "does not match"),
    ({"hub.mode": "subscribe", "hub.challenge": "1"}, VERIFY_TOKEN, "hub.verify_token query parameter is missing"),
    ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, VERIFY_TOKEN,
     "must be 'subscribe'"),
    ({"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, VERIFY_TOKEN, "hub.mode query parameter is missing"),
    ({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, "", "no verify token configured"),
    ({"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}, "", "no verify token configured"),
])
def test_a_failed_handshake_is_forbidden_with_a_plain_reason(query, configured, words):
    with pytest.raises(HookhubError, match=words) as caught:
        PROVIDER.handshake(handshake(**query), conn(verify_token=configured))
    assert caught.value.status == 403
    assert caught.value.code == "forbidden"
    assert VERIFY_TOKEN not in caught.value.message


def test_a_handshake_without_a_challenge_is_an_invalid_payload():
    with pytest.raises(InvalidPayload, match="hub.challenge"):
        PROVIDER.handshake(handshake(**{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}), conn())


# --------------------------------------------------------------------------- signatures

def test_the_shared_vector_verifies():
    PROVIDER.verify(post(VECTOR_BODY, signature=VECTOR_SIGNATURE), conn())


def test_a_reserialised_body_does_not_verify():
    """Decoding and re-encoding turns \\u00e4 into UTF-8 bytes: the signature must then fail."""
    reserialised = json.dumps(json.loads(VECTOR_BODY), ensure_ascii=False, separators=(",", ":")).encode()
    assert reserialised != VECTOR_BODY
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(post(reserialised, signature=VECTOR_SIGNATURE), conn())


def test_the_vector_parses_to_the_unescaped_text():
    parsed = PROVIDER.parse(post(VECTOR_BODY, signature=VECTOR_SIGNATURE), conn())
    assert parsed.fields["text"] == "äöå"
    assert parsed.event_id is None  # no message id in this body: the core hashes the raw body


def test_a_utf8_body_signed_as_received_verifies():
    PROVIDER.verify(post('{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"日本"}}]}]}'), conn())


def test_a_previous_app_secret_still_verifies_during_rotation():
    PROVIDER.verify(post(b"{}", secret="old-app-secret"), conn(previous={"app_secret": ("old-app-secret",)}))


def test_a_wrong_app_secret_is_refused():
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(post(b"{}", secret="another"), conn())


def test_an_empty_app_secret_is_refused_even_with_a_verify_token():
    with pytest.raises(SignatureInvalid, match="no app secret configured"):
        PROVIDER.verify(post(b"{}", secret=""), conn(app_secret=""))


def test_a_tampered_body_is_refused():
    signature = post(b'{"amount":1}').headers["X-Hub-Signature-256"]
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(post(b'{"amount":9}', signature=signature), conn())


@pytest.mark.parametrize("headers, words", [
    ({}, "X-Hub-Signature-256 header is missing"),
    ({"X-Hub-Signature": "sha1=" + "a" * 40}, "X-Hub-Signature-256 header is missing"),
    ({"X-Hub-Signature-256": "garbage"}, "must start with 'sha256='"),
    ({"X-Hub-Signature-256": "sha1=" + "a" * 40}, "must start with 'sha256='"),
    ({"X-Hub-Signature-256": "sha256=" + "g" * 64}, "not a hex HMAC-SHA256 signature"),
    ({"X-Hub-Signature-256": "sha256=abcd"}, "64 hex digits"),
    ({"X-Hub-Signature-256": "sha256=" + "ä" * 64}, "non-ASCII"),
    ({"X-Hub-Signature-256": "sha256=" + "a" * 50_000}, "too long"),
])
def test_malformed_signature_headers_are_refused_with_a_plain_reason(headers, words):
    with pytest.raises(SignatureInvalid, match=words):
        PROVIDER.verify(make_request(b"{}", headers), conn())


# --------------------------------------------------------------------------- parsing

def whatsapp(*values: dict, entries: int = 1) -> dict:
    changes = [{"field": "messages", "value": {"messaging_product": "whatsapp",
                                               "metadata": {"display_phone_number": "15550001111",
                                                            "phone_number_id": "106540352242922"}, **v}}
               for v in values]
    per_entry = max(1, len(changes) // entries)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": f"WABA{i}", "changes": changes[i * per_entry:(i + 1) * per_entry]}
                      for i in range(entries)]}


MESSAGE = {"from": "16315551181", "id": "wamid.ABGGFlA5Fpa", "timestamp": "1700000000", "type": "text",
           "text": {"body": "this is a text message"}}


def test_a_whatsapp_message_gives_its_id_text_channel_and_time():
    parsed = PROVIDER.parse(post(json.dumps(whatsapp({"messages": [MESSAGE]}))), conn())
    assert parsed.event_id == "wamid.ABGGFlA5Fpa"
    assert parsed.fields == {"message_id": "wamid.ABGGFlA5Fpa", "channel": "106540352242922",
                             "text": "this is a text message", "event_ts": "2023-11-14T22:13:20Z",
                             "type": "messages"}                            # the change's field


@pytest.mark.parametrize("state", ["sent", "delivered", "read"])
def test_status_updates_dedupe_on_message_id_and_state(state):
    status = {"id": "wamid.HBgLMTY1", "status": state, "timestamp": "1700000100", "recipient_id": "16315551181"}
    parsed = PROVIDER.parse(post(json.dumps(whatsapp({"statuses": [status]}))), conn())
    assert parsed.event_id == f"wamid.HBgLMTY1:{state}"
    assert parsed.fields["message_id"] == "wamid.HBgLMTY1"
    assert parsed.fields["channel"] == "106540352242922"
    assert parsed.fields["event_ts"] == "2023-11-14T22:15:00Z"
    assert "text" not in parsed.fields


def test_a_message_in_a_later_entry_wins_over_an_earlier_status():
    status = {"id": "wamid.S", "status": "read", "timestamp": "1700000000"}
    body = whatsapp({"statuses": [status]}, {"messages": [MESSAGE]}, entries=2)
    assert len(body["entry"]) == 2
    assert PROVIDER.parse(post(json.dumps(body)), conn()).event_id == "wamid.ABGGFlA5Fpa"


def test_a_button_reply_gives_its_title_as_text():
    message = {"id": "wamid.B", "timestamp": "1700000000", "type": "interactive",
               "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes please"}}}
    parsed = PROVIDER.parse(post(json.dumps(whatsapp({"messages": [message]}))), conn())
    assert parsed.fields["text"] == "Yes please"


def test_a_messenger_message_gives_its_mid_text_and_page():
    body = {"object": "page", "entry": [{"id": "PAGE1", "time": 1700000000123, "messaging": [
        {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE1"}, "timestamp": 1700000000123,
         "message": {"mid": "m_abc", "text": "hello"}}]}]}
    parsed = PROVIDER.parse(post(json.dumps(body)), conn())
    assert parsed.event_id == "m_abc"
    assert parsed.fields == {"message_id": "m_abc", "text": "hello", "channel": "PAGE1",
                             "event_ts": "2023-11-14T22:13:20.123000Z", "type": "messaging"}


@pytest.mark.parametrize("body", [{"object": "whatsapp_business_account", "entry": "nope"},
                                  {"entry": [{"changes": [{"value": {"messages": ["x", None]}}]}]},
                                  [1, 2, 3], "just a string"])
def test_unexpected_shapes_parse_without_an_event_id(body):
    parsed = PROVIDER.parse(post(json.dumps(body)), conn())
    assert parsed.payload == body
    assert parsed.event_id is None


def test_a_body_that_is_not_json_is_an_invalid_payload():
    with pytest.raises(InvalidPayload):
        PROVIDER.parse(post(b"{oops"), conn())


def test_the_provider_requires_both_secrets():
    assert set(PROVIDER.required_secrets) == {"verify_token", "app_secret"}
    fields = PROVIDER.secrets_schema().fields
    assert fields["verify_token"].metadata["secret"] and fields["app_secret"].metadata["secret"]
