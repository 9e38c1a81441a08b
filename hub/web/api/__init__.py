"""The admin REST API under ``/api/v1`` (flask-smorest), with its OpenAPI document."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from hub.runtime.plugin_host import get_host
from hub.web.api.openapi import ErrorSchema, installed_plugins, register_components
from hub.web.errors import handle_http_exception


class HubApi(Api):
    """flask-smorest's Api with the hub's error shape for every HTTP error, in the answers and in
    the OpenAPI document (each operation lists the errors it can answer: no catch-all)."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error):  # type: ignore[override]
        return handle_http_exception(error)

    def _register_responses(self) -> None:
        register_components(self.spec)


def init_app(app: Flask) -> None:
    from hub.web.api import (
        approvals,
        audit,
        connections,
        deliveries,
        event_types,
        events,
        exchanges,
        params,
        plugins,
        routes,
        tokens,
        workspaces,
    )

    app.config.setdefault("API_TITLE", "Hookhub admin API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = HubApi(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]})
    host = get_host(app)
    api.ma_plugin.converter.add_attribute_function(installed_plugins(list(host.providers), list(host.channels)))
    for module in (workspaces, tokens, params, connections, routes, event_types, events, deliveries, approvals, audit,
                   exchanges, plugins):
        api.register_blueprint(module.blp)
    app.extensions["hookhub.api"] = api
