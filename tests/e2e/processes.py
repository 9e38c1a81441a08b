"""Helpers for end-to-end tests: start real processes, wait for them, find their descendants."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.waiting import wait_until

VENV_BIN = Path(sys.executable).parent


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any HOOKHUB_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
    env.update(extra)
    return env


def wait_http(url: str, timeout: float = 60.0, status: int = 200) -> requests.Response:
    """GET ``url`` until it answers ``status``; that answer (AssertionError saying the last one otherwise)."""
    last: list[Any] = ["no answer"]

    def answered() -> requests.Response | None:
        try:
            r = requests.get(url, timeout=2)
        except requests.RequestException as exc:
            last[0] = exc
            return None
        last[0] = f"HTTP {r.status_code}: {r.text[:200]}"
        return r if r.status_code == status else None

    try:
        return wait_until(answered, f"{url} to answer {status}", timeout, every=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last: {last[0]}") from None


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if state != "Z":
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start_serve(cwd: Path, port: int | None, env: dict[str, str], log_name: str = "serve.log") -> subprocess.Popen:
    """``hookhub serve --port <port>`` in ``cwd`` (without ``--port`` when ``port`` is None:
    HOOKHUB_BIND decides), its output in ``cwd/log_name``."""
    log = open(cwd / log_name, "wb")
    command = [str(VENV_BIN / "hookhub"), "serve", *(["--port", str(port)] if port is not None else [])]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout)


def stop_or_kill(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM and wait for ``proc``; SIGKILL it if it is still there (a no-op once it has exited)."""
    try:
        stop(proc, signal.SIGTERM, timeout)
    finally:
        proc.kill()


def hub_environment(folder: Path, redis_sock: Path, token: str, **settings: str) -> dict[str, str]:
    """The environment of a hub's processes (instance folder and SQLite database in ``folder``, the
    redis-server at ``redis_sock``, ``token`` as the bootstrap admin token, 127.0.0.0/8 reachable),
    with its database migrated."""
    env = clean_env(HOOKHUB_INSTANCE_PATH=str(folder / "instance"), HOOKHUB_REDIS_URL=f"unix://{redis_sock}",
                    HOOKHUB_BOOTSTRAP_TOKEN=token, HOOKHUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", **settings)
    subprocess.run([str(VENV_BIN / "hookhub"), "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


class AdminApi:
    """The admin API of a hub at ``base`` with ``token``: ``api("POST", "/connections", json=…)``
    returns the JSON of a 2xx answer and fails the test on any other."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kw: Any) -> Any:
        r = self.session.request(method, f"{self.base}/api/v1{path}", timeout=10, **kw)
        assert r.status_code < 300, r.text
        return r.json()


class RedisServer:
    def __init__(self, folder):
        self.folder = folder
        self.sock = folder / "redis.sock"
        self.proc = None

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: `make test` installs it")
        self.proc = subprocess.Popen([binary, "--port", "0", "--unixsocket", str(self.sock), "--dir", str(self.folder),
                                      "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                                     stdout=subprocess.DEVNULL)
        wait_until(self.sock.exists, "redis-server's socket", timeout=10, every=0.02)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
