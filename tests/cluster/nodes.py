"""The processes of a small Hookhub cluster, and the senders that post to it.

A :class:`Cluster` shares one PostgreSQL database, one redis-server and one set of keys between its
nodes; each node has its own instance folder and log file. :class:`Senders` post events the way
senders behind a load balancer do: to their home node first, and to another node when that one
refuses the connection or answers 503."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import requests

from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, RedisServer, clean_env
from tests.waiting import wait_until

ALIVE_PATTERN = "hookhub:alive:*"      # the worker heartbeats (hub.worker.liveness)


class Process:
    """One node's process, its output in ``<folder>/<name>.log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.log_path = folder / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a graceful stop for gunicorn and for RQ), then wait for the exit."""
        if self.running():
            self.proc.terminate()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@dataclass
class WebNode:
    process: Process
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        """Whether /readyz answers 200; AssertionError at once when the node has exited."""
        if not self.process.running():
            raise AssertionError(f"{self.process.name} exited: {self.process.log()[-2000:]}")
        try:
            return requests.get(f"{self.base}/readyz", timeout=5).status_code == 200
        except requests.RequestException:
            return False


class Cluster:
    """PostgreSQL and redis-server given; web nodes and workers started on demand, all stopped by :meth:`stop`."""

    def __init__(self, folder: Path, database_url: str, redis_server: RedisServer, secret_key: str,
                 **settings: str) -> None:
        self.folder = folder
        self.redis_server = redis_server
        self.shared = {"HOOKHUB_DATABASE_URL": database_url, "HOOKHUB_REDIS_URL": f"unix://{redis_server.sock}",
                       "HOOKHUB_SECRET_KEYS": secret_key, **settings}
        self.processes: list[Process] = []

    def env(self, node: str) -> dict[str, str]:
        """The node's environment: the shared settings, its own instance folder."""
        return clean_env(**self.shared, HOOKHUB_INSTANCE_PATH=str(self.folder / node))

    def hookhub(self, *args: str, node: str = "admin") -> str:
        done = subprocess.run([str(VENV_BIN / "hookhub"), *args], env=self.env(node), capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def start_web(self, name: str, workers: int = 2) -> WebNode:
        """gunicorn as the systemd unit runs it: the hub's settings module, a bind, a process count."""
        port = free_port()
        argv = [str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers)]
        node = WebNode(self._start(name, argv), port)
        return node

    def start_worker(self, name: str) -> Process:
        return self._start(name, [str(VENV_BIN / "hookhub"), "worker"])

    def _start(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.env(name), self.folder)
        self.processes.append(process)
        return process

    def redis(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.redis_server.sock), socket_timeout=5)

    def alive_workers(self) -> set[bytes]:
        """The heartbeat keys of workers that beat within the last few seconds; empty while Redis is away."""
        try:
            return set(self.redis().keys(ALIVE_PATTERN))
        except redis.RedisError:
            return set()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} (exit {p.proc.poll()})\n{p.log()[-3000:]}" for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.running():
                process.proc.terminate()
        for process in self.processes:
            try:
                process.proc.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class Answer:
    """The final answer to one posted event, after any fail-over."""

    event_id: str
    status: int                             # 0: no node answered
    body: dict[str, Any]
    nodes: list[str]                        # the nodes tried, in order
    ambiguous: bool = False                 # an earlier try may have reached a node (a timeout, a reset)
    pair: bool = False                      # posted to two nodes at once
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        if self.status == 200:
            return self.body.get("status", "?")
        return self.body.get("error", {}).get("code", str(self.status))


class Senders:
    """Posts events to one connection through the web nodes; a stopped node is failed over, not removed."""

    def __init__(self, nodes: dict[str, WebNode], path: str, deadline: float = 60.0) -> None:
        self.nodes = nodes
        self.path = path                    # /hooks/<provider>/<connection>?key=…
        self.deadline = deadline            # seconds one event may take through every fail-over
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    @classmethod
    def for_url(cls, nodes: dict[str, WebNode], inbound_url: str) -> Senders:
        parts = urlsplit(inbound_url)
        return cls(nodes, f"{parts.path}?{parts.query}")

    def post(self, event_id: str, payload: dict[str, Any], home: str, session: requests.Session,
             pair: bool = False) -> Answer:
        """Post to ``home``, then to the other nodes in turn while they refuse or answer 503."""
        names = list(self.nodes)
        order = names[names.index(home):] + names[:names.index(home)]
        answer = Answer(event_id, 0, {}, [], pair=pair)
        started = time.monotonic()
        attempt = 0
        while time.monotonic() - started < self.deadline:
            node = order[attempt % len(order)]
            attempt += 1
            answer.nodes.append(node)
            try:
                r = session.post(self.nodes[node].base + self.path, json=payload, timeout=15)
            except requests.ConnectionError as exc:
                answer.ambiguous |= "refused" not in str(exc).lower()
            except requests.Timeout:
                answer.ambiguous = True
            else:
                if r.status_code != 503:
                    answer.status, answer.body, answer.headers = r.status_code, _json(r), dict(r.headers)
                    break
            if attempt % len(order) == 0:   # every node refused: a sender retries once one is ready again
                left = self.deadline - (time.monotonic() - started)
                try:
                    wait_until(lambda: any(self._ready(name) for name in order), "a node to be ready",
                               timeout=max(0.0, left), every=0.1)
                except AssertionError:
                    break
        answer.seconds = time.monotonic() - started
        with self._lock:
            self.answers.append(answer)
        return answer

    def _ready(self, name: str) -> bool:
        try:
            return self.nodes[name].ready()
        except AssertionError:      # that node was stopped: not ready
            return False

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def stream(self, prefix: str, home: str, stop: threading.Event, limit: int,
               payload: Callable[[int], dict[str, Any]], pair_every: int = 0) -> threading.Thread:
        """A thread posting ``<prefix>-<n>`` one after the other until ``stop`` or ``limit``; every
        ``pair_every``-th event is posted to two nodes at the same time (a sender retrying on another node)."""
        def run() -> None:
            session, twin = requests.Session(), requests.Session()
            for n in range(limit):
                if stop.is_set():
                    return
                event_id = f"{prefix}-{n}"
                body = {"event_id": event_id, **payload(n)}
                if pair_every and n % pair_every == pair_every - 1:
                    other = next(name for name in self.nodes if name != home)
                    sibling = threading.Thread(target=self.post, args=(event_id, body, other, twin, True))
                    sibling.start()
                    self.post(event_id, body, home, session, pair=True)
                    sibling.join()
                else:
                    self.post(event_id, body, home, session)

        thread = threading.Thread(target=run, name=f"sender-{prefix}", daemon=True)
        thread.start()
        return thread


def _json(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON; an answer that is not (gunicorn's own error page) as an error naming its status."""
    try:
        return response.json()
    except ValueError:
        return {"error": {"code": f"http_{response.status_code}", "message": response.text[:200]}}
