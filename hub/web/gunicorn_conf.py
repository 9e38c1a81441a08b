"""gunicorn settings for the web app, shared by ``hookhub serve`` and production units
(``gunicorn -c python:hub.web.gunicorn_conf --bind … --workers …``); command-line flags override."""


import errno as _errno
import gc as _gc
import os as _os
import socket as _socket

from gunicorn import util as _util
from gunicorn.glogging import Logger as _GunicornLogger

from hub.core import logs as _logs
from hub.runtime import metrics as _metrics
from hub.storage import config as _config
from hub.storage.instance import instance_socket_path as _instance_socket_path
from hub.web import cpus as _cpus
from hub.web import spread as _spread

_settings = _config.resolve(None)

wsgi_app = "hub.app:create_app()"
bind = [_settings["HOOKHUB_BIND"]]  # --bind overrides
# gunicorn's default control socket (~/.gunicorn/gunicorn.ctl) is shared by every gunicorn of the user,
# and one that stops removes it under the others: each hub keeps its own in its instance folder.
control_socket = _instance_socket_path(_settings["HOOKHUB_INSTANCE_PATH"], "gunicorn.ctl")
# Requests overlap within a process, so that the group commit (hub.storage.group_commit) has the
# rows of several to share one transaction — with gunicorn's sync worker a process has only ever
# one — and connections stay alive (the sync worker closes each). The hub's worker class is gthread
# plus answers given later (hub.web.worker): a webhook's thread hands its row to the group commit
# and goes back to reading requests, the worker's main thread sends the answer once the commit is
# done, so a batch holds every row that arrived during the commit before it, not at most one per
# thread. Measured with bench/inbound.py on 2 cores (docs/performance.md), SQLite, 64 connections:
# sync 749 req/s, gthread 2,700, this worker 4,355 (with gc.freeze below).
worker_class = "hub.web.worker.HubWorker"
# 4 threads: measured with the hub's worker class on 2 cores, 2, 3, 6, 8 and 16 were no faster
# (more threads grow the batches but queue for the GIL: with 8, p99 at 64 connections 146 ms
# instead of 114 before gc.freeze). Processes: HOOKHUB_WEB_WORKERS (2 here) — one per core; 3 on
# 2 cores measured no faster. Each process is bound to a CPU of its own (pre_fork, post_fork;
# HOOKHUB_WEB_PIN_CPUS): +16 % requests/s on 2 cores. docs/performance.md has the figures.
workers = int(_settings["HOOKHUB_WEB_WORKERS"])   # --workers overrides
threads = 4                       # per web process; --threads overrides
keepalive = 5                     # seconds an idle kept-alive connection stays open
# A listening socket per web process (SO_REUSEPORT), so that the kernel spreads new connections
# evenly over them. With one socket shared, whichever process wakes first accepts: a burst of
# kept-alive connections could all land on one process while the other idled (measured: one
# process served every request of a 64-connection run, at half the throughput). Turned off at
# start for a Unix socket or systemd's sockets (see on_starting); --no-reuse-port is not a flag,
# set reuse_port = False in a config file to keep one shared socket.
reuse_port = True
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
    process is our child); a socket per process where that works (reuse_port)."""
    _metrics.prepare(_settings["HOOKHUB_INSTANCE_PATH"], "web", empty=True)
    if server.cfg.reuse_port:
        _socket_per_process(server)


def _socket_per_process(server) -> None:
    """Keep reuse_port only for TCP addresses bound by gunicorn itself — each process binding the
    same Unix socket path would unlink the one before, and systemd's sockets are handed over, not
    bound — and make sure no one listens there yet: with SO_REUSEPORT a second hub on the same port
    would start and silently share it."""
    addresses = server.cfg.address
    if _os.environ.get("LISTEN_FDS") or not all(isinstance(a, tuple) for a in addresses):
        server.cfg.set("reuse_port", False)
        return
    shown = []
    for host, port in addresses:
        shown.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        probe = _socket.socket(_socket.AF_INET6 if _util.is_ipv6(host) else _socket.AF_INET, _socket.SOCK_STREAM)
        try:
            probe.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)   # TIME_WAIT is no owner
            probe.bind((host, port))
        except OSError as exc:
            reason = "another process listens there" if exc.errno == _errno.EADDRINUSE else exc.strerror
            server.log.error("cannot listen on %s: %s (HOOKHUB_BIND, or --bind)", shown[-1], reason)
            raise SystemExit(1) from None
        finally:
            probe.close()
    server.log.info("listening at %s, a socket per web process (SO_REUSEPORT)", ", ".join(shown))


#: Each web process's count of open connections, which they even out (hub.web.spread).
_connections = _spread.Table()


def pre_fork(server, worker) -> None:
    """The master, before it starts a web process: the CPU that process will be bound to — one the
    fewest live web processes hold (hub.web.cpus; HOOKHUB_WEB_PIN_CPUS=false: none) —, and its slot
    in the table of connection counts (hub.web.spread)."""
    live = list(server.WORKERS.values())
    worker.hub_cpu = (_cpus.pick(_cpus.usable(), (getattr(w, "hub_cpu", None) for w in live))
                      if _settings["HOOKHUB_WEB_PIN_CPUS"] else None)
    worker.hub_connections = _connections
    worker.hub_slot = _connections.take(getattr(w, "hub_slot", None) for w in live)


def child_exit(server, worker) -> None:
    """The master, once a web process has exited: its slot in the table of connection counts is free."""
    _connections.free(getattr(worker, "hub_slot", None))


def post_fork(server, worker) -> None:
    """A new web process, before it starts any thread: bound to its CPU (see pre_fork)."""
    cpu = getattr(worker, "hub_cpu", None)
    if cpu is None:
        return
    problem = _cpus.bind(cpu)
    if problem:       # it runs unbound, as with HOOKHUB_WEB_PIN_CPUS=false
        server.log.warning("web process %s could not be bound to CPU %s: %s", worker.pid, cpu, problem)
    else:
        server.log.debug("web process %s bound to CPU %s", worker.pid, cpu)


def post_worker_init(worker) -> None:
    """A web process, its app loaded: the hub's lines (level, format, request id) next to gunicorn's;
    the objects of the loaded app left out of the garbage collector's full collections."""
    _logs.configure(_level, _format, text_format=_WEB_TEXT)
    # The app's ~150,000 objects (modules, SQLAlchemy's mappings, plugins) live as long as the
    # process, yet every full collection walked them all: 110-125 ms each, all threads stopped,
    # six times in six seconds under load. Frozen, a full collection takes 5-20 ms. Measured with
    # 64 connections on SQLite: p99 90 -> 32 ms, 4,000 -> 4,640 requests/s.
    _gc.collect()
    _gc.freeze()
