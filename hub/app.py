"""The WSGI entry point: ``gunicorn 'hub.app:create_app()'``. The factory itself lives in
:mod:`hub.web.app`; this name is the one deployments and the design document use."""

from hub.web.app import bootstrap, create_app

__all__ = ["bootstrap", "create_app"]
