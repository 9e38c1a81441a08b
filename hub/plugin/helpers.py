"""Helpers a provider or channel needs and should not write again: constant-time comparison,
``Retry-After`` parsing, secret schema fields, URL checks, text cut to a vendor's limits without
splitting a character, and for providers: signed headers read with the usual checks, the replay
window, Unix times as ISO 8601 and type-safe steps into a JSON payload."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import regex
from marshmallow import fields

from hub.core.errors import HookhubError, SignatureInvalid, TimestampOutOfWindow
from hub.plugin.types import InboundRequest

_GRAPHEME = regex.compile(r"\X")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
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


def required_header(request: InboundRequest, name: str, error: type[HookhubError], *, max_chars: int) -> str:
    """The value of the header ``name``, stripped. Raises ``error`` (e.g. :class:`SignatureInvalid`)
    naming the header when it is missing or empty, longer than ``max_chars`` characters, or not
    ASCII: a signature, timestamp or id header never is, and HMAC input must be bytes."""
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise error(f"the {name} header is missing")
    if len(value) > max_chars:
        raise error(f"the {name} header is too long ({len(value)} characters)")
    if not value.isascii():
        raise error(f"the {name} header contains non-ASCII characters")
    return value


def hex_sha256_signature(value: str, *, header: str, prefix: str) -> str:
    """The signature in a header ``value`` written ``<prefix><64 hex digits>`` (``sha256=…``, ``v0=…``),
    lower-cased to compare with a ``hexdigest()``. Raises :class:`SignatureInvalid` naming ``header``
    when the prefix is missing or what follows it is not 64 hex digits."""
    if not value.startswith(prefix):
        raise SignatureInvalid(f"the {header} header must start with '{prefix}'")
    given = value[len(prefix):]
    if not _HEX_SHA256.fullmatch(given):
        raise SignatureInvalid(f"the {header} header is not a hex HMAC-SHA256 signature "
                               f"(expected 64 hex digits after '{prefix}')")
    return given.lower()


def hmac_sha256_matches(secrets: Iterable[str], message: bytes, signature: str) -> bool:
    """Whether one of ``secrets`` (UTF-8 keys: the current one, and the previous ones kept while a
    rotation settles) makes ``signature``, a lower-case hex HMAC-SHA256 of ``message`` as
    :func:`hex_sha256_signature` returns it. Compared in constant time."""
    return any(hmac.compare_digest(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest(), signature)
               for secret in secrets)


def check_timestamp_age(age: float, *, tolerance: int, what: str) -> None:
    """Refuse a replayed or mis-stamped request: raises :class:`TimestampOutOfWindow` when ``age``
    (seconds from the signed timestamp to the request's arrival) is more than ``tolerance`` seconds
    either way. ``what`` names the timestamp in the message ("the <what> is 420 seconds old …")."""
    if age > tolerance:
        raise TimestampOutOfWindow(f"the {what} is {int(age)} seconds old (at most {tolerance} s allowed)")
    if -age > tolerance:
        raise TimestampOutOfWindow(f"the {what} is {int(-age)} seconds in the future "
                                   f"(at most {tolerance} s allowed)")


def unix_time_iso(seconds: float, *, microseconds: int = 0) -> str | None:
    """A Unix time as ISO 8601 UTC with a ``Z`` (``2018-07-12T18:36:58.000200Z``), as an event's
    ``event_ts`` field carries it; ``None`` when it is outside what a date can hold. Give exact
    fractions as ``microseconds`` (a float second cannot hold every six-digit fraction)."""
    try:
        when = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=microseconds)
    except (OverflowError, OSError, ValueError):
        return None
    return when.isoformat().replace("+00:00", "Z")


def dict_or_empty(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object (a ``dict``), else an empty one: a step into a payload
    that may not have the shape its vendor documents (``dict_or_empty(event.get("item")).get("ts")``)."""
    return value if isinstance(value, dict) else {}


def text_or_none(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else ``None`` (a number, an object or "" is no text)."""
    return value if isinstance(value, str) and value else None


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript-based services (Slack, Discord, Teams) count it:
    never less than in code points, so what fits here fits anywhere."""
    # One unit per code point and two per character beyond the BMP; encoding counts them at C speed.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def truncate(text: str, limit: int, *, ellipsis: str = "…", measure: Callable[[str], int] = utf16_units,
             close_fence: str | None = None, drop_tail: re.Pattern[str] | None = None) -> str:
    """``text`` cut to at most ``limit`` (as ``measure`` counts, UTF-16 units by default), ending with
    ``ellipsis``; ``text`` itself when it fits. The cut is a prefix of ``text`` that keeps whole grapheme
    clusters — an emoji sequence, a flag, a letter and its accent, a surrogate pair held as two code
    points — and never leaves half a run of backticks.

    ``close_fence`` (e.g. ``"\\n```"``) closes a Markdown code block the cut would leave open;
    ``drop_tail``, a pattern anchored with ``$``, removes what the cut text must not end with (e.g.
    half an ``&amp;`` entity). ``measure`` must add up over the parts of a text (code units, or
    encoded bytes), so that it never shrinks as a prefix grows."""
    if measure(text) <= limit:
        return text
    clusters = _join_surrogate_pairs(text)  # where the grapheme clusters are found
    budget = limit - measure(ellipsis)
    end = _fitting_end(text, clusters, budget, measure, drop_tail)
    if close_fence is not None and text[:end].count(FENCE) % 2:
        end = _fitting_end(text, clusters, budget - measure(close_fence), measure, drop_tail)
        if text[:end].count(FENCE) % 2:
            return text[:end] + ellipsis + close_fence
    return text[:end] + ellipsis


def _fitting_end(text: str, clusters: str, budget: int, measure: Callable[[str], int],
                 drop_tail: re.Pattern[str] | None) -> int:
    """Where the longest prefix of ``text`` made of whole grapheme clusters that fits ``budget`` ends.
    ``clusters`` is ``text`` with its surrogate pairs joined, the form in which clusters can be found."""
    # The longest prefix in code points that fits, by bisection: a few measures of long prefixes
    # cost less than one call per cluster, and the measure only grows with the prefix.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    if low == len(text):
        return low
    if clusters is not text:  # the same place in ``clusters``, before a pair the bisection split
        if low and _SURROGATE_PAIR.match(text, low - 1):
            low -= 1
        low = len(_join_surrogate_pairs(text[:low]))
    # Back to the start of the cluster that does not fit whole: segmenting one code point further
    # shows whether a cluster goes on past ``low`` (the clusters before it come out as in the text).
    end = low + 1 - len(_GRAPHEME.findall(clusters, 0, low + 1)[-1])
    if _GRAPHEME.match(clusters, end).group() == "`":  # do not leave half a code fence behind
        end = len(clusters[:end].rstrip("`"))
    tail = drop_tail.search(clusters[:end]) if drop_tail is not None else None
    if tail is not None and tail.end() == end:  # not a match before a final newline, as ``$`` allows
        end = tail.start()
    return end if clusters is text else _end_in_text(text, end)


def _join_surrogate_pairs(text: str) -> str:
    """A surrogate pair held as two code points (a JSON ``\\ud83d\\ude00``) as the one character it
    stands for; lone surrogates stay as they are."""
    if not _SURROGATE_PAIR.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _end_in_text(text: str, joined_end: int) -> int:
    """Where the prefix of ``text`` that :func:`_join_surrogate_pairs` turns into ``joined_end``
    characters ends: each pair before it is two code points of ``text`` and one of the joined text."""
    end = joined_end
    for pair in _SURROGATE_PAIR.finditer(text):
        if pair.start() >= end:
            break
        end += 1
    return end
