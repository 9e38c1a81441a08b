"""The custom webhook channel on its own: the request it builds, the verdicts it gives, the
settings it refuses (the engine tests send through it for real)."""

from __future__ import annotations

import json

import pytest

import plugins.channels.webhook as webhook_module
from hub.plugin import ChannelRegistry, ConfigInvalid, ConnectionView, Headers, HttpResponse, OutboundMessage


def channel():
    registry = ChannelRegistry()
    webhook_module.hub_register_channels(registry)
    return registry.get("webhook")


def conn(config=None, secrets=None):
    config = {"url": "https://example.com/hook", **(config or {})}
    return ConnectionView(id="con_1", name="t", workspace="default", channel="webhook",
                          channel_config=config, secrets=secrets or {})


def message(body=None, **kw):
    return OutboundMessage(body={"a": 1} if body is None else body, delivery_id="dlv_1", webhook_id="msg_1", **kw)


def test_build_posts_compact_utf8_json_with_headers_and_the_auth_secret():
    request = channel().build(message({"text": "héllo"}), conn(
        {"method": "PATCH", "headers": {"X-Team": "ops"}, "auth_header": "Authorization"},
        {"auth_value": "Bearer t0k"}))
    assert request.method == "PATCH" and request.url == "https://example.com/hook"
    assert request.body == '{"text":"héllo"}'.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Team"] == "ops" and request.headers["Authorization"] == "Bearer t0k"
    assert "X-Hookhub-Test" not in request.headers


def test_a_test_message_is_labelled():
    assert channel().build(message(is_test=True), conn()).headers["X-Hookhub-Test"] == "true"


def response(status, body=b"", headers=None):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
    return HttpResponse(status, Headers(headers or {}), body)


@pytest.mark.parametrize("rule, answer, outcome, detail", [
    ("any_2xx", response(200), "delivered", "HTTP 200"),
    ("any_2xx", response(202, "queued"), "delivered", "HTTP 202"),
    ("any_2xx", response(204), "delivered", "HTTP 204"),
    ("any_2xx", response(500, "oops"), "retry", "HTTP 500: oops"),
    ("any_2xx", response(502), "retry", "HTTP 502"),
    ("any_2xx", response(504), "retry", "HTTP 504"),
    ("any_2xx", response(429), "retry", "HTTP 429"),
    ("any_2xx", response(404, "no"), "failed", "HTTP 404: no"),
    ("any_2xx", response(410), "failed", "HTTP 410 Gone"),
    ("any_2xx", response(302, headers={"Location": "https://x.example/"}), "failed", "redirects to https://x.example/"),
    ("json_response", response(200, {"output": {"response": "ok"}}), "delivered", "output.response present"),
    ("json_response", response(200, {"output": {"response": "ok"}, "response": False}), "delivered",
     "output.response present"),
    ("json_response", response(200, {"response": {"id": 1}}), "delivered", "response present"),
    ("json_response", response(204), "delivered", "HTTP 204"),
    ("json_response", response(200, {"status": "ok"}), "failed", "without a 'response' key"),
    ("json_response", response(200, "not json"), "failed", "not a JSON object"),
    ("json_response", response(200, b""), "failed", "empty body"),
    ("json_response", response(200, [1, 2]), "failed", "not a JSON object"),
    ("json_response", response(200, {"response": None}), "failed", "response = null"),
    ("json_response", response(503), "retry", "HTTP 503"),
])
def test_verdicts(rule, answer, outcome, detail):
    result = channel().interpret(answer, conn({"success": rule}))
    assert result.outcome == outcome
    assert detail in result.detail
    assert result.status_code == answer.status


def test_410_disables_and_429_carries_retry_after():
    assert channel().interpret(response(410), conn()).disable_connection is True
    assert channel().interpret(response(429, headers={"Retry-After": "7"}), conn()).retry_after == 7.0


@pytest.mark.parametrize("config, secrets, field, words", [
    ({"url": "ftp://example.com"}, {}, "url", "http"),
    ({"url": "/relative"}, {}, "url", "absolute"),
    ({"url": "https://example.com/a b"}, {}, "url", "without spaces"),
    ({"url": ""}, {}, "url", "is required"),
    ({"method": "DELETE"}, {}, "method", "one of"),
    ({"headers": {"Bad Header": "x"}}, {}, "headers", "not a valid header name"),
    ({"headers": {"X-Ok": "a\r\nInjected: 1"}}, {}, "headers", "line break"),
    ({"headers": {"webhook-signature": "forged"}}, {}, "headers", "set by the hub"),
    ({"headers": {"Content-Length": "1"}}, {}, "headers", "set by the hub"),
    ({"success": "maybe"}, {}, "success", "one of"),
    ({"auth_header": "X-Key"}, {}, "auth_header", "auth_value"),
])
def test_bad_settings_are_refused_with_the_field_named(config, secrets, field, words):
    plugin = channel()
    full = {"url": "https://example.com/hook", **config}
    errors = plugin.config_schema().validate(full)
    if not errors:
        with pytest.raises(ConfigInvalid) as caught:
            plugin.validate_config(plugin.config_schema().load(full), secrets)
        errors = caught.value.fields
    assert field in errors and words in str(errors[field])


def test_good_settings_load_with_defaults():
    plugin = channel()
    loaded = plugin.config_schema().load({"url": "http://example.com/x"})
    assert loaded["method"] == "POST" and loaded["success"] == "any_2xx" and loaded["headers"] == {}
    plugin.validate_config(loaded, {})
