"""Path expressions into JSON values: dotted with ``[n]`` indices, or JSONPath when they start
with ``$``. A path that does not resolve gives :data:`MISSING`, never an exception."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

_SEGMENT = re.compile(r"([^.\[\]]+)?((?:\[-?\d+\])*)")
_INDEX = re.compile(r"\[(-?\d+)\]")


class PathError(ValueError):
    """The path expression itself is malformed."""


@functools.lru_cache(maxsize=1024)
def compile_path(path: str) -> Callable[[Any], Any]:
    """A function that takes a JSON value and returns the value at ``path`` or MISSING."""
    if not isinstance(path, str) or not path.strip():
        raise PathError("a path must be a non-empty string")
    path = path.strip()
    if path.startswith("$"):
        try:
            expr = jsonpath_parse(path)
        except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # jsonpath-ng raises broadly
            raise PathError(f"not a valid JSONPath: {exc}") from None

        def resolve_jsonpath(value: Any) -> Any:
            try:
                matches = expr.find(value)
            except Exception:  # a JSONPath filter over odd data must not crash the caller
                return MISSING
            if not matches:
                return MISSING
            return matches[0].value if len(matches) == 1 else [m.value for m in matches]

        return resolve_jsonpath

    steps: list[str | int] = []
    for part in _split_dots(path):
        m = _SEGMENT.fullmatch(part)
        if not m or (m.group(1) is None and not m.group(2)):
            raise PathError(f"cannot read path segment {part!r} in {path!r}")
        if m.group(1) is not None:
            steps.append(m.group(1))
        steps.extend(int(i) for i in _INDEX.findall(m.group(2) or ""))

    def resolve_dotted(value: Any) -> Any:
        for step in steps:
            if isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    value = value[step]
                else:
                    return MISSING
            elif isinstance(value, dict) and step in value:
                value = value[step]
            elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
                value = value[int(step)]
            else:
                return MISSING
        return value

    return resolve_dotted


def _split_dots(path: str) -> list[str]:
    parts = path.split(".")
    if any(p == "" for p in parts):
        raise PathError(f"empty segment in path {path!r}")
    return parts


def resolve(value: Any, path: str) -> Any:
    """The value at ``path`` in ``value``, or MISSING (also for a malformed path)."""
    try:
        return compile_path(path)(value)
    except PathError:
        return MISSING
