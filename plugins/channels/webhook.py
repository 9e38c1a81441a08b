"""The ``webhook`` channel: a JSON request to any HTTP endpoint (the "custom webhook").

The request carries the rendered template (by default the event envelope) as JSON, the admin's
custom headers and an optional auth header whose value is a secret. Standard Webhooks signing
(``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature``) is added by the core when the
connection has a ``signing_secret``, so every channel could be signed the same way.

Success rules: ``any_2xx`` (default), or ``json_response`` for endpoints that report their result
in the body: 204 counts as success, otherwise the JSON body must carry ``output.response``
(checked first) or ``response``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from hub.plugin import (
    Channel,
    ChannelConfigSchema,
    ConfigInvalid,
    ConnectionView,
    HttpRequest,
    HttpResponse,
    OutboundMessage,
    SendResult,
    hookimpl,
    http_url_problem,
    interpret_status,
    secret_field,
)

METHODS = ("POST", "PUT", "PATCH")
SUCCESS_RULES = ("any_2xx", "json_response")
# Headers the core or HTTP itself owns: an admin setting them would break signing or framing.
RESERVED_HEADERS = frozenset({"content-length", "host", "transfer-encoding", "connection",
                              "webhook-id", "webhook-timestamp", "webhook-signature"})
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
MISSING = object()


def _is_header_name(name: str) -> bool:
    return bool(name) and len(name) <= 100 and set(name) <= _TOKEN_CHARS


class WebhookConfig(ChannelConfigSchema):
    url = fields.String(required=True, metadata={"description": "The endpoint, an absolute http(s) URL."})
    method = fields.String(load_default="POST", validate=validate.OneOf(METHODS),
                           metadata={"description": "POST (default), PUT or PATCH."})
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict,
                          metadata={"description": "Extra request headers (not secret: use auth_header for that)."})
    auth_header = fields.String(load_default=None, allow_none=True,
                                metadata={"description": "Header that carries the secret auth_value, "
                                                         "e.g. Authorization or X-Api-Key."})
    success = fields.String(load_default="any_2xx", validate=validate.OneOf(SUCCESS_RULES),
                            metadata={"description": "any_2xx (default), or json_response: 204, or a JSON body "
                                                     "with output.response / response."})
    # The core checks the pair when the connection is saved (PEM, matching, not expired) and
    # presents it on every send (hub.outbound.mtls).
    client_cert = fields.String(load_default=None, allow_none=True,
                                metadata={"description": "PEM client certificate for mutual TLS "
                                                         "(its private key is the client_key secret)."})

    @validates("url")
    def _check_url(self, value: str, **_: Any) -> None:
        problem = http_url_problem(value, "https://example.com/hooks/hookhub")
        if problem:
            raise ValidationError(problem)

    @validates("headers")
    def _check_headers(self, value: Mapping[str, str], **_: Any) -> None:
        for name, header_value in value.items():
            if not _is_header_name(name):
                raise ValidationError(f"{name!r} is not a valid header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValidationError(f"{name!r} is set by the hub and cannot be configured")
            if any(ch in header_value for ch in "\r\n\x00"):
                raise ValidationError(f"the value of {name!r} contains a line break")

    @validates("auth_header")
    def _check_auth_header(self, value: str | None, **_: Any) -> None:
        if value is not None and (not _is_header_name(value) or value.lower() in RESERVED_HEADERS):
            raise ValidationError(f"{value!r} cannot be used as the auth header name")


class WebhookSecrets(Schema):
    auth_value = secret_field(metadata={"description": "Value of the auth header, e.g. 'Bearer …'."})
    signing_secret = secret_field(metadata={
        "description": "A Standard Webhooks secret (whsec_ followed by base64): every request is signed "
                       "with webhook-id, webhook-timestamp and webhook-signature headers."})
    client_key = secret_field(metadata={"description": "PEM private key of the mutual-TLS client certificate."})


class WebhookChannel(Channel):
    name = "webhook"
    title = "Custom webhook"
    description = ("JSON to any HTTP endpoint, with custom headers, an auth header, optional Standard Webhooks "
                   "signatures and mutual TLS.")
    config_schema = WebhookConfig
    secrets_schema = WebhookSecrets

    def validate_config(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        if config.get("auth_header") and not secrets.get("auth_value"):
            raise ConfigInvalid("auth_header needs a value", {"auth_header": [
                "give the header's value as the secret auth_value"]})

    def build(self, message: OutboundMessage, conn: ConnectionView) -> HttpRequest:
        config = conn.channel_config
        headers = {"Content-Type": "application/json", "User-Agent": "Hookhub-Webhook/1"}
        headers.update(config.get("headers") or {})
        auth_header, auth_value = config.get("auth_header"), conn.secrets.get("auth_value")
        if auth_header and auth_value:
            headers[auth_header] = auth_value
        if message.is_test:
            headers["X-Hookhub-Test"] = "true"
        headers.update(message.headers)
        body = json.dumps(message.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return HttpRequest(config.get("method") or "POST", config["url"], headers, body)

    def interpret(self, response: HttpResponse, conn: ConnectionView) -> SendResult:
        if 300 <= response.status < 400:
            where = response.headers.get("Location") or "(no Location header)"
            return SendResult("failed", f"HTTP {response.status}: the endpoint redirects to {where}; webhooks do "
                                        "not follow such redirects, update the URL", status_code=response.status)
        if conn.channel_config.get("success") != "json_response" or not 200 <= response.status < 300:
            return interpret_status(response)
        if response.status == 204:
            return SendResult("delivered", "HTTP 204", status_code=204)
        return json_response_verdict(response)


def json_response_verdict(response: HttpResponse) -> SendResult:
    """The ``json_response`` rule on a 2xx answer: ``output.response`` first, then ``response``."""
    body = response.json()
    if not isinstance(body, Mapping):
        what = "an empty body" if not response.body.strip() else "a body that is not a JSON object"
        return SendResult("failed", f"your endpoint answered {response.status} with {what}; the json_response "
                                    "rule expects a JSON object with a 'response' key", status_code=response.status)
    output = body.get("output")
    value = output.get("response", MISSING) if isinstance(output, Mapping) else MISSING
    where = "output.response"
    if value is MISSING:
        value, where = body.get("response", MISSING), "response"
    if value is MISSING:
        return SendResult("failed", f"your endpoint answered {response.status} but without a 'response' key "
                                    "(nor 'output.response') in its JSON body", status_code=response.status)
    if value is False or value is None:
        return SendResult("failed", f"your endpoint answered {response.status} with {where} = "
                                    f"{json.dumps(value)}", status_code=response.status)
    return SendResult("delivered", f"HTTP {response.status}, {where} present", status_code=response.status)


@hookimpl
def hub_register_channels(registry):
    registry.add(WebhookChannel)
