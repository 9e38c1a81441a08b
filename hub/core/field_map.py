"""A connection's field map: where each envelope key is read from in an inbound request (payload
paths, ``header:Name`` or ``query:name``), its defaults, and the check made when it is saved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.core.paths import PathError, compile_path

FIELD_MAP_KEYS = ("event_id", "channel", "message_id", "event_ts", "text", "event_type")
DEFAULT_FIELD_MAP: dict[str, Any] = {
    "event_id": "event_id", "channel": "channel", "message_id": "message_id", "event_ts": "event_ts",
    "text": ["text", "message", "content", "body"],
    # The envelope's "type"; a provider that knows better (X-GitHub-Event, Slack's event.type) wins.
    "event_type": ["type", "event_type", "event", "action"],
}


def check_field_map(field_map: Any) -> tuple[dict[str, Any], dict[str, Any] | list[str]]:
    """The defaults overlaid with ``field_map``, and the problems found in it (empty when none)."""
    merged = dict(DEFAULT_FIELD_MAP)
    if field_map is None:
        return merged, {}
    if not isinstance(field_map, Mapping):
        return merged, ["must be an object"]
    problems: dict[str, list[str]] = {}
    for key, paths in field_map.items():
        if key not in FIELD_MAP_KEYS:
            problems[key] = [f"unknown field; known: {', '.join(FIELD_MAP_KEYS)}"]
            continue
        candidates = paths if isinstance(paths, list) else [paths]
        if not candidates or not all(isinstance(p, str) for p in candidates):
            problems[key] = ["must be a path or a list of paths"]
            continue
        for path in candidates:
            try:
                if not path.startswith(("header:", "query:")):
                    compile_path(path)
            except PathError as exc:
                problems[key] = [str(exc)]
        merged[key] = paths
    return merged, problems
