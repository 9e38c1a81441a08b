"""Builders for channel unit tests: connections, messages and answers as the core hands them over."""

from __future__ import annotations

import json
from typing import Any

from hub.plugin import Channel, ChannelRegistry, ConnectionView, Headers, HttpRequest, HttpResponse, OutboundMessage

ENVELOPE: dict[str, Any] = {
    "id": "evt_01", "workspace": "default", "connection": "crm-deals", "provider": "hmac",
    "received_at": "2026-03-23T15:30:00Z", "event_id": "deal-42", "channel": "ops", "message_id": "m-1",
    "event_ts": "2026-03-23T15:29:58Z", "text": "Deal 42 won by Ada",
    "payload": {"deal": {"id": 42, "stage": "won"}}, "headers": {"Content-Type": ["application/json"]}, "query": {},
}


def registered(module: Any, name: str) -> Channel:
    """The channel instance ``module`` registers under ``name``, through its hook."""
    registry = ChannelRegistry()
    module.hub_register_channels(registry)
    assert list(registry) == [name]
    return registry.get(name)


def make_conn(channel: Channel, url: str, config: dict[str, Any] | None = None, *,
              name: str = "crm-deals", default_channel: str | None = None) -> ConnectionView:
    """A connection whose config went through the channel's schema, as the admin API stores it."""
    loaded = channel.config_schema().load(config or {})
    return ConnectionView(id="con_1", name=name, workspace="default", channel=channel.name,
                          channel_config={k: v for k, v in loaded.items() if v is not None},
                          secrets={"webhook_url": url}, default_channel=default_channel)


def envelope(**changes: Any) -> dict[str, Any]:
    return {**ENVELOPE, **changes}


def message(body: Any, *, is_test: bool = False) -> OutboundMessage:
    return OutboundMessage(body=body, delivery_id="dlv_1", webhook_id="msg_1", attempt=1, timestamp=1_700_000_000,
                           envelope=ENVELOPE, is_test=is_test)


def sent(request: HttpRequest) -> Any:
    """The JSON body of a built request (asserting it is UTF-8 JSON)."""
    assert request.headers["Content-Type"].startswith("application/json")
    return json.loads(request.body.decode("utf-8"))


def answer(status: int, body: bytes | str | dict[str, Any] = b"",
           headers: dict[str, str] | None = None) -> HttpResponse:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return HttpResponse(status=status, headers=Headers(headers or {}), body=body)


def verdict(result: Any) -> tuple[Any, ...]:
    """The fields of a SendResult the core acts on (the detail is for people, checked separately)."""
    return (result.outcome, result.status_code, result.retry_after, result.disable_connection,
            result.flag is not None, result.cooldown)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
