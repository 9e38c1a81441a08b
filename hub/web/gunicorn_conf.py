"""gunicorn settings for the web app, shared by ``hookhub serve`` and production units
(``gunicorn -c python:hub.web.gunicorn_conf --bind … --workers …``); command-line flags override."""


from gunicorn.glogging import Logger as _GunicornLogger

from hub.core import logs as _logs
from hub.runtime import metrics as _metrics
from hub.storage import config as _config
from hub.storage.instance import instance_socket_path as _instance_socket_path

_settings = _config.resolve(None)

wsgi_app = "hub.app:create_app()"
bind = [_settings["HOOKHUB_BIND"]]  # --bind overrides
# gunicorn's default control socket (~/.gunicorn/gunicorn.ctl) is shared by every gunicorn of the user,
# and one that stops removes it under the others: each hub keeps its own in its instance folder.
control_socket = _instance_socket_path(_settings["HOOKHUB_INSTANCE_PATH"], "gunicorn.ctl")
# Threads, not one request per process: a webhook's request waits on its commit, and the group
# commit (hub.storage.group_commit) shares one transaction among the requests a process has in
# flight — with the sync worker there is only ever one. gthread also keeps connections alive
# (the sync worker closes each one). Measured with bench/inbound.py on 2 cores (docs/performance.md):
# sync 749 req/s, gthread ×8 threads 2,200 req/s on SQLite; 16 threads were not faster.
worker_class = "gthread"
threads = 8                       # per web process; --threads overrides
keepalive = 5                     # seconds an idle kept-alive connection stays open
graceful_timeout = 10             # seconds a worker gets to finish its request on SIGTERM
timeout = 30                      # a request stuck longer than this has its worker restarted
accesslog = "-"
# The path without the query string: inbound URLs carry their key in ?key=, which must not reach logs.
# The request id is the one answered as X-Request-Id (hub.web.request_ids).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms req=%({x-request-id}o)s'
loglevel = "info"

_level = _settings["HOOKHUB_LOG_LEVEL"]
_format = _settings["HOOKHUB_LOG_FORMAT"]
_WEB_TEXT = "%(asctime)s %(levelname)s [req %(request_id)s] %(name)s: %(message)s"


class HubLogger(_GunicornLogger):
    """gunicorn's logger, its lines in the hub's format (HOOKHUB_LOG_FORMAT) from the first one
    ("Starting gunicorn") on, and again after every reopen or reload."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        _logs.restyle(self.error_log, _format)
        _logs.restyle(self.access_log, _format)


logger_class = HubLogger


def on_starting(server) -> None:
    """The master, before any web process: this instance's web metrics start from zero (every web
    process is our child)."""
    _metrics.prepare(_settings["HOOKHUB_INSTANCE_PATH"], "web", empty=True)


def post_worker_init(worker) -> None:
    """A web process: the hub's lines (level, format, request id) next to gunicorn's."""
    _logs.configure(_level, _format, text_format=_WEB_TEXT)
