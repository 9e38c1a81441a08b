"""The application factory: ``create_app(config=None)``. Nothing is built at import time."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from hub import config as hub_config


def create_app(config: Any = None) -> Flask:
    """Build the web app. ``config`` is a Config class or instance, or a mapping of overrides
    applied on top of the ``HOOKHUB_*`` environment."""
    settings = hub_config.resolve(config)
    os.makedirs(settings["HOOKHUB_INSTANCE_PATH"], exist_ok=True)
    app = Flask("hub", instance_path=settings["HOOKHUB_INSTANCE_PATH"])
    app.config.update(settings)
    app.json.sort_keys = False
    logging.getLogger("hub").setLevel(app.config["HOOKHUB_LOG_LEVEL"])

    from hub import api, db, errors, health, plugin_host, queue, vault
    from hub.inbound import routes as inbound

    errors.init_app(app)
    db.init_app(app)
    vault.init_app(app)
    queue.init_app(app)
    plugin_host.init_app(app)
    health.init_app(app)
    inbound.init_app(app)
    api.init_app(app)
    _register_plugin_blueprints(app)
    bootstrap(app)
    return app


def _register_plugin_blueprints(app: Flask) -> None:
    from hub.plugin_host import get_host

    get_host(app).hook.hub_register_blueprints(register=app.register_blueprint)


def bootstrap(app: Flask) -> None:
    """The default workspace and the bootstrap token, when the schema is in place."""
    import sqlalchemy as sa

    from hub.db import get_database
    from hub.services.tokens import ensure_bootstrap_token

    database = get_database(app)
    if not sa.inspect(database.engine).has_table("workspaces"):
        app.logger.info("the database has no schema yet (`hookhub db upgrade` creates it; /readyz says so)")
        return
    with database.session() as session:
        ensure_bootstrap_token(session, app.config.get("HOOKHUB_BOOTSTRAP_TOKEN"))

