"""The event envelope: what routes, templates and plugins see of an accepted request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dateutil import parser as dateparser

from hub.core.paths import MISSING, compile_path
from hub.core.payloads import storable
from hub.core.times import iso
from hub.plugin import InboundRequest, ParsedEvent

REDACTED_HEADERS = frozenset({"authorization", "cookie", "x-hookhub-key", "proxy-authorization"})
MAX_EVENT_ID = 255


def normalise_timestamp(value: Any) -> str | None:
    """ISO 8601, or Unix seconds / milliseconds (numbers or numeric strings) → UTC ISO 8601.
    Anything unreadable gives ``None``."""
    if value is None or value is MISSING or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            number = float(value.strip())
        elif isinstance(value, str) and value.strip():
            dt = dateparser.isoparse(value.strip())
            return iso(dt if dt.tzinfo else dt.replace(tzinfo=UTC))
        else:
            return None
        if number > 1e11:  # milliseconds
            number /= 1000.0
        return iso(datetime.fromtimestamp(number, UTC))
    except (ValueError, OverflowError, OSError):
        return None


class FieldMap:
    """A connection's field map, compiled once: each envelope key → candidate paths, in order.
    ``header:Name`` and ``query:name`` read the request instead of the payload."""

    def __init__(self, field_map: Mapping[str, Any]) -> None:
        self.candidates: dict[str, list[tuple[str, Any]]] = {}
        for key, paths in field_map.items():
            compiled = []
            for path in paths if isinstance(paths, list) else [paths]:
                if path.startswith("header:"):
                    compiled.append(("header", path[7:]))
                elif path.startswith("query:"):
                    compiled.append(("query", path[6:]))
                else:
                    compiled.append(("payload", compile_path(path)))
            self.candidates[key] = compiled

    def pick(self, key: str, payload: Any, request: InboundRequest) -> Any:
        for source, ref in self.candidates.get(key, ()):
            if source == "header":
                value = request.headers.get(ref)
            elif source == "query":
                value = request.query_value(ref)
            else:
                value = ref(payload) if isinstance(payload, (dict, list)) else MISSING
            if value is not MISSING and value is not None and value != "":
                return value
        return None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def external_event_id(value: Any, body: bytes) -> str:
    """The dedupe key: the mapped id as text (hashed when too long), or SHA-256 of the raw body."""
    text = _as_text(value)
    if not text:
        return hashlib.sha256(body).hexdigest()
    if len(text) > MAX_EVENT_ID:
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text


def _may_need_cleaning(request: InboundRequest, envelope: dict[str, Any]) -> bool:
    """NUL in a header or the query, or NUL or a non-ASCII character (which could be a lone
    surrogate) in a field a provider plugin set: worth a full pass of ``storable``."""
    return (any("\x00" in name or "\x00" in value for name, value in request.headers.items_multi())
            or any("\x00" in name or any("\x00" in v for v in values) for name, values in request.query.items())
            or any(isinstance(value, str) and ("\x00" in value or not value.isascii()) for value in envelope.values()))


def build_envelope(*, hub_id: str, workspace: str, connection_name: str, provider: str, default_channel: str | None,
                   field_map: FieldMap, parsed: ParsedEvent, request: InboundRequest) -> dict[str, Any]:
    payload = parsed.payload

    def field(key: str) -> Any:
        value = parsed.fields.get(key)
        return value if value not in (None, "") else field_map.pick(key, payload, request)

    event_id = external_event_id(parsed.event_id or field("event_id"), request.body)
    # A provider's "type" (or "event", e.g. X-GitHub-Event, X-Shopify-Topic) wins over the field map.
    event_type = _as_text(parsed.fields.get("type") or parsed.fields.get("event") or field("event_type"))
    headers = {name: (["[redacted]"] if name.lower() in REDACTED_HEADERS else values)
               for name, values in request.headers.to_multidict().items()}
    query = {k: (v[0] if len(v) == 1 else v) for k, v in request.query.items() if k != "key"}
    envelope = {
        "id": hub_id, "workspace": workspace, "connection": connection_name, "provider": provider,
        "received_at": iso(request.received_at), "event_id": event_id,
        "channel": _as_text(field("channel")) or default_channel,
        "message_id": _as_text(field("message_id")),
        "event_ts": normalise_timestamp(field("event_ts")),
        "text": _as_text(field("text")),
        "type": event_type,
        "event_type": event_type,   # the name it had first, kept for the clients that read it
        "headers": headers, "query": query,
    }
    # The payload is storable already (parse_body), but a header, a query value or a provider's
    # field may carry NUL, which PostgreSQL cannot store in text. Looked for cheaply, as it is rare.
    if _may_need_cleaning(request, envelope):
        envelope = storable(envelope)
    envelope["payload"] = payload
    return envelope
