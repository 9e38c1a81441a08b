"""A route's match rules: checked when a route is saved, and evaluated against an event's envelope.
A rule is ``{"path", "op", "value"}`` with a dotted or JSONPath ``path`` (see :mod:`hub.core.paths`)."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import regex

from hub.core.paths import MISSING, PathError, compile_path

log = logging.getLogger(__name__)
OPS = ("equals", "not_equals", "in", "exists", "matches")
REGEX_TIMEOUT = 0.05   # seconds: a pathological pattern cannot stall a worker
MAX_PATTERN = 500


def check_rule(rule: Any) -> dict[str, list[str]]:
    """Problems with one match rule, by field (empty when it is valid)."""
    if not isinstance(rule, Mapping):
        return {"_schema": ["a rule is an object with path, op and value"]}
    problems: dict[str, list[str]] = {}
    try:
        compile_path(rule.get("path", ""))
    except PathError as exc:
        problems["path"] = [str(exc)]
    op = rule.get("op")
    if op not in OPS:
        problems["op"] = [f"must be one of {', '.join(OPS)}"]
    elif op == "in" and not isinstance(rule.get("value"), list):
        problems["value"] = ["'in' takes a list of values"]
    elif op == "matches":
        pattern = rule.get("value")
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN:
            problems["value"] = [f"'matches' takes a regular expression of at most {MAX_PATTERN} characters"]
        else:
            try:
                regex.compile(pattern)
            except regex.error as exc:
                problems["value"] = [f"not a valid regular expression: {exc}"]
    elif op == "exists" and rule.get("value") is not None and not isinstance(rule.get("value"), bool):
        problems["value"] = ["'exists' takes true or false (default true)"]
    return problems


def rule_holds(rule: Mapping[str, Any], envelope: Mapping[str, Any]) -> bool:
    value = compile_path(rule["path"])(envelope)
    op = rule["op"]
    expected = rule.get("value")
    if op == "exists":
        present = value is not MISSING and value is not None
        return present if expected is None or expected is True else not present
    if value is MISSING:
        return op == "not_equals"
    if op == "equals":
        return _same(value, expected)
    if op == "not_equals":
        return not _same(value, expected)
    if op == "in":
        return any(_same(value, candidate) for candidate in expected or [])
    if op == "matches":
        text = value if isinstance(value, str) else str(value)
        try:
            return regex.search(expected, text, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            log.warning("regex %r timed out on a %d-character value: treated as no match", expected, len(text))
            return False
    return False


def _same(actual: Any, expected: Any) -> bool:
    """Equality that lets "42" in a form body match 42 in a rule, but not True match 1."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected or actual == expected and type(actual) is type(expected)
    if actual == expected:
        return True
    if isinstance(actual, (int, float, str)) and isinstance(expected, (int, float, str)):
        return str(actual) == str(expected)
    return False


def rules_match(rules: Iterable[Mapping[str, Any]] | None, envelope: Mapping[str, Any]) -> bool:
    """Whether every rule holds (no rules: every event matches)."""
    return all(rule_holds(rule, envelope) for rule in rules or [])


def check_event_types(patterns: Any) -> list[str]:
    """Problems with a route's ``event_types`` (empty when valid): a list of non-empty names of at
    most 120 characters, where ``*`` stands for any run of characters."""
    if patterns is None:
        return []
    if not isinstance(patterns, list) or not all(isinstance(p, str) and 0 < len(p.strip()) <= 120 for p in patterns):
        return ["a list of event types such as \"invoice.paid\" or \"invoice.*\" (empty: every type)"]
    return []


def type_matches(patterns: Iterable[str] | None, event_type: Any) -> bool:
    """Whether an event of ``event_type`` passes a route's ``event_types`` (none: every event does;
    an event without a type passes only then)."""
    patterns = list(patterns or [])
    if not patterns:
        return True
    if not isinstance(event_type, str):
        return False
    return any(_type_pattern(p).fullmatch(event_type) for p in patterns)


@functools.lru_cache(maxsize=1024)
def _type_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.strip().split("*")))
