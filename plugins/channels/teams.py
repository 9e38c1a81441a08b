"""The ``teams`` channel: Adaptive Cards to a Microsoft Teams Workflows webhook ("When a Teams
webhook request is received"), or MessageCards to a retired Office 365 connector (``mode: legacy``).

Workflows takes the Adaptive Card envelope of SPECS.md; a template may give that envelope, a bare
``AdaptiveCard`` (wrapped here) or plain text (put in a card), so nobody writes the envelope by
hand. Teams refuses messages over about 28 KB: the default rendering cuts the event text to fit,
and a templated message over the limit fails at once (retrying cannot shrink it). Workflows answers
202 with an empty body; connectors answer 200 ``1`` and report errors, throttling included, inside
a 200 (``… returned HTTP error 429``), so the body is read too. About 4 requests/s are accepted.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields, validate

from hub.plugin import (
    ChannelConfigSchema,
    ConnectionView,
    EventSummary,
    HttpRequest,
    HttpResponse,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    WebhookUrlChannel,
    hookimpl,
    parse_retry_after,
    secret_field,
    truncate,
)

MODES = ("workflows", "legacy")
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
MAX_BYTES = 28 * 1024        # Teams' message size limit, measured on the serialized body
TEXT_BYTES = 20 * 1024       # budget of the event text in the default rendering: leaves room for the rest
SHORT = 256                  # titles and fact values of the default rendering
LEGACY_THROTTLE_WAIT = 60.0  # a 429 wrapped in a 200 carries no Retry-After
ELLIPSIS = "…"
TEST_LABEL = "Test message from Hookhub"
_WRAPPED_ERROR = re.compile(r"returned HTTP error (\d{3})")


class TeamsConfig(ChannelConfigSchema):
    mode = fields.String(load_default="workflows", validate=validate.OneOf(MODES), metadata={
        "description": "workflows (default): a Workflows 'When a Teams webhook request is received' URL, "
                       "Adaptive Cards; legacy: a retired Office 365 connector URL, MessageCards."})


class TeamsSecrets(Schema):
    webhook_url = secret_field(required=True, metadata={
        "description": "The workflow's HTTP POST URL (Teams → channel → ••• → Workflows → 'Send webhook alerts "
                       "to a channel'), or a legacy connector URL (…webhook.office.com/webhookb2/…)."})


class TeamsChannel(WebhookUrlChannel):
    name = "teams"
    title = "Microsoft Teams (Workflows webhook)"
    description = ("Adaptive Cards to a Teams Workflows webhook (or MessageCards to a legacy Office 365 "
                   "connector), within Teams' 28 KB limit.")
    config_schema = TeamsConfig
    secrets_schema = TeamsSecrets
    # Workflows URLs vary by region and tenant (…logic.azure.com, …powerplatform.com): any http(s) URL.
    url_example = "the workflow's HTTP POST URL"
    default_rate_limit = "4/second"

    def default_body(self, envelope: Mapping[str, Any], conn: ConnectionView) -> Any:
        event = EventSummary.of(envelope, conn)
        title = _short(event.title)
        facts = [("Channel", _short(event.channel)), ("Source", _short(event.source)), ("Time", _short(event.time))]
        text = event.text
        if not text.strip():
            text = _json_text(envelope.get("payload"))
        # TEXT_BYTES is for the JSON string, its two quotes included
        text = truncate(text, TEXT_BYTES - 2, ellipsis=ELLIPSIS, measure=json_string_bytes)
        if _mode(conn) == "legacy":
            section: dict[str, Any] = {"facts": [{"name": k, "value": v} for k, v in facts]}
            if text:
                section["text"] = text
            return {"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": title,
                    "title": title, "sections": [section]}
        elements = [heading(title), {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]}]
        if text:
            elements.append({"type": "TextBlock", "text": text, "wrap": True})
        return envelope_of(card(elements))

    def build(self, message: OutboundMessage, conn: ConnectionView) -> HttpRequest:
        url = conn.secrets.get("webhook_url")
        if not url:
            raise PermanentFailure("the connection has no webhook_url secret")
        legacy = _mode(conn) == "legacy"
        body = as_legacy_message(message.body) if legacy else as_workflows_message(message.body)
        if message.is_test:
            _label_test(body)
        payload = encode_json(body)
        if len(payload) > MAX_BYTES:
            raise PermanentFailure(f"the Teams message is {len(payload):,} bytes once serialized; Teams accepts at "
                                   f"most {MAX_BYTES:,} bytes (28 KB): shorten the route's template (the default "
                                   "rendering always fits)")
        return HttpRequest("POST", url, {"Content-Type": "application/json; charset=utf-8",
                                         "User-Agent": "Hookhub-Teams/1"}, payload)

    def interpret(self, response: HttpResponse, conn: ConnectionView) -> SendResult:
        status, body = response.status, response.text.strip()
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if status == 200 and body == "1":
            return SendResult("delivered", "HTTP 200 1", status_code=status)
        wrapped = _WRAPPED_ERROR.search(body) if 200 <= status < 300 else None
        if wrapped and wrapped.group(1) == "429":  # a legacy connector's throttling, reported inside a 200
            wait = max(wait or 0.0, LEGACY_THROTTLE_WAIT)
            return SendResult("retry", f"Teams throttled the connector (HTTP error 429 inside a {status}); "
                                       f"will retry in {wait:g} s", status_code=status, retry_after=wait)
        if wrapped:
            return SendResult("failed", f"Teams answered {status}: {body[:300]}", status_code=status)
        if 200 <= status < 300:
            if _mode(conn) != "legacy":
                return SendResult("delivered", f"HTTP {status}", status_code=status)
            hint = " (this looks like a Workflows URL: set mode to 'workflows')" if status == 202 and not body else ""
            return SendResult("failed", f"the legacy connector answered {status} {body[:200]!r} instead of '1'"
                                        f"{hint}", status_code=status)
        said = f"Teams answered {status}{_error_text(response)}"
        if status == 429:
            return SendResult("retry", f"{said}: rate limited (about 4 requests per second per URL)",
                              status_code=status, retry_after=wait, cooldown=wait)
        if status >= 500 or status in (408, 425):
            return SendResult("retry", f"{said}: a temporary error; will retry", status_code=status, retry_after=wait)
        if status in (404, 410):
            return SendResult("failed", f"{said}: the workflow (or connector) was deleted or its URL changed; "
                                        "create a new one and save its URL as webhook_url", status_code=status,
                              disable_connection=True)
        if status in (401, 403):
            detail = f"{said}: the workflow refused the request; check who may trigger it"
            return SendResult("failed", detail, status_code=status, flag=detail)
        if status == 413:
            return SendResult("failed", f"{said}: the message is too large for Teams (28 KB at most)",
                              status_code=status)
        return SendResult("failed", said, status_code=status)


def heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": True}


def card(elements: list[Any]) -> dict[str, Any]:
    return {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": elements}


def envelope_of(content: dict[str, Any]) -> dict[str, Any]:
    """The message envelope Workflows expects around an Adaptive Card."""
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": content}]}


def as_workflows_message(body: Any) -> dict[str, Any]:
    """The Adaptive Card envelope for whatever the template produced: an envelope (or a MessageCard,
    which Workflows also reads) as is, a bare card wrapped, anything else shown in a card."""
    if isinstance(body, dict) and (body.get("type") == "message" and isinstance(body.get("attachments"), list)
                                   or body.get("@type") == "MessageCard"):
        return copy.deepcopy(body)
    if isinstance(body, dict) and body.get("type") == "AdaptiveCard":
        content = copy.deepcopy(body)
        content.setdefault("$schema", CARD_SCHEMA)
        content.setdefault("version", CARD_VERSION)
        content.setdefault("body", [])
        return envelope_of(content)
    title, text = _title_and_text(body)
    elements = [heading(title)] if title else []
    return envelope_of(card([*elements, {"type": "TextBlock", "text": text, "wrap": True}]))


def as_legacy_message(body: Any) -> dict[str, Any]:
    """A MessageCard (or an Adaptive Card envelope, which connectors also take) for ``body``."""
    if isinstance(body, dict) and body.get("@type") == "MessageCard":
        message = copy.deepcopy(body)
        message.setdefault("@context", "https://schema.org/extensions")
        message.setdefault("summary", _short(str(message.get("title") or message.get("text") or "Hookhub")))
        return message
    if isinstance(body, dict) and body.get("type") in ("message", "AdaptiveCard"):
        return as_workflows_message(body)
    title, text = _title_and_text(body)
    message = {"@type": "MessageCard", "@context": "https://schema.org/extensions",
               "summary": _short(title or text), "text": text}
    return {**message, "title": title} if title else message


def _title_and_text(body: Any) -> tuple[str, str]:
    if isinstance(body, str):
        return "", body or "(empty message)"
    if isinstance(body, dict):
        title = next((str(body[k]) for k in ("title", "summary") if body.get(k)), "")
        text = next((str(body[k]) for k in ("text", "message", "content", "body") if body.get(k)), "")
        if text:
            return title, text
    return "", _json_text(body) or "(empty message)"


def _label_test(body: dict[str, Any]) -> None:
    """Mark a "Test connection" message as such, whatever its shape."""
    label = {"type": "TextBlock", "text": TEST_LABEL, "weight": "Bolder", "color": "Accent", "wrap": True}
    attachments = body.get("attachments")
    content = attachments[0].get("content") if isinstance(attachments, list) and attachments \
        and isinstance(attachments[0], dict) else None
    if isinstance(content, dict) and isinstance(content.get("body"), list):
        content["body"].insert(0, label)
    elif body.get("@type") == "MessageCard":
        body["summary"] = f"[Test] {body.get('summary') or TEST_LABEL}"
        body["title"] = f"[Test] {body.get('title') or TEST_LABEL}"


def _json_text(value: Any) -> str:
    if value is None or value == "" or value == {} or value == []:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _short(text: str) -> str:
    return truncate(text, SHORT, ellipsis=ELLIPSIS, measure=len)


def json_string_bytes(text: str) -> int:
    """Bytes ``text`` takes inside a serialized JSON string, escapes included and quotes not: Teams'
    limit is on bytes, and escapes and non-ASCII text make them differ from characters. Counted
    without the quotes, the bytes of a text are the sum of its pieces' (as ``truncate`` needs)."""
    return len(encode_json(text)) - 2  # the quotes


def _error_text(response: HttpResponse) -> str:
    """``": <code>: <message>"`` from a Workflows (Logic Apps) JSON error, or a body excerpt."""
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f": {error.get('code') or 'error'}: {str(error.get('message') or '')[:300]}".rstrip(": ")
    excerpt = response.text.strip()[:200]
    return f": {excerpt}" if excerpt else ""


def _mode(conn: ConnectionView) -> str:
    return conn.channel_config.get("mode") or "workflows"


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; a surrogate pair held as two code points is joined, a lone one becomes U+FFFD."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")


@hookimpl
def hub_register_channels(registry):
    registry.add(TeamsChannel)
