"""``/healthz`` (the process is up) and ``/readyz`` (the database and Redis answer)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

from hub.storage.db import get_database
from hub.storage.redis import get_redis
from hub.storage.schema import pending

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks: dict[str, str] = {}
    try:
        get_database().ping()
        checks["database"] = "ok"
        checks["schema"] = "ok" if _schema_current() else "behind: run `hookhub db upgrade`"
    except Exception as exc:  # any driver error means "not ready"
        log.warning("readiness: database: %s", exc)
        checks["database"] = "unavailable"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        log.warning("readiness: redis: %s", exc)
        checks["redis"] = "unavailable"
    failed = [f"{name} {state}" for name, state in checks.items() if state != "ok"]
    if failed:
        body = {"error": {"code": "unavailable", "message": f"not ready: {'; '.join(failed)}", "checks": checks}}
        return jsonify(body), 503
    return jsonify({"status": "ok", "checks": checks})


def _schema_current() -> bool:
    """Whether the migrations are applied; remembered once true (they are never un-applied)."""
    app = current_app._get_current_object()
    if not app.extensions.get("hookhub.schema_current"):
        app.extensions["hookhub.schema_current"] = not pending(get_database())
    return app.extensions["hookhub.schema_current"]


def init_app(app) -> None:
    app.register_blueprint(bp)
