"""The admin console under ``/console/``: server-rendered pages (Jinja, a little vanilla
JavaScript, the CSS and JS shipped in this package) on top of the same services as the API.

Signing in takes an API token; the browser then holds Flask's signed session cookie, scoped to
``/console`` (HttpOnly, SameSite=Lax, Secure over HTTPS), which carries the token's id — never its
value — and is checked against the token on every request. Every state-changing form carries a
Flask-WTF CSRF token; the check applies to this blueprint only (the JSON API uses bearer tokens)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from hub.storage.vault import load_keys
from hub.web.console import (  # noqa: F401 - their views register on bp
    approvals,
    audit,
    connections,
    dashboard,
    deliveries,
    errors,
    events,
    pages,
    routes,
    signin,
)
from hub.web.console.blueprint import bp
from hub.web.console.session import ConsoleSessionInterface

SESSION_KEY_PURPOSE = b"hookhub console session cookie"


def init_app(app: Flask) -> None:
    """Register the console; sign its session cookie with a key derived from the secret keys."""
    keys = session_keys(app)
    if not app.config.get("SECRET_KEY"):          # Flask's default is None: never a constant of ours
        app.config["SECRET_KEY"] = keys[0]
        app.config["SECRET_KEY_FALLBACKS"] = keys[1:]   # older secret keys: rotating them signs nobody out
    lifetime = int(app.config["HOOKHUB_CONSOLE_SESSION_SECONDS"])
    app.config.update(SESSION_COOKIE_NAME="hookhub_console", SESSION_COOKIE_PATH="/console",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(seconds=lifetime),
                      # The cookie is written when the session changes, not on every answer: an
                      # answer that changed nothing (the route editor's live preview, in flight
                      # while the form is saved) would write back the cookie it was sent with, over
                      # the one the save set — and its message would be gone. The sign-in ends at
                      # the time the session holds (session.sign_in), so nothing needs refreshing.
                      SESSION_REFRESH_EACH_REQUEST=False,
                      # checked by the console's own guard only (session.guard): not the API's
                      WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=lifetime)
    app.session_interface = ConsoleSessionInterface()
    app.extensions["hookhub.csrf"] = CSRFProtect(app)
    app.register_blueprint(bp)


def session_keys(app: Flask) -> list[bytes]:
    """One signing key per secret key (newest first), each an HMAC of a fixed purpose under that
    key: the cookie's signature never uses the encryption keys themselves, every process of the hub
    derives the same keys, and rotating ``HOOKHUB_SECRET_KEYS`` rotates them."""
    keys = load_keys(app.config["HOOKHUB_SECRET_KEYS"], app.config["HOOKHUB_INSTANCE_PATH"])
    return [hmac.new(key.encode("utf-8"), SESSION_KEY_PURPOSE, hashlib.sha256).digest() for key in keys]
