"""``/api/v1/plugins``: installed plugins, providers and channels with JSON Schemas of their settings."""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask_smorest import Blueprint

from hub.plugin import Channel, Provider
from hub.runtime.plugin_host import get_host
from hub.web.api.auth import protect

blp = Blueprint("plugins", __name__, url_prefix="/api/v1/plugins",
                description="Installed plugins and the settings each provider and channel takes.")
protect(blp)

_converter = OpenAPIConverter(openapi_version="3.0.3", schema_name_resolver=lambda _schema: None, spec=None)


def json_schema(schema_cls: type) -> dict[str, Any]:
    """The JSON Schema of a marshmallow schema; secret fields carry ``"secret": true``."""
    schema = schema_cls()
    out = _converter.schema2jsonschema(schema)
    for name, field in schema.fields.items():
        if field.metadata.get("secret") and name in out.get("properties", {}):
            out["properties"][name]["writeOnly"] = True
            out["properties"][name]["x-secret"] = True
    return out


def describe(kind: str, plugin: Provider | Channel, origin: str) -> dict[str, Any]:
    item = {"name": plugin.name, "kind": kind, "title": plugin.title or plugin.name,
            "description": plugin.description, "plugin": origin,
            "config_schema": json_schema(plugin.config_schema),
            "secrets_schema": json_schema(plugin.secrets_schema),
            "required_secrets": list(plugin.required_secrets)}
    if isinstance(plugin, Channel):
        item["default_rate_limit"] = plugin.default_rate_limit
    return item


@blp.route("")
def list_plugins():
    host = get_host()
    return {
        "plugins": [{"name": i.name, "distribution": i.distribution, "version": i.version, "builtin": i.builtin,
                     "kind": i.kind, "hooks": i.hooks, "providers": i.providers, "channels": i.channels}
                    for i in sorted(host.info.values(), key=lambda i: i.name)],
        "providers": [describe("provider", p, host.providers.origin(n)) for n, p in host.providers.items()],
        "channels": [describe("channel", c, host.channels.origin(n)) for n, c in host.channels.items()],
    }
