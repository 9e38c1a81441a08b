"""A real Redis Sentinel setup for tests: a master, a replica and one Sentinel (Debian's
redis-server, the Sentinel being `redis-server --sentinel`), on loopback ports, with a forced
failover. Everything waits for states, never for a fixed time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port
from tests.waiting import wait_until

MASTER_NAME = "mymaster"


def wait_for(condition, what: str, timeout: float = 30.0, every: float = 0.05):
    """:func:`tests.waiting.wait_until`, a Redis error counting as "not yet" (a failover under way)."""
    return wait_until(condition, what, timeout, every, ignoring=(redis.RedisError,))


class SentinelSetup:
    """``start()`` a master, its replica and a Sentinel watching them; ``failover()`` promotes the
    replica; ``stop()`` ends all three."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("redis-server is not installed: `make test` installs it")
        self.folder = folder
        self.ports = {"master": free_port(), "replica": free_port(), "sentinel": free_port()}
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.ports['sentinel']}/{MASTER_NAME}/0"

    def client(self, role: str) -> redis.Redis:
        return redis.Redis(port=self.ports[role], socket_timeout=2)

    def master_port(self) -> int:
        host, port = self.client("sentinel").execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return int(port)

    def start(self) -> SentinelSetup:
        for role in ("master", "replica"):
            args = [self.binary, "--port", str(self.ports[role]), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(self.folder), "--logfile", str(self.folder / f"{role}.log")]
            if role == "replica":
                args += ["--replicaof", "127.0.0.1", str(self.ports["master"])]
            self.procs[role] = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        wait_for(lambda: self.client("replica").info("replication").get("master_link_status") == "up",
                 "the replica to sync with the master")
        config = self.folder / "sentinel.conf"     # Sentinel rewrites its file: it must be writable
        config.write_text(f"port {self.ports['sentinel']}\nbind 127.0.0.1\ndir {self.folder}\n"
                          f"logfile {self.folder / 'sentinel.log'}\n"
                          f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.ports['master']} 1\n"
                          f"sentinel down-after-milliseconds {MASTER_NAME} 2000\n"
                          f"sentinel failover-timeout {MASTER_NAME} 10000\n")
        self.procs["sentinel"] = subprocess.Popen([self.binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL)
        wait_for(self._replica_known, "the Sentinel to know the replica")
        return self

    def _replica_known(self) -> bool:
        return any(r["port"] == self.ports["replica"] and r["master-link-status"] == "ok" and not r["is_sdown"]
                   for r in self.client("sentinel").sentinel_slaves(MASTER_NAME))

    def failover(self) -> int:
        """Promote the replica (SENTINEL FAILOVER) and wait until the change is complete: the Sentinel
        names the new master to clients (SENTINEL MASTERS, what redis-py asks) and has turned the old
        master into its replica. Returns the new master's port."""
        old = self.master_port()
        sentinel = self.client("sentinel")
        wait_for(lambda: sentinel.execute_command("SENTINEL", "FAILOVER", MASTER_NAME),
                 "the Sentinel to accept a failover", timeout=30, every=0.2)
        new = wait_for(lambda: (port := sentinel.sentinel_masters()[MASTER_NAME]["port"]) != old and port,
                       "the Sentinel to name the new master", timeout=60, every=0.1)
        demoted = next(role for role, port in self.ports.items() if port == old)
        wait_for(lambda: self.client(demoted).info("replication")["role"] == "slave",
                 "the old master to become a replica", timeout=60, every=0.1)
        return new

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.folder.glob("*.log")))

