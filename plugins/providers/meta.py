"""The ``meta`` provider: Meta webhooks (WhatsApp Cloud API, Messenger, Instagram, Threads).

Subscription handshake: ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` is
answered with the challenge when the verify token matches. Notifications are POSTed with
``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body with the app secret (non-ASCII
arrives ``\\u``-escaped: the raw bytes are what is signed, never a re-serialised payload).
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema

from hub.plugin import (
    ConnectionView,
    HookhubError,
    InboundRequest,
    InvalidPayload,
    ParsedEvent,
    PluginResponse,
    Provider,
    ProviderConfigSchema,
    SignatureInvalid,
    dict_or_empty,
    hex_sha256_signature,
    hmac_sha256_matches,
    hookimpl,
    required_header,
    secret_field,
    secure_compare,
    text_or_none,
    unix_time_iso,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="
MAX_HEADER_CHARS = 1024
MAX_CHALLENGE_CHARS = 1024

_UNIX = re.compile(r"\d{1,15}")


class MetaConfig(ProviderConfigSchema):
    """Meta needs no settings beyond the common ones."""


class MetaSecrets(Schema):
    verify_token = secret_field(metadata={
        "description": "The Verify Token you typed in the app's webhook settings (answers the GET handshake)."})
    app_secret = secret_field(metadata={
        "description": "The App Secret (App settings → Basic): verifies X-Hub-Signature-256."})


def _forbidden(message: str) -> HookhubError:
    return HookhubError(message, code="forbidden", status=403)


class MetaProvider(Provider):
    name = "meta"
    title = "Meta (WhatsApp, Messenger, Instagram)"
    description = ("Meta Graph API webhooks: answers the hub.challenge subscription handshake and verifies "
                   "X-Hub-Signature-256 with the app secret.")
    config_schema = MetaConfig
    secrets_schema = MetaSecrets
    required_secrets = ("verify_token", "app_secret")

    def handshake(self, request: InboundRequest, conn: ConnectionView) -> PluginResponse | None:
        mode = request.query_value("hub.mode")
        if mode != "subscribe":
            raise _forbidden("hub.mode must be 'subscribe'" if mode else "the hub.mode query parameter is missing")
        tokens = conn.secret_values("verify_token")
        if not tokens:
            raise _forbidden("connection has no verify token configured")
        given = request.query_value("hub.verify_token")
        if not given:
            raise _forbidden("the hub.verify_token query parameter is missing")
        if not any([secure_compare(given, token) for token in tokens]):
            raise _forbidden("hub.verify_token does not match the connection's verify token")
        challenge = request.query_value("hub.challenge")
        if not challenge:
            raise InvalidPayload("the hub.challenge query parameter is missing")
        if len(challenge) > MAX_CHALLENGE_CHARS:
            raise InvalidPayload(f"the hub.challenge query parameter is too long ({len(challenge)} characters)")
        return PluginResponse(200, challenge, content_type="text/plain; charset=utf-8",
                              headers={"X-Content-Type-Options": "nosniff"})

    def verify(self, request: InboundRequest, conn: ConnectionView) -> None:
        secrets = conn.secret_values("app_secret")
        if not secrets:
            raise SignatureInvalid("connection has no app secret configured")
        signature = required_header(request, SIGNATURE_HEADER, SignatureInvalid, max_chars=MAX_HEADER_CHARS)
        given = hex_sha256_signature(signature, header=SIGNATURE_HEADER, prefix=PREFIX)
        if not hmac_sha256_matches(secrets, request.body, given):
            raise SignatureInvalid(f"the {SIGNATURE_HEADER} signature does not match the body "
                                   "(wrong app secret, or the body was modified)")

    def parse(self, request: InboundRequest, conn: ConnectionView) -> ParsedEvent:
        payload = request.parse_body()
        if not isinstance(payload, dict):
            return ParsedEvent(payload=payload)
        entries = [e for e in _list(payload.get("entry")) if isinstance(e, dict)]
        found = _whatsapp(entries) or _messaging(entries) or {}
        found["type"] = _change_field(entries)
        event_id = found.pop("event_id", None)
        return ParsedEvent(payload=payload, event_id=event_id, fields={k: v for k, v in found.items() if v})


# --------------------------------------------------------------------------- parsing

def _change_field(entries: list[dict[str, Any]]) -> str | None:
    """The event's type as Meta names it: the ``field`` of the first change (``messages``,
    ``message_template_status_update``…), or ``messaging`` for Messenger/Instagram entries."""
    for entry in entries:
        for change in _list(entry.get("changes")):
            field = text_or_none(dict_or_empty(change).get("field"))
            if field:
                return field
        if _list(entry.get("messaging")):
            return "messaging"
    return None


def _whatsapp(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first message of the body, else its first status (``entry[].changes[].value``)."""
    first_status: dict[str, Any] | None = None
    for entry in entries:
        for change in _list(entry.get("changes")):
            value = dict_or_empty(dict_or_empty(change).get("value"))
            channel = text_or_none(dict_or_empty(value.get("metadata")).get("phone_number_id"))
            for message in _list(value.get("messages")):
                message = dict_or_empty(message)
                if message:
                    message_id = text_or_none(message.get("id"))
                    return {"event_id": message_id, "message_id": message_id, "channel": channel,
                            "text": _message_text(message), "event_ts": _iso(message.get("timestamp"))}
            for status in _list(value.get("statuses")):
                status = dict_or_empty(status)
                if status and first_status is None:
                    status_id, state = text_or_none(status.get("id")), text_or_none(status.get("status"))
                    first_status = {
                        # sent / delivered / read repeat the same message id: the state tells them apart
                        "event_id": f"{status_id}:{state}" if status_id and state else status_id,
                        "message_id": status_id, "channel": channel, "event_ts": _iso(status.get("timestamp")),
                    }
    return first_status


def _messaging(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Messenger / Instagram messaging: ``entry[].messaging[]`` with ``message.mid``."""
    for entry in entries:
        for item in _list(entry.get("messaging")):
            item = dict_or_empty(item)
            message = dict_or_empty(item.get("message")) or dict_or_empty(item.get("postback"))
            mid = text_or_none(message.get("mid"))
            if mid:
                recipient = text_or_none(dict_or_empty(item.get("recipient")).get("id"))
                return {"event_id": mid, "message_id": mid, "text": text_or_none(message.get("text")),
                        "channel": recipient or text_or_none(entry.get("id")), "event_ts": _iso(item.get("timestamp"))}
    return None


def _message_text(message: dict[str, Any]) -> str | None:
    """``text.body`` of a text message; the caption, button or reply title of other kinds."""
    text = text_or_none(dict_or_empty(message.get("text")).get("body"))
    if text:
        return text
    interactive = dict_or_empty(message.get("interactive"))
    for candidate in (dict_or_empty(message.get("button")).get("text"),
                      dict_or_empty(interactive.get("button_reply")).get("title"),
                      dict_or_empty(interactive.get("list_reply")).get("title"),
                      *(dict_or_empty(message.get(kind)).get("caption") for kind in ("image", "video", "document"))):
        if text_or_none(candidate):
            return candidate
    return None


def _iso(value: Any) -> str | None:
    """A Unix timestamp (seconds as WhatsApp sends them, milliseconds for Messenger) as ISO 8601."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _UNIX.fullmatch(value):
        return None
    number = int(value)
    return unix_time_iso(number / 1000 if len(value) >= 13 else number)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@hookimpl
def hub_register_providers(registry):
    registry.add(MetaProvider)
