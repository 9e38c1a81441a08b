"""The public plugin API of Hookhub: everything a provider or channel plugin imports.

A plugin is a module (or object) with ``@hookimpl`` functions, exposed through an entry point
of group ``hookhub``::

    [options.entry_points]
    hookhub =
        acme = hookhub_acme.plugin

Registration hooks hand classes to the core::

    @hookimpl
    def hub_register_channels(registry):
        registry.add(AcmeChannel)

Behaviour hooks observe or steer the pipeline (``hub_event_received``,
``hub_before_delivery``, ``hub_decide_approval``, ``hub_delivery_finished``, …).

Plugins import only this module; it re-exports the few helpers they need (body parsing,
constant-time comparison, ``Retry-After`` parsing) so that nothing else in ``hub`` is public.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hmac
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import pluggy
from marshmallow import Schema, ValidationError, fields, validate

from hub.payloads import parse_body

if TYPE_CHECKING:  # pragma: no cover
    import click

__all__ = [
    "hookimpl", "Provider", "Channel", "ProviderRegistry", "ChannelRegistry",
    "Headers", "InboundRequest", "ConnectionView", "ParsedEvent", "PluginResponse",
    "EventView", "DeliveryView", "OutboundMessage", "HttpRequest", "HttpResponse", "SendResult",
    "Decision", "Veto", "ProviderConfigSchema", "ChannelConfigSchema", "EmptySchema",
    "HookhubError", "PluginError", "SignatureInvalid", "TimestampOutOfWindow", "InvalidPayload",
    "PayloadTooLarge", "RateLimited", "PermanentFailure", "ConfigInvalid",
    "parse_body", "secure_compare", "parse_retry_after", "secret_field",
]

PROJECT = "hookhub"
_hookspec = pluggy.HookspecMarker(PROJECT)
#: Marker for plugin hook implementations: ``@hookimpl`` or ``@hookimpl(trylast=True)``.
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- errors

class HookhubError(Exception):
    """An error with a stable machine-readable ``code`` and the HTTP status it maps to."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class PluginError(HookhubError):
    """A plugin is missing, misspelt, or registered something invalid."""

    code = "plugin_error"
    status = 500


class ConfigInvalid(HookhubError):
    """A plugin refuses a connection's configuration (``fields`` names each bad field)."""

    code = "validation_error"
    status = 422

    def __init__(self, message: str, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["fields"] = self.fields
        return body


class SignatureInvalid(HookhubError):
    """The request's signature is missing, malformed or does not match."""

    code = "signature_invalid"
    status = 401


class TimestampOutOfWindow(HookhubError):
    """The signed timestamp is missing, unreadable, too old or too far in the future."""

    code = "timestamp_out_of_window"
    status = 401


class InvalidPayload(HookhubError):
    """The body cannot be parsed as its declared content type."""

    code = "invalid_payload"
    status = 400


class PayloadTooLarge(HookhubError):
    """The body is over the connection's size limit."""

    code = "payload_too_large"
    status = 413


class RateLimited(HookhubError):
    """Too many requests; ``retry_after`` says in how many seconds to try again."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(HookhubError):
    """An outbound send that must not be retried (the channel says why)."""

    code = "permanent_failure"
    status = 400


# --------------------------------------------------------------------------- helpers

def secure_compare(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets in constant time; an empty value never matches."""
    if isinstance(a, str):
        a = a.encode("utf-8")
    if isinstance(b, str):
        b = b.encode("utf-8")
    if not a or not b:
        return False
    return hmac.compare_digest(a, b)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds (fractional allowed) or an
    HTTP date. Returns ``None`` for a missing or unreadable value, never a negative number."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)


def secret_field(**kwargs: Any) -> fields.String:
    """A string field marked secret: write-only, encrypted at rest, masked on read."""
    metadata = dict(kwargs.pop("metadata", {}))
    metadata["secret"] = True
    return fields.String(metadata=metadata, **kwargs)


# --------------------------------------------------------------------------- data types

class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued, read-only HTTP headers.

    ``headers["X-Foo"]`` and ``headers.get("x-foo")`` give the first value;
    ``headers.getlist(name)`` gives all of them in order."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, Any] = ()) -> None:
        if isinstance(items, Mapping):
            pairs: list[tuple[str, str]] = []
            for k, v in items.items():
                if isinstance(v, (list, tuple)):
                    pairs.extend((k, str(x)) for x in v)
                else:
                    pairs.append((k, str(v)))
            items = pairs
        self._items: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in items)
        index: dict[str, list[str]] = {}
        for k, v in self._items:
            index.setdefault(k.lower(), []).append(v)
        self._index = index

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for k, _ in self._items:
            if k.lower() not in seen:
                seen.add(k.lower())
                yield k

    def __len__(self) -> int:
        return len(self._index)

    def getlist(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))

    def items_multi(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def to_multidict(self) -> dict[str, list[str]]:
        """``{"Content-Type": ["application/json"], …}`` keeping the first spelling of each name."""
        out: dict[str, list[str]] = {}
        spelling: dict[str, str] = {}
        for k, v in self._items:
            key = spelling.setdefault(k.lower(), k)
            out.setdefault(key, []).append(v)
        return out

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


@dataclass(frozen=True)
class InboundRequest:
    """An inbound HTTP request as a provider sees it. ``body`` is the raw bytes, exactly as
    received: verify signatures over it, never over a re-serialised payload."""

    method: str
    url: str                                   # full URL as received, query included
    path: str
    headers: Headers
    query: Mapping[str, list[str]]
    body: bytes
    content_type: str = ""                     # lower-cased mimetype without parameters
    remote_addr: str = ""
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def parse_body(self) -> Any:
        """The body parsed by its Content-Type (see :func:`parse_body`)."""
        return parse_body(self.body, self.headers.get("Content-Type") or self.content_type)


@dataclass(frozen=True)
class ConnectionView:
    """A read-only view of a connection for plugins, with its secrets decrypted.

    ``secrets`` holds the current value of each secret; ``previous_secrets`` the values still
    inside their rotation grace period. Verify with :meth:`secret_values` to honour rotation."""

    id: str
    name: str
    workspace: str
    provider: str | None = None
    channel: str | None = None
    provider_config: Mapping[str, Any] = field(default_factory=dict)
    channel_config: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    previous_secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_channel: str | None = None

    def secret_values(self, name: str) -> list[str]:
        """The non-empty values that may be used for ``name``: current first, then those of a
        rotation that has not expired. Empty when no value is configured."""
        values = [self.secrets.get(name) or ""]
        values.extend(self.previous_secrets.get(name, ()))
        return [v for v in values if v]


@dataclass(frozen=True)
class PluginResponse:
    """An answer a provider sends instead of the hub's own (handshakes, challenges)."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ParsedEvent:
    """What a provider extracts from a verified request.

    ``payload`` is the parsed body (dict, list or string). ``event_id`` and ``fields``
    (any of ``channel``, ``message_id``, ``event_ts``, ``text``) take precedence over the
    connection's field map when the provider knows better (``X-GitHub-Delivery``…); a field
    ``event`` (the sender's event name, e.g. ``X-GitHub-Event``) becomes the envelope's ``event_type``.
    ``reply`` answers the sender instead of the accepted body; with ``store=False`` nothing is
    recorded (pure protocol messages such as Slack's ``url_verification``)."""

    payload: Any
    event_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    reply: PluginResponse | None = None
    store: bool = True


@dataclass(frozen=True)
class EventView:
    """An accepted event: its hub id, connection and envelope (see the design's envelope)."""

    id: str
    connection_id: str
    envelope: Mapping[str, Any]
    raw_body: bytes = b""


@dataclass
class DeliveryView:
    """One outbound message about to be (or just) sent. ``body`` and ``headers`` may be amended
    by ``hub_before_delivery`` implementations."""

    id: str
    webhook_id: str
    event: EventView | None
    connection: ConnectionView
    route_id: str | None
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    attempt: int = 1


@dataclass(frozen=True)
class OutboundMessage:
    """The rendered message a channel turns into an HTTP request."""

    body: Any                                  # JSON value: the rendered template or default rendering
    delivery_id: str
    webhook_id: str                            # stable across retries: the receiver's idempotency key
    attempt: int = 1
    timestamp: int = 0                         # Unix seconds of this attempt
    envelope: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)   # added by hub_before_delivery
    is_test: bool = False


@dataclass(frozen=True)
class HttpRequest:
    """An outbound HTTP request built by a channel; the core sends it."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class HttpResponse:
    """The answer of an outbound request, as a channel interprets it."""

    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    elapsed_ms: float = 0.0

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        import json

        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None


@dataclass(frozen=True)
class SendResult:
    """A channel's verdict on one attempt.

    ``outcome``: ``delivered``; ``retry`` (try again, no sooner than ``retry_after`` seconds when
    given); ``failed`` (permanent: never retried). ``disable_connection`` disables the target
    connection (the endpoint is gone); ``flag`` records a reason for the admin to see.
    ``cooldown`` asks the core to send nothing more to this connection for that many seconds
    (a rate-limit bucket ran dry) — the core re-schedules, it never sleeps."""

    outcome: Literal["delivered", "retry", "failed"]
    detail: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    disable_connection: bool = False
    flag: str | None = None
    cooldown: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "delivered"

    def replace(self, **changes: Any) -> SendResult:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Decision:
    """An approval decision returned by ``hub_decide_approval``."""

    approve: bool
    reason: str = ""
    decided_by: str = "policy"


@dataclass(frozen=True)
class Veto:
    """Returned by ``hub_before_delivery`` to stop a delivery (it ends as ``rejected``)."""

    reason: str


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
        metadata={"description": "Seconds between attempts (default 5, 300, 1800, 7200, 18000, 36000, 36000)."})
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


def http_url_problem(url: str, example: str = "") -> str | None:
    """Why ``url`` is not an absolute http(s) URL, in words that end "… e.g. <example>", or ``None``.

    Deliberately lenient about the host (an IP in any spelling, a name without a dot): where a
    request may go is for the SSRF rules to decide when it is sent, with a reason on the attempt."""
    hint = f" e.g. {example}" if example else ""
    if not url:
        return f"is required:{hint or ' an absolute http(s) URL'}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(
            ch.isspace() or ord(ch) < 32 for ch in url):
        return f"must be an absolute http:// or https:// URL without spaces{hint}"
    return None


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


@dataclass(frozen=True)
class EventSummary:
    """What a chat message about an event shows by default: a title ``<source> · <channel>``, the
    channel, the source connection, the event's time and its text ("" when it has none)."""

    title: str
    channel: str
    source: str
    time: str
    text: str

    @classmethod
    def of(cls, envelope: Mapping[str, Any], conn: ConnectionView) -> EventSummary:
        channel = str(envelope.get("channel") or conn.default_channel or "—")
        source = str(envelope.get("connection") or conn.name)
        text = envelope.get("text")
        return cls(title=f"{source} · {channel}" if channel != "—" else source, channel=channel, source=source,
                   time=str(envelope.get("event_ts") or envelope.get("received_at") or "—"),
                   text=text if isinstance(text, str) else "")


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


__all__ += ["interpret_status", "http_url_problem", "WebhookUrlChannel", "EventSummary"]


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


# --------------------------------------------------------------------------- hook specifications

@_hookspec
def hub_register_providers(registry: ProviderRegistry) -> None:
    """Register provider classes with ``registry.add(cls)``.

    :param registry: the app's provider registry.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_register_channels(registry: ChannelRegistry) -> None:
    """Register channel classes with ``registry.add(cls)``.

    :param registry: the app's channel registry.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_event_received(event: EventView) -> None:
    """Observe every accepted event, once, in the worker (never in the request).

    :param event: the stored event with its envelope.
    :return: ignored. An exception is logged and does not stop routing.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_before_delivery(delivery: DeliveryView) -> Veto | None:
    """Inspect a delivery before it is sent; amend ``delivery.body`` / ``delivery.headers`` in
    place, or return a :class:`Veto` to stop it (the delivery ends as ``rejected``).

    :param delivery: the delivery about to be sent.
    :return: ``None`` to let it go, or a :class:`Veto`.

    .. versionadded:: 0.1
    """


@_hookspec(firstresult=True)
def hub_decide_approval(delivery: DeliveryView) -> Decision | None:
    """Decide a delivery held for approval by policy; the first non-``None`` answer wins.

    :param delivery: the delivery waiting for approval.
    :return: a :class:`Decision`, or ``None`` to leave it to an admin.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_delivery_finished(delivery: DeliveryView, result: SendResult) -> None:
    """Observe the outcome of every attempt (delivered, retried or failed).

    :param delivery: the delivery that was attempted.
    :param result: the channel's verdict.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_register_commands(cli: click.Group) -> None:
    """Add commands to the ``hookhub`` CLI: ``cli.add_command(my_command)``.

    :param cli: the top-level click group.

    .. versionadded:: 0.1
    """


@_hookspec
def hub_register_blueprints(register: Callable[..., None]) -> None:
    """Add Flask blueprints to the web app: ``register(blueprint, url_prefix="/acme")``.

    :param register: a callable with the signature of ``Flask.register_blueprint``.

    .. versionadded:: 0.1
    """
