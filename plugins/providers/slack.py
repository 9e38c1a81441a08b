"""The ``slack`` provider: Slack's v0 request signing for the Events API, slash commands and
interactivity.

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with HMAC-SHA256 (the app's signing
secret as UTF-8) and sends ``X-Slack-Signature: v0=<hex>``; requests more than 300 s away from
now (either way) are refused. ``url_verification`` is answered with its challenge and not stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
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
    hookimpl,
    secret_field,
)

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
PREFIX = "v0="
TOLERANCE = 300
MAX_HEADER_CHARS = 1024
FORM = "application/x-www-form-urlencoded"

_UNIX_SECONDS = re.compile(r"\d{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
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
        signature = _header(request, SIGNATURE_HEADER, SignatureInvalid)
        timestamp = _header(request, TIMESTAMP_HEADER, TimestampOutOfWindow)
        _check_window(timestamp, request.received_at)
        if not signature.startswith(PREFIX):
            raise SignatureInvalid(f"the {SIGNATURE_HEADER} header must start with '{PREFIX}'")
        given = signature[len(PREFIX):]
        if not _HEX_SHA256.fullmatch(given):
            raise SignatureInvalid(f"the {SIGNATURE_HEADER} header is not a hex HMAC-SHA256 signature "
                                   f"(expected 64 hex digits after '{PREFIX}')")
        base = b"v0:" + timestamp.encode("ascii") + b":" + request.body
        given = given.lower()
        if not any(hmac.compare_digest(hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest(), given)
                   for secret in secrets):
            raise SignatureInvalid(f"the {SIGNATURE_HEADER} signature does not match the request body and "
                                   "timestamp (wrong signing secret, or the body was modified)")

    def parse(self, request: InboundRequest, conn: ConnectionView) -> ParsedEvent:
        payload = request.parse_body()
        if not isinstance(payload, dict):
            return ParsedEvent(payload=payload)
        if request.content_type == FORM:
            if _text(payload.get("ssl_check")) == "1":
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
    event = _dict(payload.get("event"))
    message = _dict(event.get("message"))
    item = _dict(event.get("item"))
    channel = event.get("channel")
    if isinstance(channel, dict):  # channel_created, channel_rename, ...
        channel = channel.get("id")
    fields = {
        "channel": _text(channel) or _text(item.get("channel")),
        "text": _text(event.get("text")) or _text(message.get("text")),
        "message_id": _text(event.get("ts")) or _text(message.get("ts")) or _text(item.get("ts")),
        "event_ts": _iso(event.get("event_ts")) or _iso(event.get("ts")) or _iso(payload.get("event_time")),
    }
    return ParsedEvent(payload=payload, event_id=_text(payload.get("event_id")), fields=_present(fields))


def _slash_command(form: dict[str, Any], request: InboundRequest) -> ParsedEvent:
    fields = {
        "channel": _text(form.get("channel_id")),
        "text": _text(form.get("text")),
        "event_ts": _iso(request.headers.get(TIMESTAMP_HEADER)),
    }
    return ParsedEvent(payload=form, event_id=_text(form.get("trigger_id")), fields=_present(fields))


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
    first_action = _dict(actions[0]) if isinstance(actions, list) and actions else {}
    action_ts = _text(first_action.get("action_ts")) or _text(payload.get("action_ts"))
    channel = _dict(payload.get("channel"))
    container = _dict(payload.get("container"))
    message = _dict(payload.get("message"))
    fields = {
        "channel": _text(channel.get("id")) or _text(container.get("channel_id")),
        "message_id": _text(container.get("message_ts")) or _text(message.get("ts")),
        "text": _text(message.get("text")),
        "event_ts": _iso(action_ts),
    }
    event_id = _text(payload.get("trigger_id")) or action_ts
    return ParsedEvent(payload=payload, event_id=event_id, fields=_present(fields))


# --------------------------------------------------------------------------- helpers

def _header(request: InboundRequest, name: str, error: type[Exception]) -> str:
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise error(f"the {name} header is missing")
    if len(value) > MAX_HEADER_CHARS:
        raise error(f"the {name} header is too long ({len(value)} characters)")
    if not value.isascii():
        raise error(f"the {name} header contains non-ASCII characters")
    return value


def _check_window(timestamp: str, now: datetime) -> None:
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise TimestampOutOfWindow(f"the {TIMESTAMP_HEADER} header is not a Unix timestamp in seconds")
    age = now.timestamp() - int(timestamp)
    if age > TOLERANCE:
        raise TimestampOutOfWindow(f"the {TIMESTAMP_HEADER} timestamp is {int(age)} seconds old "
                                   f"(at most {TOLERANCE} s allowed)")
    if -age > TOLERANCE:
        raise TimestampOutOfWindow(f"the {TIMESTAMP_HEADER} timestamp is {int(-age)} seconds in the future "
                                   f"(at most {TOLERANCE} s allowed)")


def _iso(value: Any) -> str | None:
    """A Slack timestamp (``"1531420618.000200"`` or an integer) as ISO 8601 UTC."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    match = _SLACK_TS.fullmatch(value.strip())
    if not match:
        return None
    micros = int((match.group(2) or "0").ljust(6, "0"))
    try:
        when = datetime.fromtimestamp(int(match.group(1)), UTC) + timedelta(microseconds=micros)
    except (OverflowError, OSError, ValueError):
        return None
    return when.isoformat().replace("+00:00", "Z")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


@hookimpl
def hub_register_providers(registry):
    registry.add(SlackProvider)
