"""The ``discord`` channel: messages to a Discord webhook (``/api[/v10]/webhooks/{id}/{token}``)
or a self-hosted server with the same API.

Relayed messages never ping (``allowed_mentions: {"parse": []}``) unless the template or the admin
says so: whoever sent the event wrote its text. Discord refuses a whole message when one part is
over a limit, so every part, templated ones included, is cut to fit. An empty rate-limit bucket
becomes a cooldown the core keeps in Redis for every worker; 5 per 2 seconds is the webhook bucket
Discord usually reports. A 404 means the webhook was deleted: the connection is disabled.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    utf16_units,
)

CONTENT_LIMIT = 2000
MAX_EMBEDS = 10
MAX_FIELDS = 25
EMBED_TOTAL = 6000           # title, description, field names and values, footer and author of all embeds
LIMITS = {"title": 256, "description": 4096, "name": 256, "value": 1024, "footer": 2048, "author": 256}
SHORT_TEXT = 300             # default rendering: text up to this length goes in content, longer in the embed
ELLIPSIS = "…"
FENCE = "```"
TEST_LABEL = "Test message from Hookhub"
MESSAGE_KEYS = ("content", "embeds", "components", "poll", "attachments", "sticker_ids")
VISIBLE = ("title", "description", "fields", "author", "footer", "image", "thumbnail")
HTTP_URL = validate.URL(schemes={"http", "https"}, require_tld=False, error="must be an absolute http(s) URL")
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
# discord.com, discordapp.com, ptb. and canary., /api or /api/v10, and self-hosted compatibles alike.
_WEBHOOK_PATH = re.compile(r"(?:/[^/]+)*/webhooks/[A-Za-z0-9_-]{1,100}/[A-Za-z0-9_.-]{1,200}/?")


class DiscordConfig(ChannelConfigSchema):
    username = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=80),
                             metadata={"description": "Name shown as the sender (default: the webhook's name)."})
    avatar_url = fields.String(load_default=None, allow_none=True, validate=HTTP_URL,
                               metadata={"description": "Image shown as the sender (default: the webhook's avatar)."})
    allow_mentions = fields.Boolean(load_default=False, metadata={
        "description": "Let relayed messages ping @everyone, @here, roles and users (default: never)."})


class DiscordSecrets(Schema):
    webhook_url = secret_field(required=True, metadata={
        "description": "The webhook URL (channel → Edit Channel → Integrations → Webhooks → Copy Webhook URL), "
                       "https://discord.com/api/webhooks/<id>/<token>; add ?thread_id=… to post in a thread."})


class DiscordChannel(WebhookUrlChannel):
    name = "discord"
    title = "Discord (webhook)"
    description = ("Messages and embeds to a Discord webhook, mention-safe, cut to Discord's limits and paced by "
                   "its rate-limit headers.")
    config_schema = DiscordConfig
    secrets_schema = DiscordSecrets
    url_example = "https://discord.com/api/webhooks/<id>/<token>"
    default_rate_limit = "5/2second"

    def webhook_url_problem(self, url: str) -> str | None:
        problem = super().webhook_url_problem(url)
        if problem is None and not _WEBHOOK_PATH.fullmatch(urlsplit(url).path):  # also refuses /slack, /github
            problem = f"must end in /webhooks/<id>/<token>, like {self.url_example}"
        return problem

    def default_body(self, envelope: Mapping[str, Any], conn: ConnectionView) -> Any:
        event = EventSummary.of(envelope, conn)
        when = envelope.get("event_ts") or envelope.get("received_at")
        embed: dict[str, Any] = {"title": event.title, "fields": [
            {"name": k, "value": v, "inline": True} for k, v in (("Channel", event.channel), ("Source", event.source),
                                                                  ("Time", event.time))]}
        if isinstance(when, str) and _ISO_TIME.fullmatch(when):
            embed["timestamp"] = when
        text = event.text
        if text.strip() and utf16_units(text) <= SHORT_TEXT:
            body: dict[str, Any] = {"content": text, "embeds": [embed]}
        else:
            embed["description"] = text if text.strip() else _json_block(envelope.get("payload"))
            body = {"embeds": [embed]}
        fit_limits(body)
        return body

    def build(self, message: OutboundMessage, conn: ConnectionView) -> HttpRequest:
        url = conn.secrets.get("webhook_url")
        if not url:
            raise PermanentFailure("the connection has no webhook_url secret")
        config = conn.channel_config
        body = as_discord_message(message.body)
        body.update({k: config[k] for k in ("username", "avatar_url") if config.get(k) and k not in body})
        body.setdefault("allowed_mentions", {"parse": ["everyone", "roles", "users"] if config.get("allow_mentions")
                                             else []})
        if message.is_test:
            body["content"] = f"[Test] {body.get('content') or TEST_LABEL}"
        fit_limits(body)
        payload = json.dumps(body, separators=(",", ":")).encode("ascii")  # \u escapes keep any text intact
        return HttpRequest("POST", with_wait(url), {"Content-Type": "application/json; charset=utf-8",
                                                   "User-Agent": "Hookhub-Discord/1"}, payload)

    def interpret(self, response: HttpResponse, conn: ConnectionView) -> SendResult:
        status, headers = response.status, response.headers
        empty = headers.get("X-RateLimit-Remaining", "").strip() == "0"
        cooldown = _seconds(headers.get("X-RateLimit-Reset-After")) if empty else None
        if 200 <= status < 300:
            return SendResult("delivered", f"HTTP {status}", status_code=status, cooldown=cooldown)
        parsed = response.json()
        body = parsed if isinstance(parsed, dict) else {}
        said = f"Discord answered {status}" + (f", code {body['code']}" if body.get("code") is not None else "")
        said += f": {_errors(body) or response.text.strip()[:200]}".rstrip(": ")
        if status == 429:
            wait = (_seconds(body.get("retry_after")) or parse_retry_after(headers.get("Retry-After"))
                    or _seconds(headers.get("X-RateLimit-Reset-After")))
            scope = ("global: true, every request from this host" if body.get("global") is True
                     else f"scope: {headers.get('X-RateLimit-Scope') or 'webhook'}")
            return SendResult("retry", f"{said} ({scope}); retry in {wait if wait is not None else '?'} s",
                              status_code=status, retry_after=wait, cooldown=wait)
        if status >= 500 or status in (408, 425):
            return SendResult("retry", f"{said}; will retry", status_code=status, cooldown=cooldown,
                              retry_after=parse_retry_after(headers.get("Retry-After")))
        if status == 404 and body.get("code") != 10003:  # 10003 Unknown Channel: the thread_id, not the webhook
            return SendResult("failed", f"{said}: the webhook was deleted; create a new one and save its URL as "
                                        "webhook_url", status_code=status, disable_connection=True)
        flag = {401: "the webhook token is invalid; save the webhook's current URL",
                403: "the webhook lost access to its channel or thread; save a new webhook URL",
                404: "the thread in the URL's thread_id no longer exists; fix webhook_url"}.get(status)
        detail = f"{said}: {flag}" if flag else said
        return SendResult("failed", detail, status_code=status, flag=detail if flag else None, cooldown=cooldown)


def as_discord_message(body: Any) -> dict[str, Any]:
    """A message Discord accepts, whatever the template produced: a string becomes ``content``, a
    body without content or embeds uses its ``text`` (Slack-shaped templates) or shows as JSON."""
    if isinstance(body, str):
        return {"content": body}
    if not isinstance(body, dict):
        return {"content": _json_block(body)}
    message = copy.deepcopy(body)
    if isinstance(message.get("embeds"), dict):  # one embed given without its list
        message["embeds"] = [message["embeds"]]
    if not any(key in message for key in MESSAGE_KEYS):
        text = message.pop("text", None)
        message["content"] = str(text) if isinstance(text, (str, int, float)) and str(text) else _json_block(body)
    return message


def fit_limits(message: dict[str, Any]) -> None:
    """Cut ``message`` in place to Discord's limits, embeds in display order against the 6000 budget."""
    if message.get("content") is not None:  # str(): a type-keeping template leaf may be a number
        message["content"] = shorten(str(message["content"]), CONTENT_LIMIT)
    embeds = message.get("embeds")
    if isinstance(embeds, list):
        budget = [EMBED_TOTAL]
        fitted = [_fit_embed(e, budget) for e in embeds[:MAX_EMBEDS] if isinstance(e, dict)]
        message["embeds"] = [e for e in fitted if any(e.get(k) for k in VISIBLE)]  # an empty embed is refused
    if not any(message.get(key) for key in MESSAGE_KEYS):
        message["content"] = "(empty message)"  # Discord refuses a message with nothing in it


def _fit_embed(embed: dict[str, Any], budget: list[int]) -> dict[str, Any]:
    embed = dict(embed)

    def fit(text: Any, limit: int) -> str:
        cut = shorten(str(text), min(limit, budget[0])) if budget[0] > 0 else ""
        budget[0] -= utf16_units(cut)
        return cut

    def fit_part(key: str, inner: str | None = None) -> None:  # a text, or the text inside author / footer
        part = embed.get(key)
        text = (part.get(inner) if isinstance(part, dict) else None) if inner else part
        if text:
            text = fit(text, LIMITS[key])
            embed[key] = ({**part, inner: text} if inner else text) if text else None

    fit_part("author", "name")  # in display order: what the total budget cuts is what shows last
    fit_part("title")
    fit_part("description")
    if isinstance(embed.get("fields"), list):
        kept = [f for f in embed["fields"][:MAX_FIELDS] if isinstance(f, dict) and f.get("name") and f.get("value")]
        fitted = [{**f, "name": fit(f["name"], LIMITS["name"]), "value": fit(f["value"], LIMITS["value"])}
                  for f in kept]
        embed["fields"] = [f for f in fitted if f["name"] and f["value"]]
    fit_part("footer", "text")
    return {k: v for k, v in embed.items() if v is not None}


def with_wait(url: str) -> str:
    """``url`` with ``wait=true``: Discord then checks the message before answering (200 with the
    message), where it would otherwise answer 204 at once and drop a message it fails to save."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "wait"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("wait", "true")])))


def _json_block(value: Any) -> str:
    """A payload as a JSON code block (a text payload as itself)."""
    if isinstance(value, str) or value is None or value == {} or value == []:
        return value or "(empty message)"
    return f"{FENCE}json\n{json.dumps(value, ensure_ascii=False, sort_keys=True)}\n{FENCE}"


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-16 units, ending with an ellipsis: never inside a character, and
    closing a code block the cut left open."""
    return truncate(text, limit, ellipsis=ELLIPSIS, close_fence=f"\n{FENCE}")


def _seconds(value: Any) -> float | None:
    """A finite, non-negative number of seconds (a JSON number or a header), or None."""
    return None if value is None or isinstance(value, bool) else parse_retry_after(str(value))


def _errors(body: Mapping[str, Any]) -> str:
    """Discord's ``message`` and its first field errors (``embeds.0.title: Must be 256 or fewer…``)."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", body.get("errors"))]
    while stack and len(found) < 3:
        path, node = stack.pop(0)
        if isinstance(node, dict):
            found += [f"{path}: {e.get('message')}" for e in node.get("_errors") or () if isinstance(e, dict)]
            stack += [(f"{path}.{k}".lstrip("."), v) for k, v in node.items() if k != "_errors"]
    return "; ".join([str(body.get("message") or ""), *found[:3]]).strip("; ")


@hookimpl
def hub_register_channels(registry):
    registry.add(DiscordChannel)
