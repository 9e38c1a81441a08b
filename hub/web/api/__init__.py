"""The admin REST API under ``/api/v1`` (flask-smorest), with its OpenAPI document."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from hub.web.errors import handle_http_exception


class HubApi(Api):
    """flask-smorest's Api with the hub's error shape for every HTTP error."""

    def handle_http_exception(self, error):  # type: ignore[override]
        return handle_http_exception(error)


def init_app(app: Flask) -> None:
    from hub.web.api import (
        approvals,
        audit,
        connections,
        deliveries,
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
    for module in (workspaces, tokens, params, connections, routes, events, deliveries, approvals, audit, exchanges,
                   plugins):
        api.register_blueprint(module.blp)
    app.extensions["hookhub.api"] = api
