"""Settings of the ``hmac`` provider: the connection's config and secrets schemas, and
:func:`resolve`, which merges defaults < preset < explicit settings into checked :class:`Settings`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, validate

from hub.plugin import ProviderConfigSchema, secret_field
from plugins.providers.hmac_presets import DEFAULTS, PRESETS, REQUIRED

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha512": 64}
PLACEHOLDERS = ("body", "ts", "id", "url", "params")
#: A ``{placeholder}`` of the signed-content template.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


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
        return set(PLACEHOLDER.findall(self.signed_content))


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
    unknown = [t for t in PLACEHOLDER.findall(template) if t not in PLACEHOLDERS]
    if unknown:
        errors["signed_content"] = (f"unknown placeholder {{{unknown[0]}}}; use "
                                    + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    used = set(PLACEHOLDER.findall(template))
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
