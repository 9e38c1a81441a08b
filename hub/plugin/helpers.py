"""Helpers a provider or channel needs and should not write again: constant-time comparison,
``Retry-After`` parsing, secret schema fields, URL checks, and text cut to a vendor's limits
without splitting a character."""

from __future__ import annotations

import email.utils
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import regex
from marshmallow import fields

_GRAPHEME = regex.compile(r"\X")
FENCE = "```"


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


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript-based services (Slack, Discord, Teams) count it:
    never less than in code points, so what fits here fits anywhere."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def truncate(text: str, limit: int, *, ellipsis: str = "…", measure: Callable[[str], int] = utf16_units,
             close_fence: str | None = None, drop_tail: re.Pattern[str] | None = None) -> str:
    """``text`` cut to at most ``limit`` (as ``measure`` counts, UTF-16 units by default), ending with
    ``ellipsis``. The cut keeps whole grapheme clusters — an emoji sequence, a flag, a letter and its
    accent, a surrogate pair held as two code points — and never leaves half a run of backticks.

    ``close_fence`` (e.g. ``"\\n```"``) closes a Markdown code block the cut would leave open;
    ``drop_tail`` removes what the cut text must not end with (e.g. half an ``&amp;`` entity).
    ``measure`` must add up over the parts of a text (code units, or encoded bytes)."""
    if measure(text) <= limit:
        return text
    whole = _join_surrogate_pairs(text)
    budget = limit - measure(ellipsis)
    head = _cut(whole, budget, measure, drop_tail)
    if close_fence is not None and head.count(FENCE) % 2:
        head = _cut(whole, budget - measure(close_fence), measure, drop_tail)
        if head.count(FENCE) % 2:
            return head + ellipsis + close_fence
    return head + ellipsis


def _cut(text: str, budget: int, measure: Callable[[str], int], drop_tail: re.Pattern[str] | None) -> str:
    """The longest prefix of whole grapheme clusters that fits ``budget``."""
    used = end = 0
    for match in _GRAPHEME.finditer(text):
        used += measure(match.group())
        if used > budget:
            if match.group() == "`":           # do not leave half a code fence behind
                end = len(text[:end].rstrip("`"))
            break
        end = match.end()
    head = text[:end]
    return drop_tail.sub("", head) if drop_tail is not None else head


def _join_surrogate_pairs(text: str) -> str:
    """A surrogate pair held as two code points (a JSON ``\\ud83d\\ude00``) as the one character it
    stands for; lone surrogates stay as they are."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
