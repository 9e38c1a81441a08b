"""The application factory: ``create_app(config=None)``. Nothing is built at import time; each
subsystem has one ``init_app(app)`` and keeps its object in ``app.extensions``."""

from __future__ import annotations

import logging
import os
from typing import Any

import sqlalchemy as sa
from flask import Flask

from hub.runtime import changes, plugin_host
from hub.runtime.plugin_host import get_host
from hub.services.tokens import ensure_bootstrap_token
from hub.storage import config as hub_config
from hub.storage import db, redis, vault
from hub.storage.db import get_database
from hub.web import api, console, errors, hook_endpoint, metrics, probes, request_ids

log = logging.getLogger(__name__)


class HubApp(Flask):
    """The Flask app, with :meth:`close` to release what it holds when it is thrown away."""

    def close(self) -> None:
        """Stop the connection cache's listener, shut the send pool, close the outbound sender,
        the database pools and the Redis client (and the embedded Redis this app started, if any).
        The app is not usable afterwards."""
        gateway = self.extensions.get("hookhub.gateway")
        if gateway is not None:
            gateway.cache.close()
        pool = self.extensions.pop("hookhub.send_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)
        sender = self.extensions.pop("hookhub.sender", None)
        if sender is not None:
            sender.close()
        get_database(self).dispose()
        self.extensions["hookhub.redis"].close()


def create_app(config: Any = None) -> HubApp:
    """Build the web app. ``config`` is a Config class or instance, or a mapping of overrides
    applied on top of the ``HOOKHUB_*`` environment."""
    settings = hub_config.resolve(config)
    os.makedirs(settings["HOOKHUB_INSTANCE_PATH"], exist_ok=True)
    app = HubApp("hub", instance_path=settings["HOOKHUB_INSTANCE_PATH"])
    app.config.update(settings)
    app.json.sort_keys = False
    logging.getLogger("hub").setLevel(app.config["HOOKHUB_LOG_LEVEL"])

    errors.init_app(app)
    db.init_app(app)
    vault.init_app(app)
    redis.init_app(app)
    changes.init_app(app)
    plugin_host.init_app(app)
    probes.init_app(app)
    metrics.init_app(app)
    hook_endpoint.init_app(app)
    api.init_app(app)
    console.init_app(app)
    get_host(app).hook.hub_register_blueprints(register=app.register_blueprint)
    request_ids.init_app(app)      # last: it wraps the whole WSGI app, hook endpoint included
    bootstrap(app)
    return app


def bootstrap(app: Flask) -> None:
    """The default workspace and the bootstrap token, when the schema is in place."""
    database = get_database(app)
    if not sa.inspect(database.engine).has_table("workspaces"):
        log.info("the database has no schema yet (`hookhub db upgrade` creates it; /readyz says so)")
        return
    with database.session() as session:
        ensure_bootstrap_token(session, app.config.get("HOOKHUB_BOOTSTRAP_TOKEN"))
