"""gunicorn for Hookhub in production: the hub's own settings, plus whatever you override here.

    gunicorn -c deploy/gunicorn.conf.py --bind 127.0.0.1:8000 --workers 4

The systemd unit passes ``-c python:hub.web.gunicorn_conf`` directly; copy this file instead when
you need overrides (a Unix socket, forwarded_allow_ips for your proxy, …)."""

from hub.web.gunicorn_conf import *  # noqa: F403 - wsgi_app, worker_class, timeouts, the key-free access log

# forwarded_allow_ips = "127.0.0.1"        # the proxy whose X-Forwarded-* headers gunicorn trusts
# bind = "unix:/run/hookhub/web.sock"
