"""``hookhub serve``: the whole hub in one process tree — embedded Redis (unless configured),
migrations, a web server (gunicorn, or Werkzeug without it) and a worker with its scheduler.
SIGINT/SIGTERM stop the children, then Redis; nothing is left running."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time

from hub.core.logs import configure as configure_logs
from hub.storage import config as hub_config
from hub.storage.embedded_redis import EmbeddedRedis

log = logging.getLogger("hub.cli.serve")
STOP_GRACE = 15.0
SERVE_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_WORKER_RESTARTS = 5   # per minute; beyond that something is wrong and the hub stops


def serve(*, host: str | None = None, port: int | None = None, web_workers: int | None = None,
          with_worker: bool = True) -> int:
    """``host`` and ``port`` override HOOKHUB_BIND's."""
    settings = hub_config.resolve(None)
    configure_logs(logging.INFO, settings["HOOKHUB_LOG_FORMAT"], text_format=SERVE_LOG_FORMAT)
    bind_host, bind_port = hub_config.parse_bind(settings["HOOKHUB_BIND"])
    host, port = host or bind_host, port or bind_port
    env = dict(os.environ)
    env["HOOKHUB_INSTANCE_PATH"] = settings["HOOKHUB_INSTANCE_PATH"]
    env["HOOKHUB_DATABASE_URL"] = settings["HOOKHUB_DATABASE_URL"]
    # The children (and their public URL, when HOOKHUB_PUBLIC_URL is unset) follow the address in use.
    env["HOOKHUB_BIND"] = hub_config.format_bind(host, port)
    if hub_config.is_wildcard(host) and not os.environ.get("HOOKHUB_PUBLIC_URL"):
        shown = hub_config.public_url_for_bind(env["HOOKHUB_BIND"])
        log.warning("listening on every interface with HOOKHUB_PUBLIC_URL unset: inbound URLs will name %s; "
                    "set HOOKHUB_PUBLIC_URL to the URL senders use", shown)
    redis_server: EmbeddedRedis | None = None
    if not settings["HOOKHUB_REDIS_URL"]:
        redis_server = EmbeddedRedis(settings["HOOKHUB_INSTANCE_PATH"])
        if redis_server.answering():
            log.info("embedded Redis already answering on %s; using it", redis_server.socket)
            redis_server = None
            env["HOOKHUB_REDIS_URL"] = EmbeddedRedis(settings["HOOKHUB_INSTANCE_PATH"]).url
        else:
            env["HOOKHUB_REDIS_URL"] = redis_server.start()
            log.info("embedded Redis started on %s", redis_server.socket)
    else:
        log.info("using Redis at %s", _redact(settings["HOOKHUB_REDIS_URL"]))
    os.environ.update({k: env[k] for k in ("HOOKHUB_INSTANCE_PATH", "HOOKHUB_DATABASE_URL", "HOOKHUB_REDIS_URL",
                                           "HOOKHUB_BIND") if k in env})

    stopping = {"signal": None}

    def request_stop(signum, _frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children: list[tuple[str, subprocess.Popen]] = []
    code = 0
    try:
        _migrate()
        workers = web_workers or settings["HOOKHUB_WEB_WORKERS"]
        children.append(("web", subprocess.Popen(_web_command(host, port, workers), env=env)))
        worker_command = [sys.executable, "-m", "hub", "worker"]
        if with_worker:
            children.append(("worker", subprocess.Popen(worker_command, env=env)))
        log.info("Hookhub serving on http://%s (database %s) — Ctrl-C to stop",
                 env["HOOKHUB_BIND"], _redact(settings["HOOKHUB_DATABASE_URL"]))
        restarts: list[float] = []
        while stopping["signal"] is None:
            for index, (name, proc) in enumerate(children):
                if proc.poll() is None or stopping["signal"] is not None:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60]
                if name == "worker" and len(restarts) < MAX_WORKER_RESTARTS:
                    # The queue and the database hold the work: a new worker carries on.
                    log.error("worker exited with code %s; restarting it", proc.returncode)
                    restarts.append(now)
                    time.sleep(min(5.0, 0.5 * len(restarts)))
                    children[index] = (name, subprocess.Popen(worker_command, env=env))
                else:
                    log.error("%s process exited with code %s; stopping the hub", name, proc.returncode)
                    stopping["signal"] = -1
                    code = 1
            time.sleep(0.2)
    except Exception as exc:
        log.error("cannot start: %s", exc)
        code = 1
    finally:
        _stop_children(children)
        if redis_server is not None:
            redis_server.stop()
        log.info("stopped")
    return code


def _migrate() -> None:
    from hub.storage.db import get_database
    from hub.storage.schema import upgrade
    from hub.web.app import bootstrap, create_app

    app = create_app()
    upgrade(get_database(app))
    bootstrap(app)
    get_database(app).dispose()


def _web_command(host: str, port: int, workers: int) -> list[str]:
    if importlib.util.find_spec("gunicorn") is not None:
        return [sys.executable, "-m", "gunicorn", "-c", "python:hub.web.gunicorn_conf",
                "--bind", hub_config.format_bind(host, port), "--workers", str(workers)]
    log.warning("gunicorn is not installed: using the Werkzeug development server")
    code = ("import os; from hub.runtime import metrics; "
            "metrics.prepare(os.environ['HOOKHUB_INSTANCE_PATH'], 'web', empty=True); "
            f"from hub.web.app import create_app; create_app().run(host={host!r}, port={port}, threaded=True)")
    return [sys.executable, "-c", code]


def _stop_children(children: list[tuple[str, subprocess.Popen]]) -> None:
    for _name, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for name, proc in children:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killing it", name, STOP_GRACE)
            proc.kill()
            proc.wait()


def _redact(url: str) -> str:
    """A URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
