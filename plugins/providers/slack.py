"""The ``slack`` provider: Slack's v0 request signing for the Events API, slash commands and
interactivity.

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with HMAC-SHA256 (the app's signing
secret as UTF-8) and sends ``X-Slack-Signature: v0=<hex>``; requests more than 300 s away from
now (either way) are refused. ``url_verification`` is answered with its challenge and not stored.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from marshmallow import Schema

from hub.plugin import (
    ConnectionView,
    InboundRequest,
    InvalidPayload,
    ParsedEvent,
    PluginResponse,
    Provider,
    ProviderConfigSchema,
    SignatureInvalid,
    TimestampOutOfWindow,
    check_timestamp_age,
    dict_or_empty,
    hex_sha256_signature,
    hmac_sha256_matches,
    hookimpl,
    required_header,
    secret_field,
    text_or_none,
    unix_time_iso,
)

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
PREFIX = "v0="
TOLERANCE = 300
MAX_HEADER_CHARS = 1024
FORM = "application/x-www-form-urlencoded"

_UNIX_SECONDS = re.compile(r"\d{1,12}")
_SLACK_TS = re.compile(r"(\d{1,12})(?:\.(\d{1,6}))?")


class SlackConfig(ProviderConfigSchema):
    """Slack needs no settings beyond the common ones."""


class SlackSecrets(Schema):
    signing_secret = secret_field(metadata={
        "description": "The app's Signing Secret (Slack app settings → Basic Information → App Credentials)."})


class SlackProvider(Provider):
    name = "slack"
    title = "Slack"
    description = ("Slack Events API, slash commands and interactivity, verified with the app's signing "
                   "secret (v0 signatures, 5-minute window).")
    config_schema = SlackConfig
    secrets_schema = SlackSecrets
    required_secrets = ("signing_secret",)

    def verify(self, request: InboundRequest, conn: ConnectionView) -> None:
        secrets = conn.secret_values("signing_secret")
        if not secrets:
            raise SignatureInvalid("connection has no signing secret configured")
        signature = required_header(request, SIGNATURE_HEADER, SignatureInvalid, max_chars=MAX_HEADER_CHARS)
        timestamp = required_header(request, TIMESTAMP_HEADER, TimestampOutOfWindow, max_chars=MAX_HEADER_CHARS)
        _check_window(timestamp, request.received_at)
        given = hex_sha256_signature(signature, header=SIGNATURE_HEADER, prefix=PREFIX)
        base = b"v0:" + timestamp.encode("ascii") + b":" + request.body
        if not hmac_sha256_matches(secrets, base, given):
            raise SignatureInvalid(f"the {SIGNATURE_HEADER} signature does not match the request body and "
                                   "timestamp (wrong signing secret, or the body was modified)")

    def parse(self, request: InboundRequest, conn: ConnectionView) -> ParsedEvent:
        payload = request.parse_body()
        if not isinstance(payload, dict):
            return ParsedEvent(payload=payload)
        if request.content_type == FORM:
            if text_or_none(payload.get("ssl_check")) == "1":
                return ParsedEvent(payload=payload, reply=PluginResponse(200, b""), store=False)
            if "payload" in payload and "command" not in payload:
                return _interactivity(payload)
            if "command" in payload:
                return _slash_command(payload, request)
            return ParsedEvent(payload=payload)
        kind = payload.get("type")
        if kind == "url_verification":
            return _url_verification(payload)
        if kind == "event_callback":
            return _event_callback(payload)
        return ParsedEvent(payload=payload)


# --------------------------------------------------------------------------- parsing

def _url_verification(payload: dict[str, Any]) -> ParsedEvent:
    challenge = payload.get("challenge")
    if not isinstance(challenge, str) or not challenge:
        raise InvalidPayload("the url_verification request has no 'challenge' string")
    body = json.dumps({"challenge": challenge})
    return ParsedEvent(payload=payload, store=False,
                       reply=PluginResponse(200, body.encode("utf-8"), content_type="application/json"))


def _event_callback(payload: dict[str, Any]) -> ParsedEvent:
    event = dict_or_empty(payload.get("event"))
    message = dict_or_empty(event.get("message"))
    item = dict_or_empty(event.get("item"))
    channel = event.get("channel")
    if isinstance(channel, dict):  # channel_created, channel_rename, ...
        channel = channel.get("id")
    fields = {
        "type": text_or_none(event.get("type")) or text_or_none(payload.get("type")),
        "channel": text_or_none(channel) or text_or_none(item.get("channel")),
        "text": text_or_none(event.get("text")) or text_or_none(message.get("text")),
        "message_id": text_or_none(event.get("ts")) or text_or_none(message.get("ts")) or text_or_none(item.get("ts")),
        "event_ts": _iso(event.get("event_ts")) or _iso(event.get("ts")) or _iso(payload.get("event_time")),
    }
    return ParsedEvent(payload=payload, event_id=text_or_none(payload.get("event_id")), fields=_present(fields))


def _slash_command(form: dict[str, Any], request: InboundRequest) -> ParsedEvent:
    fields = {
        "type": text_or_none(form.get("command")),        # the slash command, e.g. /deploy
        "channel": text_or_none(form.get("channel_id")),
        "text": text_or_none(form.get("text")),
        "event_ts": _iso(request.headers.get(TIMESTAMP_HEADER)),
    }
    return ParsedEvent(payload=form, event_id=text_or_none(form.get("trigger_id")), fields=_present(fields))


def _interactivity(form: dict[str, Any]) -> ParsedEvent:
    raw = form.get("payload")
    if not isinstance(raw, str):
        raise InvalidPayload("the interactivity form must carry exactly one 'payload' field")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidPayload("the interactivity form field 'payload' is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidPayload("the interactivity form field 'payload' is not a JSON object")
    actions = payload.get("actions")
    first_action = dict_or_empty(actions[0]) if isinstance(actions, list) and actions else {}
    action_ts = text_or_none(first_action.get("action_ts")) or text_or_none(payload.get("action_ts"))
    channel = dict_or_empty(payload.get("channel"))
    container = dict_or_empty(payload.get("container"))
    message = dict_or_empty(payload.get("message"))
    fields = {
        "channel": text_or_none(channel.get("id")) or text_or_none(container.get("channel_id")),
        "message_id": text_or_none(container.get("message_ts")) or text_or_none(message.get("ts")),
        "text": text_or_none(message.get("text")),
        "event_ts": _iso(action_ts),
    }
    event_id = text_or_none(payload.get("trigger_id")) or action_ts
    return ParsedEvent(payload=payload, event_id=event_id, fields=_present(fields))


# --------------------------------------------------------------------------- helpers

def _check_window(timestamp: str, now: datetime) -> None:
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise TimestampOutOfWindow(f"the {TIMESTAMP_HEADER} header is not a Unix timestamp in seconds")
    check_timestamp_age(now.timestamp() - int(timestamp), tolerance=TOLERANCE, what=f"{TIMESTAMP_HEADER} timestamp")


def _iso(value: Any) -> str | None:
    """A Slack timestamp (``"1531420618.000200"`` or an integer) as ISO 8601 UTC."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    match = _SLACK_TS.fullmatch(value.strip())
    if not match:
        return None
    return unix_time_iso(int(match.group(1)), microseconds=int((match.group(2) or "0").ljust(6, "0")))


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


@hookimpl
def hub_register_providers(registry):
    registry.add(SlackProvider)
