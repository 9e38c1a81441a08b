"""Builders for provider unit tests: requests and connections as the core hands them over."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hub.plugin import ConnectionView, Headers, InboundRequest, ProviderRegistry

NOW_TS = 1_700_000_000
NOW = datetime.fromtimestamp(NOW_TS, UTC)
URL = "https://hub.example.com/hooks/hmac/conn_1?key=k_123"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def make_request(body: bytes | str = b"", headers: dict[str, Any] | None = None, *, content_type: str = JSON,
                 method: str = "POST", url: str = URL, received_at: datetime | int = NOW) -> InboundRequest:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(received_at, int):
        received_at = datetime.fromtimestamp(received_at, UTC)
    parts = urlsplit(url)
    return InboundRequest(method=method, url=url, path=parts.path, headers=Headers(headers or {}),
                          query=parse_qs(parts.query, keep_blank_values=True), body=body,
                          content_type=content_type, received_at=received_at)


def make_conn(provider: str, *, config: dict[str, Any] | None = None, secrets: dict[str, str] | None = None,
              previous: dict[str, tuple[str, ...]] | None = None) -> ConnectionView:
    return ConnectionView(id="conn_1", name="test", workspace="default", provider=provider,
                          provider_config=config or {}, secrets=secrets or {}, previous_secrets=previous or {})


def registered(module: Any, name: str) -> Any:
    """The provider instance ``module`` registers under ``name``, through its hook."""
    registry = ProviderRegistry()
    module.hub_register_providers(registry)
    assert name in registry
    return registry.get(name)


def hex_hmac(key: bytes | str, message: bytes, digest: Any = hashlib.sha256) -> str:
    if isinstance(key, str):
        key = key.encode("utf-8")
    return hmac.new(key, message, digest).hexdigest()


def b64_hmac(key: bytes | str, message: bytes, digest: Any = hashlib.sha256) -> str:
    if isinstance(key, str):
        key = key.encode("utf-8")
    return base64.b64encode(hmac.new(key, message, digest).digest()).decode("ascii")
