"""The ``slack`` provider: v0 signatures, the 300 s window, and the shapes of Slack requests."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from hub.plugin import InvalidPayload, ProviderConfigSchema, SignatureInvalid, TimestampOutOfWindow
from plugins.providers import slack
from tests.providers.helpers import FORM, JSON, NOW_TS, make_conn, make_request, registered

# The published vector (Slack's docs and slack_sdk's own tests).
VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TS = 1531420618
VECTOR_BODY = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
               "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
               "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
               "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

SECRET = "slack-signing-secret-0123456789"
PROVIDER = registered(slack, "slack")


def conn(secret: str = SECRET, previous: tuple[str, ...] = ()):
    return make_conn("slack", secrets={"signing_secret": secret}, previous={"signing_secret": previous})


def signed(body: bytes | str, *, secret: str = SECRET, ts: int = NOW_TS, content_type: str = JSON,
           extra: dict[str, str] | None = None, received_at: int = NOW_TS):
    """A request signed by the real slack_sdk."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=raw)
    headers = {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(ts), **(extra or {})}
    return make_request(raw, headers, content_type=content_type, received_at=received_at)


def test_the_published_vector_verifies():
    request = make_request(VECTOR_BODY, {"X-Slack-Signature": VECTOR_SIGNATURE,
                                         "X-Slack-Request-Timestamp": str(VECTOR_TS)},
                           content_type=FORM, received_at=VECTOR_TS)
    PROVIDER.verify(request, conn(VECTOR_SECRET))


def test_the_published_vector_fails_with_another_secret():
    request = make_request(VECTOR_BODY, {"X-Slack-Signature": VECTOR_SIGNATURE,
                                         "X-Slack-Request-Timestamp": str(VECTOR_TS)},
                           content_type=FORM, received_at=VECTOR_TS)
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(request, conn(VECTOR_SECRET + "x"))


def test_a_body_signed_by_slack_sdk_verifies_including_unicode():
    body = json.dumps({"type": "event_callback", "event": {"text": "grüße 👋"}}, ensure_ascii=False)
    PROVIDER.verify(signed(body), conn())


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_inside_the_window_pass(offset):
    PROVIDER.verify(signed(b"{}", ts=NOW_TS + offset), conn())


@pytest.mark.parametrize("offset, words", [(-301, "301 seconds old"), (301, "301 seconds in the future"),
                                           (-86400, "86400 seconds old")])
def test_timestamps_outside_the_window_are_refused_with_their_age(offset, words):
    with pytest.raises(TimestampOutOfWindow, match=words):
        PROVIDER.verify(signed(b"{}", ts=NOW_TS + offset), conn())


def test_a_previous_secret_still_verifies_during_rotation():
    PROVIDER.verify(signed(b"{}", secret="old-secret"), conn(previous=("old-secret",)))


def test_a_secret_outside_current_and_previous_is_refused():
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(signed(b"{}", secret="stranger"), conn(previous=("old-secret",)))


def test_an_empty_configured_secret_is_refused_without_comparing():
    request = signed(b"{}", secret="x")
    with pytest.raises(SignatureInvalid, match="no signing secret configured"):
        PROVIDER.verify(request, make_conn("slack", secrets={"signing_secret": ""}))


def test_a_tampered_body_is_refused():
    good = signed(b'{"text":"pay 10"}')
    tampered = make_request(b'{"text":"pay 99"}', dict(good.headers), received_at=NOW_TS)
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(tampered, conn())


def _headers_with(**changes):
    good = signed(b"{}")
    headers = dict(good.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return headers


@pytest.mark.parametrize("changes, error, words", [
    ({"X_Slack_Signature": None}, SignatureInvalid, "X-Slack-Signature header is missing"),
    ({"X_Slack_Request_Timestamp": None}, TimestampOutOfWindow, "X-Slack-Request-Timestamp header is missing"),
    ({"X_Slack_Signature": "garbage"}, SignatureInvalid, "must start with 'v0='"),
    ({"X_Slack_Signature": "v1=" + "a" * 64}, SignatureInvalid, "must start with 'v0='"),
    ({"X_Slack_Signature": "v0=" + "z" * 64}, SignatureInvalid, "not a hex HMAC-SHA256 signature"),
    ({"X_Slack_Signature": "v0=abc"}, SignatureInvalid, "64 hex digits"),
    ({"X_Slack_Signature": "v0=" + "é" * 64}, SignatureInvalid, "non-ASCII"),
    ({"X_Slack_Signature": "v0=" + "a" * 100_000}, SignatureInvalid, "too long"),
    ({"X_Slack_Request_Timestamp": "yesterday"}, TimestampOutOfWindow, "not a Unix timestamp"),
    ({"X_Slack_Request_Timestamp": "1e9"}, TimestampOutOfWindow, "not a Unix timestamp"),
    ({"X_Slack_Request_Timestamp": "-5"}, TimestampOutOfWindow, "not a Unix timestamp"),
    ({"X_Slack_Request_Timestamp": "9" * 5000}, TimestampOutOfWindow, "too long"),
])
def test_malformed_headers_are_refused_with_a_plain_reason(changes, error, words):
    request = make_request(b"{}", _headers_with(**changes), received_at=NOW_TS)
    with pytest.raises(error, match=words):
        PROVIDER.verify(request, conn())


def test_error_messages_never_reveal_the_secret_or_the_expected_signature():
    request = signed(b'{"a":1}')
    expected = request.headers["X-Slack-Signature"]
    tampered = make_request(b'{"a":2}', dict(request.headers), received_at=NOW_TS)
    with pytest.raises(SignatureInvalid) as caught:
        PROVIDER.verify(tampered, conn())
    assert SECRET not in caught.value.message
    assert expected[3:] not in caught.value.message


def test_url_verification_is_answered_with_the_challenge_and_not_stored():
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    request = signed(body)
    PROVIDER.verify(request, conn())
    parsed = PROVIDER.parse(request, conn())
    assert parsed.store is False
    assert parsed.reply.status == 200
    assert parsed.reply.content_type == "application/json"
    assert json.loads(parsed.reply.body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_url_verification_without_a_challenge_is_an_invalid_payload():
    with pytest.raises(InvalidPayload, match="challenge"):
        PROVIDER.parse(signed(b'{"type":"url_verification"}'), conn())


EVENT_CALLBACK = {
    "token": "t", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
    "event_id": "Ev08MFMKH6", "event_time": 1700000000,
    "event": {"type": "message", "channel": "C2147483705", "user": "U2147483697", "text": "Hello wörld",
              "ts": "1355517523.000005", "event_ts": "1355517523.000005", "channel_type": "channel"},
}


def test_an_event_callback_gives_its_event_id_and_envelope_fields():
    parsed = PROVIDER.parse(signed(json.dumps(EVENT_CALLBACK)), conn())
    assert parsed.store is True and parsed.reply is None
    assert parsed.payload == EVENT_CALLBACK
    assert parsed.event_id == "Ev08MFMKH6"
    assert parsed.fields == {"channel": "C2147483705", "text": "Hello wörld", "message_id": "1355517523.000005",
                             "event_ts": "2012-12-14T20:38:43.000005Z", "type": "message"}   # event.type


def test_a_slack_retry_carries_the_same_event_id_so_it_dedupes():
    body = json.dumps(EVENT_CALLBACK)
    first = PROVIDER.parse(signed(body), conn())
    retry = signed(body, extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    PROVIDER.verify(retry, conn())
    assert PROVIDER.parse(retry, conn()).event_id == first.event_id


def test_an_event_without_a_channel_string_reads_the_reaction_item():
    body = {"type": "event_callback", "event_id": "Ev2", "event": {
        "type": "reaction_added", "reaction": "thumbsup", "event_ts": "1360782804.083113",
        "item": {"type": "message", "channel": "C0G9QF9GZ", "ts": "1360782400.498405"}}}
    parsed = PROVIDER.parse(signed(json.dumps(body)), conn())
    assert parsed.fields["channel"] == "C0G9QF9GZ"
    assert parsed.fields["message_id"] == "1360782400.498405"
    assert "text" not in parsed.fields


def test_a_slash_command_gives_the_form_trigger_id_channel_and_text():
    body = urlencode({"command": "/deploy", "text": "api to prod", "channel_id": "C123", "user_id": "U1",
                      "trigger_id": "13345224609.738474920.8088930838d88f008e0"})
    request = signed(body, content_type=FORM)
    PROVIDER.verify(request, conn())
    parsed = PROVIDER.parse(request, conn())
    assert parsed.payload["command"] == "/deploy"
    assert parsed.event_id == "13345224609.738474920.8088930838d88f008e0"
    assert parsed.fields["text"] == "api to prod"
    assert parsed.fields["channel"] == "C123"


def test_the_published_slash_command_parses_as_a_form():
    request = make_request(VECTOR_BODY, {"X-Slack-Request-Timestamp": str(VECTOR_TS)}, content_type=FORM)
    parsed = PROVIDER.parse(request, conn())
    assert parsed.payload["response_url"].startswith("https://hooks.slack.com/commands/")
    assert parsed.event_id == "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert parsed.fields["channel"] == "G8PSS9T3V"
    assert parsed.fields["event_ts"] == "2018-07-12T18:36:58Z"


BLOCK_ACTIONS = {
    "type": "block_actions", "trigger_id": "12466734323.1395872398", "user": {"id": "U1"},
    "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "C9"},
    "channel": {"id": "C9", "name": "ops"}, "message": {"ts": "1548261231.000200", "text": "Approve deploy?"},
    "actions": [{"action_id": "approve", "value": "yes", "action_ts": "1548426417.840180"}],
}


def test_interactivity_decodes_the_payload_field_as_json():
    body = urlencode({"payload": json.dumps(BLOCK_ACTIONS)})
    request = signed(body, content_type=FORM)
    PROVIDER.verify(request, conn())
    parsed = PROVIDER.parse(request, conn())
    assert parsed.payload == BLOCK_ACTIONS
    assert parsed.event_id == "12466734323.1395872398"
    assert parsed.fields == {"channel": "C9", "message_id": "1548261231.000200", "text": "Approve deploy?",
                             "event_ts": "2019-01-25T14:26:57.840180Z"}


def test_interactivity_without_trigger_id_dedupes_on_the_action_timestamp():
    payload = {k: v for k, v in BLOCK_ACTIONS.items() if k != "trigger_id"}
    parsed = PROVIDER.parse(signed(urlencode({"payload": json.dumps(payload)}), content_type=FORM), conn())
    assert parsed.event_id == "1548426417.840180"


@pytest.mark.parametrize("form, words", [
    ({"payload": "{not json"}, "not valid JSON"),
    ({"payload": "[1, 2]"}, "not a JSON object"),
    ([("payload", "{}"), ("payload", "{}")], "exactly one 'payload'"),
])
def test_a_broken_interactivity_payload_is_an_invalid_payload(form, words):
    with pytest.raises(InvalidPayload, match=words):
        PROVIDER.parse(signed(urlencode(form), content_type=FORM), conn())


def test_a_broken_json_body_is_an_invalid_payload():
    with pytest.raises(InvalidPayload):
        PROVIDER.parse(signed(b'{"type": '), conn())


def test_an_ssl_check_is_acknowledged_and_not_stored():
    parsed = PROVIDER.parse(signed(urlencode({"ssl_check": "1", "token": "t"}), content_type=FORM), conn())
    assert parsed.store is False
    assert parsed.reply.status == 200


def test_the_provider_declares_its_secret_and_schemas():
    assert PROVIDER.required_secrets == ("signing_secret",)
    field = PROVIDER.secrets_schema().fields["signing_secret"]
    assert field.metadata["secret"] is True
    assert issubclass(PROVIDER.config_schema, ProviderConfigSchema)
    assert set(PROVIDER.config_schema().load({})) == set(ProviderConfigSchema().fields)
