"""The ``hmac`` provider: a configurable HMAC signature check covering most vendors' schemes.

Settings say where the signature is (header, optional prefix, one value or a list), how it is
made (algorithm, hex/base64, how the secret becomes the key, a signed-content template over
``{body}``, ``{ts}``, ``{id}``, ``{url}``, ``{params}``) and how fresh it must be (timestamp
header or key, format, tolerance). A ``preset`` fills them for a known vendor
(see :mod:`plugins.providers.hmac_presets`); explicit settings override the preset.

The settings and their checks live in :mod:`plugins.providers.hmac_settings`, the verification
steps in :mod:`plugins.providers.hmac_verification`; this module is the provider and its entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.plugin import (
    ConfigInvalid,
    ConnectionView,
    InboundRequest,
    ParsedEvent,
    Provider,
    SignatureInvalid,
    hookimpl,
)
from plugins.providers.hmac_presets import PRESETS
from plugins.providers.hmac_settings import HmacConfig, HmacSecrets, Settings, resolve
from plugins.providers.hmac_verification import optional_header, parse_time, signing_key, verify_signature

__all__ = ["HmacConfig", "HmacProvider", "HmacSecrets", "Settings", "hub_register_providers", "resolve"]


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
                signing_key(secrets["secret"], settings.key_encoding)
            except ValueError as exc:
                errors["secret"] = str(exc)
        if errors:
            raise ConfigInvalid("the HMAC settings are incomplete or inconsistent: "
                                + "; ".join(f"{k}: {v}" for k, v in errors.items()), fields=errors)

    def verify(self, request: InboundRequest, conn: ConnectionView) -> None:
        verify_signature(request, conn, _settings(conn))

    def parse(self, request: InboundRequest, conn: ConnectionView) -> ParsedEvent:
        s = _settings(conn)
        payload = request.parse_body()
        event_id = optional_header(request, s.id_header)
        if not event_id and s.id_field:
            event_id = _path(payload, s.id_field)
        parsed = ParsedEvent(payload=payload, event_id=event_id)
        stamp = optional_header(request, s.timestamp_header)
        if stamp:
            try:
                parsed.fields["event_ts"] = parse_time(stamp, s.timestamp_format).isoformat().replace("+00:00", "Z")
            except ValueError:
                pass
        event = optional_header(request, s.event_header)
        if event:
            parsed.fields["event"] = event
        return parsed


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


def _path(payload: Any, dotted: str) -> str | None:
    """The scalar at a dotted path of a JSON body (``data.id``) as text; ``None`` for a missing,
    empty, boolean or non-scalar value."""
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
