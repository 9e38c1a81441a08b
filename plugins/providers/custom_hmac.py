"""The ``hmac`` provider: a configurable HMAC signature check covering most vendors' schemes.

Settings say where the signature is (header, optional prefix, one value or a list), how it is
made (algorithm, hex/base64, how the secret becomes the key, a signed-content template over
``{body}``, ``{ts}``, ``{id}``, ``{url}``, ``{params}``) and how fresh it must be (timestamp
header or key, format, tolerance). A ``preset`` fills them for a known vendor
(see :mod:`plugins.providers.hmac_presets`); explicit settings override the preset.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from marshmallow import Schema, fields, validate

from hub.plugin import (
    ConfigInvalid,
    ConnectionView,
    InboundRequest,
    InvalidPayload,
    ParsedEvent,
    Provider,
    ProviderConfigSchema,
    SignatureInvalid,
    TimestampOutOfWindow,
    hookimpl,
    secret_field,
)
from plugins.providers.hmac_presets import DEFAULTS, PRESETS, REQUIRED

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha512": 64}
PLACEHOLDERS = ("body", "ts", "id", "url", "params")
FORM = "application/x-www-form-urlencoded"
MAX_HEADER_CHARS = 8192
MAX_SIGNATURES = 20

_TOKEN = re.compile(r"\{([^{}]*)\}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_UNIX_S = re.compile(r"\d{1,12}(?:\.\d{1,9})?")
_UNIX_MS = re.compile(r"\d{1,15}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _text_field(description: str, **kwargs: Any) -> fields.String:
    return fields.String(load_default=None, allow_none=True, metadata={"description": description}, **kwargs)


class HmacConfig(ProviderConfigSchema):
    preset = _text_field("A vendor's scheme: " + ", ".join(sorted(PRESETS)) + ". Settings given below override it.",
                         validate=validate.OneOf(sorted(PRESETS)))
    signature_header = _text_field("Header carrying the signature (alternatives separated by commas). "
                                   "Required without a preset.", validate=validate.Length(1, 200))
    signature_prefix = _text_field("Text before the signature, e.g. 'sha256=', 'v0=', 'v1,' (default none).",
                                   validate=validate.Length(0, 40))
    algorithm = _text_field("sha1, sha256 or sha512. Required without a preset.",
                            validate=validate.OneOf(sorted(ALGORITHMS)))
    encoding = _text_field("How the signature is written: hex or base64. Required without a preset.",
                           validate=validate.OneOf(["hex", "base64"]))
    key_encoding = _text_field("How the secret becomes the key: raw (UTF-8, default), base64, or whsec "
                               "(base64 after a 'whsec_' prefix).", validate=validate.OneOf(["raw", "base64", "whsec"]))
    signed_content = _text_field("What is signed, over {body}, {ts}, {id}, {url}, {params} (sorted form "
                                 "parameters as name+value); default '{body}'.", validate=validate.Length(1, 500))
    timestamp_header = _text_field("Header carrying the signed timestamp (alternatives separated by commas).",
                                   validate=validate.Length(1, 200))
    timestamp_format = _text_field("unix (seconds, default), unix_ms or iso8601.",
                                   validate=validate.OneOf(["unix", "unix_ms", "iso8601"]))
    tolerance = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=86400),
                               metadata={"description": "Seconds a timestamp may be old or ahead (default 300)."})
    signature_separator = _text_field("Separator of several signatures in the header, e.g. ' ' or ','.",
                                      validate=validate.Length(1, 5))
    signature_key = _text_field("For key=value lists (Stripe's 't=…,v1=…'): the key of signature items, e.g. 'v1'.",
                                validate=validate.Length(1, 40))
    timestamp_key = _text_field("For key=value lists: the key of the timestamp item, e.g. 't'.",
                                validate=validate.Length(1, 40))
    id_header = _text_field("Header carrying the delivery id: {id} and the event_id used for deduplication.",
                            validate=validate.Length(1, 200))
    id_field = _text_field("Dotted path of the event id in a JSON body, when no id header gives one.",
                           validate=validate.Length(1, 200))
    event_header = _text_field("Header carrying the event name (e.g. X-GitHub-Event).",
                               validate=validate.Length(1, 200))
    body_hash_param = _text_field("Query parameter carrying the hex SHA-256 of a non-form body, which must "
                                  "match (Twilio's 'bodySHA256').", validate=validate.Length(1, 100))


class HmacSecrets(Schema):
    secret = secret_field(metadata={"description": "The signing secret shared with the sender."})


@dataclass(frozen=True)
class Settings:
    signature_header: tuple[str, ...]
    signature_prefix: str
    algorithm: str
    encoding: str
    key_encoding: str
    signed_content: str
    timestamp_header: tuple[str, ...]
    timestamp_format: str
    tolerance: int
    signature_separator: str | None
    signature_key: str | None
    timestamp_key: str | None
    id_header: tuple[str, ...]
    id_field: str | None
    event_header: tuple[str, ...]
    body_hash_param: str | None

    @property
    def uses(self) -> set[str]:
        return set(_TOKEN.findall(self.signed_content))


def resolve(config: Mapping[str, Any]) -> tuple[Settings | None, dict[str, str]]:
    """The effective settings (defaults < preset < explicit) and the problems, by field name."""
    errors: dict[str, str] = {}
    merged: dict[str, Any] = dict(DEFAULTS)
    preset = config.get("preset")
    if preset:
        if preset not in PRESETS:
            return None, {"preset": f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}"}
        merged.update(PRESETS[preset])
    merged.update({k: v for k, v in config.items() if v is not None and k in HmacConfig._declared_fields})
    for name in REQUIRED:
        if not merged.get(name):
            errors[name] = "required when no preset is chosen" if not preset else "must not be empty"
    template = merged.get("signed_content") or "{body}"
    unknown = [t for t in _TOKEN.findall(template) if t not in PLACEHOLDERS]
    if unknown:
        errors["signed_content"] = (f"unknown placeholder {{{unknown[0]}}}; use "
                                    + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    used = set(_TOKEN.findall(template))
    has_key_ts, has_header_ts = bool(merged.get("timestamp_key")), bool(merged.get("timestamp_header"))
    if "ts" in used and not (has_key_ts or has_header_ts):
        errors["signed_content"] = "uses {ts} but neither timestamp_header nor timestamp_key is set"
    if "id" in used and not merged.get("id_header"):
        errors["signed_content"] = "uses {id} but id_header is not set"
    if has_key_ts and has_header_ts:
        errors["timestamp_header"] = "give either timestamp_header or timestamp_key (inside the signature header)"
    if has_key_ts and not merged.get("signature_key"):
        errors["timestamp_key"] = "needs signature_key: it only applies to key=value signature lists"
    if merged.get("body_hash_param") and "url" not in used:
        errors["body_hash_param"] = "only applies when signed_content uses {url}"
    if errors:
        return None, errors

    def names(key: str) -> tuple[str, ...]:
        return tuple(n.strip() for n in (merged.get(key) or "").split(",") if n.strip())

    return Settings(
        signature_header=names("signature_header"), signature_prefix=merged.get("signature_prefix") or "",
        algorithm=merged["algorithm"], encoding=merged["encoding"], key_encoding=merged["key_encoding"],
        signed_content=template, timestamp_header=names("timestamp_header"),
        timestamp_format=merged["timestamp_format"], tolerance=int(merged["tolerance"]),
        signature_separator=merged.get("signature_separator") or ("," if merged.get("signature_key") else None),
        signature_key=merged.get("signature_key") or None, timestamp_key=merged.get("timestamp_key") or None,
        id_header=names("id_header"), id_field=merged.get("id_field") or None, event_header=names("event_header"),
        body_hash_param=merged.get("body_hash_param") or None,
    ), {}


class HmacProvider(Provider):
    name = "hmac"
    title = "Custom HMAC"
    description = ("Verifies an HMAC signature configured field by field, or by a preset: "
                   + ", ".join(sorted(PRESETS)) + ".")
    config_schema = HmacConfig
    secrets_schema = HmacSecrets
    required_secrets = ("secret",)

    def validate_config(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        settings, errors = resolve(config)
        if settings is not None and secrets.get("secret"):
            try:
                _key(secrets["secret"], settings.key_encoding)
            except ValueError as exc:
                errors["secret"] = str(exc)
        if errors:
            raise ConfigInvalid("the HMAC settings are incomplete or inconsistent: "
                                + "; ".join(f"{k}: {v}" for k, v in errors.items()), fields=errors)

    def verify(self, request: InboundRequest, conn: ConnectionView) -> None:
        s = _settings(conn)
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

    def parse(self, request: InboundRequest, conn: ConnectionView) -> ParsedEvent:
        s = _settings(conn)
        payload = request.parse_body()
        event_id = _optional_header(request, s.id_header)
        if not event_id and s.id_field:
            event_id = _path(payload, s.id_field)
        parsed = ParsedEvent(payload=payload, event_id=event_id)
        stamp = _optional_header(request, s.timestamp_header)
        if stamp:
            try:
                parsed.fields["event_ts"] = _parse_time(stamp, s.timestamp_format).isoformat().replace("+00:00", "Z")
            except ValueError:
                pass
        event = _optional_header(request, s.event_header)
        if event:
            parsed.fields["event"] = event
        return parsed


# --------------------------------------------------------------------------- verification steps

_RESOLVED: dict[int, tuple[ConnectionView, Settings]] = {}   # id(view) → the view (kept alive) and its settings


def _settings(conn: ConnectionView) -> Settings:
    """The connection's effective settings, resolved once per view: the hub keeps one view per
    connection until the connection changes, so a request pays for a dict lookup only."""
    cached = _RESOLVED.get(id(conn))
    if cached is not None and cached[0] is conn:
        return cached[1]
    settings, errors = resolve(conn.provider_config or {})
    if settings is None:
        raise SignatureInvalid("the connection's HMAC settings are incomplete, so no request can be verified: "
                               + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    if len(_RESOLVED) >= 1024:
        _RESOLVED.clear()
    _RESOLVED[id(conn)] = (conn, settings)
    return settings


def _keys(conn: ConnectionView, s: Settings) -> list[bytes]:
    secrets = conn.secret_values("secret")
    if not secrets:
        raise SignatureInvalid("connection has no signing secret configured")
    keys, problem = [], ""
    for secret in secrets:
        try:
            keys.append(_key(secret, s.key_encoding))
        except ValueError as exc:
            problem = str(exc)
    if not keys:
        raise SignatureInvalid(f"the connection's signing secret cannot be used: {problem}")
    return keys


def _key(secret: str, encoding: str) -> bytes:
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


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; ``None`` when it is not base64."""
    text = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _header(request: InboundRequest, names: tuple[str, ...], error: type[Exception],
            required: bool = True) -> tuple[str, str]:
    """The first present header of ``names`` as ``(name, value)``, checked for size and ASCII."""
    for name in names:
        value = (request.headers.get(name) or "").strip()
        if value:
            if len(value) > MAX_HEADER_CHARS:
                raise error(f"the {name} header is too long ({len(value)} characters)")
            if not value.isascii():
                raise error(f"the {name} header contains non-ASCII characters")
            return name, value
    if required:
        alternatives = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
        raise error(f"the {names[0]} header{alternatives} is missing")
    return names[0] if names else "", ""


def _optional_header(request: InboundRequest, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = (request.headers.get(name) or "").strip()
        if value and value.isascii() and len(value) <= MAX_HEADER_CHARS:
            return value
    return None


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
        when = _parse_time(value, s.timestamp_format)
    except ValueError as exc:
        raise TimestampOutOfWindow(f"the {where} {exc}") from None
    age = (request.received_at - when).total_seconds()
    if age > s.tolerance:
        raise TimestampOutOfWindow(f"the {where} is {int(age)} seconds old (at most {s.tolerance} s allowed)")
    if -age > s.tolerance:
        raise TimestampOutOfWindow(f"the {where} is {int(-age)} seconds in the future "
                                   f"(at most {s.tolerance} s allowed)")
    return value


def _parse_time(value: str, fmt: str) -> datetime:
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
        for match in _TOKEN.finditer(s.signed_content):
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


def _path(payload: Any, dotted: str) -> str | None:
    for part in dotted.split("."):
        if not isinstance(payload, dict):
            return None
        payload = payload.get(part)
    if isinstance(payload, bool) or payload is None or isinstance(payload, (dict, list)):
        return None
    return str(payload) or None


@hookimpl
def hub_register_providers(registry):
    registry.add(HmacProvider)
