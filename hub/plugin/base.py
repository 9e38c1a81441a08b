"""What a plugin subclasses or fills in: the Provider and Channel base classes, the config schemas
they extend, and the registries the registration hooks receive."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from marshmallow import Schema, ValidationError, fields, validate

from hub.core.errors import ConfigInvalid, PluginError
from hub.plugin.helpers import http_url_problem, parse_retry_after
from hub.plugin.types import (
    ConnectionView,
    HttpRequest,
    HttpResponse,
    InboundRequest,
    OutboundMessage,
    ParsedEvent,
    PluginResponse,
    SendResult,
)

# --------------------------------------------------------------------------- schemas

class EmptySchema(Schema):
    """A plugin without secrets or settings."""


def _valid_rate_limit(value: str | None) -> None:
    if value is None:
        return
    import limits

    try:
        limits.parse(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a rate limit; write it like '10/second' or '600/minute'") from None


class ProviderConfigSchema(Schema):
    """Settings every provider has; a provider's ``config_schema`` extends it."""

    rate_limit = fields.String(
        load_default=None, allow_none=True, validate=_valid_rate_limit,
        metadata={"description": "Most inbound requests per period, e.g. '100/second' (default: no limit)."})
    max_body_bytes = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=64 * 1024 * 1024),
        metadata={"description": "Largest accepted body in bytes (default: the hub's limit, 1 MiB)."})
    dedupe_window = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=30 * 86400),
        metadata={"description": "Seconds during which a repeated event_id is a duplicate (default 86400)."})
    rotation_grace = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=7 * 86400),
        metadata={"description": "Seconds a rotated-out secret keeps verifying (default 86400, at most 7 days)."})


class ChannelConfigSchema(Schema):
    """Outbound settings common to every channel; a channel's ``config_schema`` extends it."""

    timeout = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=0.1, max=120),
        metadata={"description": "Seconds for the whole request (default 10)."})
    retry_schedule = fields.List(
        fields.Float(validate=validate.Range(min=0, max=7 * 86400)), load_default=None, allow_none=True,
        validate=validate.Length(max=30),
        metadata={"description": "Seconds between attempts (default 5, 300, 1800, 7200, 18000, 36000, 36000); "
                                 "[] means no retry: a retryable failure makes the delivery dead at once."})
    rate_limit = fields.String(
        load_default=None, allow_none=True, validate=_valid_rate_limit,
        metadata={"description": "Most sends per period, e.g. '1/second' or '100/minute'."})
    max_concurrency = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=1000),
        metadata={"description": "Most sends in flight at once to this connection."})
    disable_after_failures = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=100000),
        metadata={"description": "Consecutive failed deliveries that disable the connection (default 20)…"})
    disable_after_seconds = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=90 * 86400),
        metadata={"description": "… when they span at least this many seconds (default 86400)."})
    approval_timeout = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=90 * 86400),
        metadata={"description": "With approval manual or policy: seconds a delivery waits for a decision before "
                                 "it expires and is not sent (default 604800, 7 days; 0: it waits forever)."})


# --------------------------------------------------------------------------- base classes

_SLUG = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class _PluginClass:
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_schema: ClassVar[type[Schema]] = EmptySchema
    secrets_schema: ClassVar[type[Schema]] = EmptySchema
    #: Secret names that must have a value before the connection is saved.
    required_secrets: ClassVar[tuple[str, ...]] = ()

    def validate_config(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        """Cross-field checks at save time beyond the schemas; raise :class:`ConfigInvalid`."""


class Provider(_PluginClass):
    """One inbound authentication and parsing scheme.

    The core calls, in order: :meth:`handshake` (GET requests only), :meth:`verify` over the raw
    bytes, then :meth:`parse`. Secrets come from ``conn.secret_values(name)``, which honours
    rotation; never compare against an empty secret."""

    config_schema: ClassVar[type[Schema]] = ProviderConfigSchema

    def handshake(self, request: InboundRequest, conn: ConnectionView) -> PluginResponse | None:
        """Answer a provider's GET handshake (Meta's ``hub.challenge``), or ``None`` when the
        provider has none (the core then answers 405)."""
        return None

    def verify(self, request: InboundRequest, conn: ConnectionView) -> None:
        """Raise :class:`SignatureInvalid` or :class:`TimestampOutOfWindow` unless the raw
        request is authentic. The default accepts (the inbound API key was already checked)."""

    def parse(self, request: InboundRequest, conn: ConnectionView) -> ParsedEvent:
        """Turn a verified request into a :class:`ParsedEvent`; raise :class:`InvalidPayload`
        for a body that does not parse as its content type."""
        return ParsedEvent(payload=request.parse_body())


class Channel(_PluginClass):
    """One outbound destination type: builds the request and interprets the answer. The core
    sends (SSRF-safe connect, timeouts, signing, retries, rate limits)."""

    config_schema: ClassVar[type[Schema]] = ChannelConfigSchema
    #: Pacing applied when the connection sets no ``rate_limit`` (e.g. ``"1/second"``).
    default_rate_limit: ClassVar[str | None] = None
    #: Secret that holds the destination URL (masked as host + last 4 characters on read).
    url_secret: ClassVar[str | None] = None

    def default_body(self, envelope: Mapping[str, Any], conn: ConnectionView) -> Any:
        """The message for an event when the route has no template."""
        return dict(envelope)

    def build(self, message: OutboundMessage, conn: ConnectionView) -> HttpRequest:
        """The HTTP request that carries ``message`` to ``conn``."""
        raise NotImplementedError

    def interpret(self, response: HttpResponse, conn: ConnectionView) -> SendResult:
        """The verdict on an answer. The default follows the Standard Webhooks guidance."""
        return interpret_status(response)


class WebhookUrlChannel(Channel):
    """A channel whose destination is one URL kept as the secret ``webhook_url`` (chat tools): it
    is required, masked on read as its host and last 4 characters, and checked when the connection
    is saved by :meth:`webhook_url_problem`."""

    url_secret: ClassVar[str | None] = "webhook_url"  # noqa: S105 (the secret's name, not its value)
    required_secrets: ClassVar[tuple[str, ...]] = ("webhook_url",)
    #: An example URL for the error messages, e.g. ``https://hooks.slack.com/services/T…/B…/…``.
    url_example: ClassVar[str] = ""

    def webhook_url_problem(self, url: str) -> str | None:
        """Why ``url`` cannot be this channel's webhook URL, or ``None``. The default accepts any
        absolute http(s) URL (self-hosted compatibles and regional hosts vary too much to list)."""
        return http_url_problem(url, self.url_example)

    def validate_config(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        problem = self.webhook_url_problem(secrets.get("webhook_url") or "")
        if problem:
            raise ConfigInvalid(f"webhook_url {problem}", {"webhook_url": [problem]})


def interpret_status(response: HttpResponse) -> SendResult:
    """2xx delivered; 410 failed and disable; 408/425/429/5xx retry (honouring ``Retry-After``);
    any other status failed."""
    status = response.status
    excerpt = response.text[:200]
    if 200 <= status < 300:
        return SendResult("delivered", f"HTTP {status}", status_code=status)
    if status == 410:
        return SendResult("failed", "HTTP 410 Gone: the endpoint was removed", status_code=status,
                          disable_connection=True)
    if status in (408, 425, 429) or status >= 500:
        return SendResult("retry", f"HTTP {status}: {excerpt}".rstrip(": "), status_code=status,
                          retry_after=parse_retry_after(response.headers.get("Retry-After")))
    return SendResult("failed", f"HTTP {status}: {excerpt}".rstrip(": "), status_code=status)


# --------------------------------------------------------------------------- registries

P = TypeVar("P", bound=_PluginClass)


class _Registry(Generic[P]):
    kind: ClassVar[str] = ""
    base: ClassVar[type]

    def __init__(self) -> None:
        self._items: dict[str, P] = {}
        self._origin: dict[str, str] = {}
        self.current_plugin: str = ""

    def add(self, cls: type[P]) -> None:
        """Register a class (it is instantiated once and shared: keep it stateless)."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise PluginError(f"{self.kind} registry takes a subclass of {self.base.__name__}, got {cls!r}")
        name = cls.name
        if not _SLUG.match(name or ""):
            raise PluginError(f"{cls.__name__}.name must be a lower-case slug (a-z, 0-9, _), got {name!r}")
        if name in self._items:
            raise PluginError(f"{self.kind} {name!r} registered twice: by {self._origin[name]!r} "
                              f"and {self.current_plugin!r}")
        self._items[name] = cls()
        self._origin[name] = self.current_plugin

    def get(self, name: str) -> P:
        try:
            return self._items[name]
        except KeyError:
            raise PluginError(f"no {self.kind} named {name!r} is installed", code="unknown_plugin") from None

    def origin(self, name: str) -> str:
        return self._origin[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, P]]:
        return sorted(self._items.items())


class ProviderRegistry(_Registry[Provider]):
    """Receives provider classes: ``registry.add(MyProvider)``."""

    kind = "provider"
    base = Provider


class ChannelRegistry(_Registry[Channel]):
    """Receives channel classes: ``registry.add(MyChannel)``."""

    kind = "channel"
    base = Channel
