"""The data types that pass between the core and plugins: requests, connections, events,
deliveries, messages and verdicts. Immutable where the core does not expect a plugin to amend them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from hub.core.payloads import parse_body


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
