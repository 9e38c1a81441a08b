"""Verification of the ``hmac`` provider, step by step against resolved
:class:`~plugins.providers.hmac_settings.Settings`: the signing keys, the signature header (one value,
a list, or Stripe-style ``key=value`` items), the timestamp window, the decoded signatures and the
signed content they must match."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from hub.plugin import (
    ConnectionView,
    HookhubError,
    InboundRequest,
    InvalidPayload,
    SignatureInvalid,
    TimestampOutOfWindow,
    check_timestamp_age,
    required_header,
)
from plugins.providers.hmac_settings import ALGORITHMS, DIGEST_SIZES, PLACEHOLDER, Settings

FORM = "application/x-www-form-urlencoded"
MAX_HEADER_CHARS = 8192
MAX_SIGNATURES = 20

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_UNIX_S = re.compile(r"\d{1,12}(?:\.\d{1,9})?")
_UNIX_MS = re.compile(r"\d{1,15}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def verify_signature(request: InboundRequest, conn: ConnectionView, s: Settings) -> None:
    """Return when one of the connection's secrets signed ``request`` as ``s`` describes; raise
    :class:`SignatureInvalid` or :class:`TimestampOutOfWindow` saying why not."""
    keys = _keys(conn, s)
    header_name, raw = _header(request, s.signature_header, SignatureInvalid)
    candidates, key_ts = _split_signatures(raw, header_name, s)
    timestamp = _timestamp(request, s, header_name, key_ts)
    delivery_id = ""
    if s.id_header:
        delivery_id = _header(request, s.id_header, SignatureInvalid, required="id" in s.uses)[1]
    signatures = _decode_signatures(candidates, header_name, s)
    digest = ALGORITHMS[s.algorithm]
    for message in _messages(request, s, timestamp or "", delivery_id):
        expected = [hmac.new(key, message, digest).digest() for key in keys]
        if any(hmac.compare_digest(e, given) for e in expected for given in signatures):
            return
    raise SignatureInvalid(f"the {header_name} signature does not match the request "
                           "(wrong secret, or the body was modified)")


def signing_key(secret: str, encoding: str) -> bytes:
    """The HMAC key of ``secret``; ``ValueError`` (without the secret) when it does not decode."""
    if encoding == "raw":
        return secret.encode("utf-8")
    text = secret.strip()
    if encoding == "whsec":
        text = text.removeprefix("whsec_")
    key = _b64decode(text)
    if key is None or not key:
        raise ValueError(f"the secret is not valid base64 (key encoding {encoding!r})")
    return key


def optional_header(request: InboundRequest, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` present with a usable value (ASCII, not too long), else ``None``."""
    for name in names:
        value = (request.headers.get(name) or "").strip()
        if value and value.isascii() and len(value) <= MAX_HEADER_CHARS:
            return value
    return None


def parse_time(value: str, fmt: str) -> datetime:
    """``ValueError`` with a readable reason ("is not …") for an unreadable value."""
    try:
        if fmt == "unix":
            if not _UNIX_S.fullmatch(value):
                raise ValueError
            return datetime.fromtimestamp(float(value), UTC)
        if fmt == "unix_ms":
            if not _UNIX_MS.fullmatch(value):
                raise ValueError
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        if len(value) > 64:
            raise ValueError
        when = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        label = {"unix": "a Unix timestamp in seconds", "unix_ms": "a Unix timestamp in milliseconds"}
        raise ValueError(f"is not {label.get(fmt, 'an ISO 8601 date-time')}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _keys(conn: ConnectionView, s: Settings) -> list[bytes]:
    secrets = conn.secret_values("secret")
    if not secrets:
        raise SignatureInvalid("connection has no signing secret configured")
    keys, problem = [], ""
    for secret in secrets:
        try:
            keys.append(signing_key(secret, s.key_encoding))
        except ValueError as exc:
            problem = str(exc)
    if not keys:
        raise SignatureInvalid(f"the connection's signing secret cannot be used: {problem}")
    return keys


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; ``None`` when it is not base64."""
    text = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _header(request: InboundRequest, names: tuple[str, ...], error: type[HookhubError],
            required: bool = True) -> tuple[str, str]:
    """The first present header of ``names`` as ``(name, value)``, checked for size and ASCII."""
    name = next((n for n in names if (request.headers.get(n) or "").strip()), None)
    if name is not None:
        return name, required_header(request, name, error, max_chars=MAX_HEADER_CHARS)
    if required:
        alternatives = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
        raise error(f"the {names[0]} header{alternatives} is missing")
    return names[0] if names else "", ""


def _split_signatures(raw: str, header: str, s: Settings) -> tuple[list[str], str | None]:
    """The candidate signatures of the header, and the timestamp of a key=value list."""
    if s.signature_key:
        timestamp, signatures = None, []
        for item in raw.split(s.signature_separator or ","):
            key, eq, value = item.strip().partition("=")
            if not eq:
                continue
            if key == s.timestamp_key and timestamp is None:
                timestamp = value.strip()
            elif key == s.signature_key:
                signatures.append(value.strip())
        if not signatures:
            raise SignatureInvalid(f"the {header} header has no '{s.signature_key}=' signature")
        return signatures[:MAX_SIGNATURES], timestamp
    items = [i.strip() for i in raw.split(s.signature_separator)] if s.signature_separator else [raw]
    items = [i for i in items if i]
    prefix = s.signature_prefix
    if not prefix:
        return items[:MAX_SIGNATURES], None
    usable = [i[len(prefix):].strip() for i in items if i.startswith(prefix)]
    if not usable:
        if len(items) == 1 and not s.signature_separator:
            raise SignatureInvalid(f"the {header} header must start with '{prefix}'")
        raise SignatureInvalid(f"none of the {len(items)} signatures in the {header} header starts with '{prefix}' "
                               "(other schemes, such as 'v1a,' ed25519 signatures, are not supported)")
    return usable[:MAX_SIGNATURES], None


def _timestamp(request: InboundRequest, s: Settings, sig_header: str, key_ts: str | None) -> str | None:
    """The signed timestamp as received, after checking it is inside the tolerance window."""
    if s.timestamp_key:
        if not key_ts:
            raise TimestampOutOfWindow(f"the {sig_header} header has no '{s.timestamp_key}=' timestamp")
        where, value = f"'{s.timestamp_key}=' timestamp of the {sig_header} header", key_ts
    elif s.timestamp_header:
        name, value = _header(request, s.timestamp_header, TimestampOutOfWindow)
        where = f"{name} timestamp"
    else:
        return None
    try:
        when = parse_time(value, s.timestamp_format)
    except ValueError as exc:
        raise TimestampOutOfWindow(f"the {where} {exc}") from None
    check_timestamp_age((request.received_at - when).total_seconds(), tolerance=s.tolerance, what=where)
    return value


def _decode_signatures(candidates: list[str], header: str, s: Settings) -> list[bytes]:
    size, problem = DIGEST_SIZES[s.algorithm], ""
    decoded = []
    for value in candidates:
        raw = (bytes.fromhex(value) if _HEX.fullmatch(value) else None) if s.encoding == "hex" \
            else _b64decode(value)
        if raw is None:
            problem = problem or f"the signature in the {header} header is not valid {s.encoding}"
        elif len(raw) != size:
            problem = problem or (f"the signature in the {header} header is {len(raw)} bytes long; "
                                  f"an HMAC-{s.algorithm.upper()} signature is {size}")
        else:
            decoded.append(raw)
    if not decoded:
        raise SignatureInvalid(problem or f"the {header} header holds no signature")
    return decoded


def _messages(request: InboundRequest, s: Settings, timestamp: str, delivery_id: str) -> list[bytes]:
    """The signed content, once per spelling of the URL when it uses ``{url}``."""
    values = {"body": request.body, "ts": timestamp.encode("ascii"), "id": delivery_id.encode("ascii"), "params": b""}
    if "params" in s.uses or s.body_hash_param:
        values["params"] = _form_params(request, s)
    urls = _url_variants(request.url) if "url" in s.uses else [""]
    messages = []
    for url in urls:
        values["url"] = url.encode("utf-8")
        out, pos = [], 0
        for match in PLACEHOLDER.finditer(s.signed_content):
            out += [s.signed_content[pos:match.start()].encode("utf-8"), values[match.group(1)]]
            pos = match.end()
        out.append(s.signed_content[pos:].encode("utf-8"))
        messages.append(b"".join(out))
    return messages


def _form_params(request: InboundRequest, s: Settings) -> bytes:
    """Sorted form parameters as name+value; for other bodies, check ``body_hash_param`` instead."""
    if request.content_type == FORM:
        try:
            pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise InvalidPayload("the form body is not valid UTF-8 form data") from None
        return "".join(name + value for name, value in sorted(pairs)).encode("utf-8")
    if s.body_hash_param:
        given = request.query_value(s.body_hash_param) or ""
        if not given:
            raise SignatureInvalid(f"the URL has no {s.body_hash_param} parameter, so the body is not signed")
        if not _SHA256_HEX.fullmatch(given):
            raise SignatureInvalid(f"the {s.body_hash_param} URL parameter is not a hex SHA-256 digest")
        if not hmac.compare_digest(hashlib.sha256(request.body).hexdigest(), given.lower()):
            raise SignatureInvalid(f"the body does not match the {s.body_hash_param} URL parameter "
                                   "(the body was modified)")
    return b""


def _url_variants(url: str) -> list[str]:
    """The URL as received, without its port, and with the scheme's default port (senders and
    proxies disagree on whether ``:443`` is part of the signed URL)."""
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if not parts.hostname or default is None:
        return variants
    netloc = parts.netloc if port is None else parts.netloc.rsplit(":", 1)[0]
    for candidate in (netloc, f"{netloc}:{default}"):
        spelled = urlunsplit(parts._replace(netloc=candidate))
        if spelled not in variants:
            variants.append(spelled)
    return variants
