"""The ``slack`` channel: messages to a Slack incoming webhook, or to any server that accepts
Slack-format webhooks (Mattermost, Rocket.Chat, Zulip), which is why any http(s) URL is accepted.

Block Kit ``blocks`` with a ``text`` fallback (notifications and screen readers read it, so it is
always present). Relayed text is mrkdwn-escaped so an event cannot ping ``<!channel>`` or forge a
link; every block, templated ones included, is cut to Slack's limits because Slack refuses the
whole message when one block is too long.

Slack answers plain-text codes (``ok``, ``invalid_payload``…). Each documented code maps to a
verdict: a message Slack can never accept fails at once; a revoked token or a missing channel is
flagged; an archived channel or a removed webhook disables the connection; 429 and 5xx retry, and
a 429's ``Retry-After`` is also a cooldown so that every worker waits, not only the refused one.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema

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

HEADER_LIMIT = 150          # header block, plain_text
SECTION_LIMIT = 3000        # section block text
FIELD_LIMIT = 2000          # each section field
MAX_FIELDS = 10
MAX_BLOCKS = 50
TEXT_LIMIT = 40000          # top-level text: Slack truncates beyond this
ELLIPSIS = "…"
FENCE = "```"
TEST_LABEL = "Test message from Hookhub"

# Slack's error code → (what it means and what to fix, flag the connection, disable it).
ERRORS: dict[str, tuple[str, bool, bool]] = {
    "invalid_payload": ("the message is not valid Slack JSON; check the template against Block Kit", False, False),
    "invalid_blocks": ("a block is not valid Block Kit; try the template in Slack's Block Kit Builder", False, False),
    "invalid_blocks_format": ("'blocks' must be a list of block objects; fix the template", False, False),
    "no_text": ("the message has no text, blocks or attachments; give the template a 'text' key", False, False),
    "too_many_attachments": ("the message has more than 100 attachments; send fewer", False, False),
    "action_prohibited": ("a Slack admin restricted posting to this channel or removed the app", True, False),
    "posting_to_general_channel_denied": ("only admins may post to this channel; use another one", True, False),
    "invalid_token": ("the webhook's token is invalid or revoked; save a new webhook as webhook_url", True, False),
    "channel_not_found": ("the channel was deleted or the app lost access to it; create a new webhook", True, False),
    "user_not_found": ("the webhook's user no longer exists; create a new webhook", True, False),
    "channel_is_archived": ("the channel is archived; unarchive it, then activate this connection again", False, True),
    "no_service": ("the webhook was removed or disabled in Slack; save a new one as webhook_url", False, True),
    "team_disabled": ("the Slack workspace was disabled", False, True),
}
_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")


class SlackConfig(ChannelConfigSchema):
    """The webhook URL fixes workspace and channel: nothing to set beyond the common settings."""


class SlackSecrets(Schema):
    webhook_url = secret_field(required=True, metadata={
        "description": "The incoming webhook URL (Slack app → Incoming Webhooks), e.g. "
                       "https://hooks.slack.com/services/T…/B…/…; Mattermost, Rocket.Chat and Zulip "
                       "Slack-compatible webhook URLs work too."})


class SlackChannel(WebhookUrlChannel):
    name = "slack"
    title = "Slack (incoming webhook)"
    description = ("Block Kit messages to a Slack incoming webhook (or a Slack-compatible one: Mattermost, "
                   "Rocket.Chat, Zulip), with Slack's error codes turned into retries, flags and disabling.")
    config_schema = SlackConfig
    secrets_schema = SlackSecrets
    url_example = "https://hooks.slack.com/services/T…/B…/…"
    default_rate_limit = "1/second"

    def default_body(self, envelope: Mapping[str, Any], conn: ConnectionView) -> Any:
        event = EventSummary.of(envelope, conn)
        channel, source, title, when, text = event.channel, event.source, event.title, event.time, event.text
        shown = shorten(escape(text), SECTION_LIMIT) if text.strip() else json_block(envelope.get("payload"))
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": shorten(title, HEADER_LIMIT), "emoji": True}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": shorten(f"*{k}*\n{escape(v)}", FIELD_LIMIT)}
                                           for k, v in (("Channel", channel), ("Source", source), ("Time", when))]}]
        if shown:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": shown}})
        summary = escape(text) if text.strip() else "new event"
        return {"text": shorten(f"{escape(title)}: {summary}", SECTION_LIMIT), "blocks": blocks}

    def build(self, message: OutboundMessage, conn: ConnectionView) -> HttpRequest:
        url = conn.secrets.get("webhook_url")
        if not url:
            raise PermanentFailure("the connection has no webhook_url secret")
        body = as_slack_message(message.body)
        if message.is_test:
            body["text"] = f"[Test] {body['text']}"
            if isinstance(body.get("blocks"), list) and body["blocks"]:  # Slack shows blocks instead of text
                body["blocks"].insert(0, {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": f"*{TEST_LABEL}* (Test connection of “{escape(conn.name)}”)"}]})
        fit_limits(body)
        payload = json.dumps(body, separators=(",", ":")).encode("ascii")  # \u escapes keep any text intact
        return HttpRequest("POST", url, {"Content-Type": "application/json; charset=utf-8",
                                         "User-Agent": "Hookhub-Slack/1"}, payload)

    def interpret(self, response: HttpResponse, conn: ConnectionView) -> SendResult:
        status = response.status
        code, refused = _answer(response)
        said = f"Slack answered {status} {code}" if code else f"Slack answered {status}"
        if status in (408, 425, 429) or status >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            why = ("rate limited (about 1 message per second per webhook)" if status == 429
                   else "Slack could not process the message right now" if code == "rollup_error"
                   else "a temporary error")
            return SendResult("retry", f"{said}: {why}; will retry", status_code=status, retry_after=wait,
                              cooldown=wait if status == 429 and wait else None)
        if code in ERRORS:
            advice, flag, disable = ERRORS[code]
            detail = f"{said}: {advice}"
            return SendResult("failed", detail, status_code=status, flag=detail if flag else None,
                              disable_connection=disable)
        if 200 <= status < 300 and not refused:
            return SendResult("delivered", f"HTTP {status}", status_code=status)
        excerpt = response.text.strip()[:200]  # a redirect, an unknown code, a JSON error of a compatible server
        return SendResult("failed", f"{said}: {excerpt}".rstrip(": "), status_code=status)


def as_slack_message(body: Any) -> dict[str, Any]:
    """A message Slack accepts, whatever the template produced: a string becomes ``text``; a body
    without ``text`` gets one from its blocks, or shows itself as JSON."""
    if isinstance(body, str):
        return {"text": body if body.strip() else "(empty message)"}
    if not isinstance(body, dict):
        return {"text": json_block(body) or "(empty message)"}
    message = copy.deepcopy(body)
    text = message.get("text")
    if isinstance(text, (int, float, bool)):  # a type-keeping template leaf: {{ payload.count }}
        text = message["text"] = json.dumps(text)
    if not isinstance(text, str) or not text.strip():
        text = blocks_text(message.get("blocks"))
        if not text and not message.get("blocks") and not message.get("attachments"):
            text = json_block(body)
        message["text"] = text or "(see the message)"
    return message


def blocks_text(blocks: Any) -> str:
    """The readable text of Block Kit blocks (headers, sections, fields, context), one per line."""
    lines: list[str] = []
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        parts = [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]
        lines.extend(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(line for line in lines if line.strip())


def fit_limits(message: dict[str, Any]) -> None:
    """Cut ``message`` in place to Slack's limits, so a long event posts shortened, not refused."""
    message["text"] = shorten(message["text"], TEXT_LIMIT)
    blocks = message.get("blocks")
    if not isinstance(blocks, list):
        return
    fitted = [_fit_block(block) for block in blocks]
    if len(fitted) > MAX_BLOCKS:
        hidden = len(fitted) - (MAX_BLOCKS - 1)
        fitted = fitted[:MAX_BLOCKS - 1] + [{"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"{ELLIPSIS} {hidden} more blocks not shown (Slack shows at most 50)"}]}]
    message["blocks"] = fitted


def _fit_block(block: Any) -> Any:
    if isinstance(block, dict) and block.get("type") in ("header", "section"):
        _fit_text(block.get("text"), HEADER_LIMIT if block["type"] == "header" else SECTION_LIMIT)
        if isinstance(block.get("fields"), list):
            block["fields"] = block["fields"][:MAX_FIELDS]
            for item in block["fields"]:
                _fit_text(item, FIELD_LIMIT)
    return block


def _fit_text(obj: Any, limit: int) -> None:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        obj["text"] = shorten(obj["text"], limit)


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only ``&``, ``<`` and ``>`` (``<!channel>`` then shows as text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def json_block(value: Any, limit: int = SECTION_LIMIT) -> str:
    """``value`` (a payload) as an escaped mrkdwn code block; "" when there is nothing to show."""
    if value is None or value == "" or value == {} or value == []:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return shorten(f"{FENCE}{escape(text)}{FENCE}", limit)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-16 units, ending with an ellipsis: never inside a character or an
    ``&amp;`` entity, and closing a code block the cut left open."""
    return truncate(text, limit, ellipsis=ELLIPSIS, close_fence=FENCE, drop_tail=_ENTITY_TAIL)


def _answer(response: HttpResponse) -> tuple[str | None, bool]:
    """Slack's code (``ok``, ``invalid_payload``…) and whether the body says the post failed.
    Slack-compatible servers answer JSON (``{"ok": true}``, ``{"success": false}``) or nothing."""
    body = response.json()
    code = body.get("error") if isinstance(body, dict) else response.text.strip()
    refused = isinstance(body, dict) and (body.get("ok") is False or body.get("success") is False)
    return (code if isinstance(code, str) and _CODE.fullmatch(code) else None), refused


@hookimpl
def hub_register_channels(registry):
    registry.add(SlackChannel)
