"""Kept-alive connections spread evenly over the web processes (hub.web.spread) in real gunicorn
with the hub's settings: a client's 12 kept-alive connections, all on the one web process there
was, are split evenly once a second process starts (gunicorn's TTIN) and requests flow on them —
every request answered. Without the spreading the new process would never get one of them."""

import http.client
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.processes import VENV_BIN, clean_env, descendants, stop_or_kill, wait_http
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e]


def owners(pids: set[int], port: int) -> dict[int, int]:
    """The web process (pid) holding each accepted connection to ``port``, by the client's port:
    the server-side sockets in /proc/net/tcp, matched to the processes' open files by inode."""
    inodes = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if int(local.split(":")[1], 16) == port and state == "01" and inode:     # 01: established
            inodes[inode] = int(remote.split(":")[1], 16)
    found = {}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = fd.readlink().name
            except OSError:
                continue
            if target.startswith("socket:[") and (inode := int(target[8:-1])) in inodes:
                found[inodes[inode]] = pid
    return found


@pytest.fixture
def web(tmp_path):
    """gunicorn with the hub's settings and one web process, answering; the master. Connections are
    kept alive 60 s instead of 5: while the second process loads the app, a request that landed on
    it waits, and the others must not idle out meanwhile."""
    env = clean_env(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_LOG_LEVEL="WARNING",
                    HOOKHUB_REDIS_URL=f"unix://{tmp_path / 'no-redis.sock'}")
    port = free_port()
    with open(tmp_path / "web.log", "wb") as log:
        master = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "-w", "1",
                                   "--keep-alive", "60", "-b", f"127.0.0.1:{port}"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            yield master, port
        finally:
            stop_or_kill(master)


def ask(conn: http.client.HTTPConnection) -> None:
    conn.request("GET", "/healthz")


def answered(conn: http.client.HTTPConnection) -> bool:
    """The answer to :func:`ask` (200); whether the server keeps the connection."""
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return not response.will_close


def test_a_new_web_process_gets_its_share_of_kept_alive_connections(web):
    master, port = web
    (first,) = descendants(master.pid)
    connections = []
    for _ in range(12):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        ask(conn)
        assert answered(conn), "a lone web process closed a kept-alive connection"
        connections.append(conn)
    where = owners({first}, port)
    assert [where.get(conn.sock.getsockname()[1]) for conn in connections] == [first] * 12

    requests_answered = 0

    def one_round() -> None:
        """One request on every connection (all sent, then all read), which also keeps them from
        idling out; one the answer closes is replaced by a new connection."""
        nonlocal requests_answered
        for conn in connections:
            ask(conn)
        for i, conn in enumerate(connections):
            kept = answered(conn)
            requests_answered += 1
            if not kept:
                conn.close()
                connections[i] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connections[i].connect()

    os.kill(master.pid, signal.SIGTTIN)                  # one web process more

    def spread() -> bool:
        """Whether, after a round of requests, the two web processes hold as many connections as
        each other, give or take one (a request on a connection the new process took while it
        loads the app waits for it). Counted on the server's side: a connection of the fixture's
        readiness check may still be open there."""
        one_round()
        pids = descendants(master.pid)
        if len(pids) != 2:
            return False
        held = list(owners(pids, port).values())
        counts = sorted(held.count(pid) for pid in pids)
        return sum(counts) >= len(connections) and counts[1] - counts[0] <= 1

    wait_until(spread, "the 12 connections to be split evenly between two web processes", timeout=60, every=0)
    assert requests_answered >= 12
    for conn in connections:
        conn.close()
