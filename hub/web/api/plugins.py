"""``/api/v1/plugins``: installed plugins, providers and channels with JSON Schemas of their settings."""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow.openapi import OpenAPIConverter
from marshmallow import Schema, fields, validate

from hub.plugin import Channel, Provider
from hub.runtime.plugin_host import get_host
from hub.web.api.auth import protect
from hub.web.api.openapi import ApiBlueprint

blp = ApiBlueprint("plugins", __name__, url_prefix="/api/v1/plugins",
                   description="Installed plugins and the settings each provider and channel takes.")
protect(blp)

_converter = OpenAPIConverter(openapi_version="3.0.3", schema_name_resolver=lambda _schema: None, spec=None)


class PluginInfo(Schema):
    name = fields.String(required=True)
    distribution = fields.String(allow_none=True, metadata={"description": "The package it comes from."})
    version = fields.String(allow_none=True)
    builtin = fields.Boolean()
    kind = fields.String()
    hooks = fields.List(fields.String(), metadata={"description": "The hooks it implements."})
    providers = fields.List(fields.String())
    channels = fields.List(fields.String())


class PluginSettings(Schema):
    """A provider or channel, with the JSON Schemas of its settings and secrets."""

    name = fields.String(required=True)
    kind = fields.String(validate=validate.OneOf(["provider", "channel"]))
    title = fields.String()
    description = fields.String(allow_none=True)
    plugin = fields.String(allow_none=True, metadata={"description": "The plugin that registered it."})
    config_schema = fields.Dict(keys=fields.String(), metadata={"description": "JSON Schema of its `*_config`."})
    secrets_schema = fields.Dict(keys=fields.String(), metadata={"description": "JSON Schema of its `secrets`."})
    required_secrets = fields.List(fields.String())
    default_rate_limit = fields.String(allow_none=True, metadata={"description": "Channels only."})


class PluginsOut(Schema):
    plugins = fields.List(fields.Nested(PluginInfo))
    providers = fields.List(fields.Nested(PluginSettings))
    channels = fields.List(fields.Nested(PluginSettings))


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
@blp.response(200, PluginsOut)
def list_plugins():
    host = get_host()
    return {
        "plugins": [{"name": i.name, "distribution": i.distribution, "version": i.version, "builtin": i.builtin,
                     "kind": i.kind, "hooks": i.hooks, "providers": i.providers, "channels": i.channels}
                    for i in sorted(host.info.values(), key=lambda i: i.name)],
        "providers": [describe("provider", p, host.providers.origin(n)) for n, p in host.providers.items()],
        "channels": [describe("channel", c, host.channels.origin(n)) for n, c in host.channels.items()],
    }
