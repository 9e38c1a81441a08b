"""What the outbound benchmarks share: loopback receivers, child processes, and a hub in a scratch
directory — redis-server, SQLite, the admin API in-process, ``hookhub worker`` and gunicorn as
child processes — with the database reads the figures come from."""

from __future__ import annotations

import asyncio
import http
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# ----------------------------------------------------------------------------- receivers

async def serve(port: int, delay: float, status: int = 204) -> None:
    """A minimal HTTP/1.1 keep-alive server answering ``status`` after ``delay`` seconds."""
    answer = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\nContent-Length: 0\r\n\r\n".encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                if delay:
                    await asyncio.sleep(delay)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def run_receiver(port: int, delay: float, status: int = 204) -> None:
    asyncio.run(serve(port, delay, status))


def _run_receivers(specs: list[tuple[int, float, int]]) -> None:
    async def all_of_them() -> None:
        await asyncio.gather(*(serve(port, delay, status) for port, delay, status in specs))

    asyncio.run(all_of_them())


def _receivers_main(args: list[str]) -> None:
    """``port,delay,status`` per receiver, as receiver_process passes them."""
    specs = []
    for arg in args:
        port, delay, status = arg.split(",")
        specs.append((int(port), float(delay), int(status)))
    _run_receivers(specs)


def receiver_process(specs: list[tuple[float, int]]) -> tuple[subprocess.Popen, list[str]]:
    """Receivers ``(delay seconds, status)`` in a child process of their own, so that the
    benchmark's own Python work never delays their answers; returns it and their URLs."""
    ports = [free_port() for _ in specs]
    code = "import sys; sys.path.insert(0, sys.argv[1]); import common; common._receivers_main(sys.argv[2:])"
    args = [f"{port},{delay},{status}" for port, (delay, status) in zip(ports, specs, strict=True)]
    proc = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent), *args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for port in ports:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the receivers did not start") from None
                time.sleep(0.02)
    return proc, [f"http://127.0.0.1:{port}/hook" for port in ports]


# ----------------------------------------------------------------------------- processes

def busy_fraction(window: float = 0.25) -> float:
    """The share of the machine's CPU time that was not idle during ``window`` seconds."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]          # all, idle + iowait
    total0, idle0 = sample()
    time.sleep(window)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def settle(timeout: float = 60) -> float:
    """Wait until the machine is quiet (under 10 % busy), so that one run's leftovers do not slow
    the next one down; the seconds it took. adnanh/webhook answers before it runs its command: after
    a run at 15,000 requests/s, tens of thousands of /bin/true are still to run, for seconds — which
    once took a third of the CPU from whichever server ran next. PostgreSQL's checkpoints and
    autovacuum, the hub's WAL checkpoint and a stopped worker's last jobs are leftovers too."""
    start = time.monotonic()
    while busy_fraction() > 0.10 and time.monotonic() - start < timeout:
        pass
    return time.monotonic() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank-below percentile of an already sorted list (as bench/outbound.py reads p99)."""
    return sorted_values[int(fraction * (len(sorted_values) - 1))]


class Hub:
    """redis-server on a Unix socket, a migrated SQLite database, the app in-process for the admin
    API and the inbound route, and ``hookhub worker`` / gunicorn started on demand."""

    def __init__(self, work: Path, concurrency: int, token: str) -> None:
        self.work = work
        self.log = work / "processes.log"
        redis_bin = shutil.which("redis-server")
        if redis_bin is None:
            raise SystemExit("redis-server is not installed: run `make install`")
        sock = work / "redis.sock"
        self.redis = subprocess.Popen([redis_bin, "--port", "0", "--unixsocket", str(sock), "--save", "",
                                       "--dir", str(work)], stdout=subprocess.DEVNULL)
        while not sock.exists():
            time.sleep(0.02)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
        self.env.update(HOOKHUB_INSTANCE_PATH=str(work / "instance"), HOOKHUB_REDIS_URL=f"unix://{sock}",
                        HOOKHUB_BOOTSTRAP_TOKEN=token, HOOKHUB_LOG_LEVEL="WARNING",
                        HOOKHUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8",
                        HOOKHUB_WORKER_CONCURRENCY=str(concurrency), HOOKHUB_SWEEP_INTERVAL="5")
        subprocess.run([str(BIN / "hookhub"), "db", "upgrade"], env=self.env, check=True, capture_output=True)
        os.environ.update(self.env)
        sys.path.insert(0, str(ROOT))
        from hub.web.app import create_app

        self.app = create_app()
        self.client = self.app.test_client()
        self.auth = {"Authorization": f"Bearer {token}"}
        self.worker: subprocess.Popen | None = None

    def redis_client(self):
        from hub.storage.redis import get_redis

        return get_redis(self.app)

    def start_worker(self) -> float:
        """Start ``hookhub worker``; returns the monotonic time of its first heartbeat."""
        from hub.worker.sweeper import ALIVE_KEY

        client = self.redis_client()
        client.delete(*client.keys(ALIVE_KEY.format("*")) or ["-"])
        self.worker = start([str(BIN / "hookhub"), "worker"], self.env, self.log)
        while not client.keys(ALIVE_KEY.format("*")):
            if self.worker.poll() is not None:
                raise SystemExit(f"the worker exited; see {self.log}")
            time.sleep(0.005)
        return time.monotonic()

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop(self.worker)
            self.worker = None

    def start_web(self) -> tuple[subprocess.Popen, str]:
        """gunicorn (one process, four threads) serving the hub; returns it and its base URL once it answers."""
        import requests

        port = free_port()
        web = start([str(BIN / "gunicorn"), "-w", "1", "--threads", "4", "-b", f"127.0.0.1:{port}",
                     "hub.app:create_app()"], self.env, self.log)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=1)
                return web, base
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start; see {self.log}") from None
                time.sleep(0.1)

    def session(self):
        from hub.storage.db import get_database

        return get_database(self.app).session()

    def delivered(self, since_id: str = "", connection: str | None = None) -> list[tuple[float, float]]:
        """(received_at, delivered_at) of delivered deliveries (to ``connection``, when given), as Unix seconds."""
        import sqlalchemy as sa

        from hub.storage.models import Delivery, Event

        query = sa.select(Event.received_at, Delivery.delivered_at).join(Event, Event.id == Delivery.event_id).where(
            Delivery.status == "delivered", Delivery.id > since_id)
        if connection is not None:
            query = query.where(Delivery.connection_id == connection)
        with self.session() as s:
            rows = s.execute(query).all()
        return [(r.received_at.timestamp(), r.delivered_at.timestamp()) for r in rows]

    def newest_delivery_id(self) -> str:
        import sqlalchemy as sa

        from hub.storage.models import Delivery

        with self.session() as s:
            return s.scalar(sa.select(sa.func.max(Delivery.id))) or ""

    def close(self) -> None:
        """Stop the worker, the in-process app (whose connection cache's listener would otherwise
        report losing Redis), then redis-server."""
        self.stop_worker()
        self.app.close()
        self.redis.terminate()
        self.redis.wait(10)


# ----------------------------------------------------------------------------- PostgreSQL

class Postgres:
    """A throw-away PostgreSQL cluster on a loopback port (Debian's postgresql package), as the
    suite's conftest starts one — but with PostgreSQL's own durability settings (fsync on), since
    the figures are about what a deployment pays for a commit. ``url`` names its ``postgres``
    database for SQLAlchemy; :meth:`stop` removes it."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
        if not bins:
            raise SystemExit("PostgreSQL is not installed: run `make bench` (it installs postgresql)")
        self.bindir = bins[0].parent
        self.base = Path(tempfile.mkdtemp(prefix="hookhub-bench-pg-"))   # its own: postgres must enter it
        self.as_postgres = os.geteuid() == 0          # initdb and pg_ctl refuse to run as root
        if self.as_postgres:
            shutil.chown(self.base, "postgres")
        self.port = port = free_port()
        self._run(f"{self.bindir}/initdb -D {self.base}/data -A trust -U postgres")
        self._run(f"{self.bindir}/pg_ctl -D {self.base}/data -l {self.base}/log -w -o '-k {self.base} "
                  f"-c listen_addresses=127.0.0.1 -p {port} -c max_connections=200' start")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the cluster: the postmaster and its children, those
        running and those that have exited."""
        postmaster = int((Path(self.base) / "data" / "postmaster.pid").read_text().split()[0])
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid = int(stat.parent.name)
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, ValueError):
                continue
            if pid == postmaster or int(fields[1]) == postmaster:   # ppid is field 4 of stat
                ticks += int(fields[11]) + int(fields[12])
            if pid == postmaster:      # and its children that have exited (a pgbench run's backends)
                ticks += int(fields[13]) + int(fields[14])
        return ticks / os.sysconf("SC_CLK_TCK")

    def pgbench(self, database: str, script: str, *, clients: int, seconds: int, rate: float) -> list[float]:
        """Run ``script`` (SQL, one transaction) in ``database`` with pgbench: ``clients`` connections,
        ``rate`` transactions a second in all (scheduled as a Poisson process, so a late one waits as a
        request would), for ``seconds``. Each transaction's latency in ms, from its scheduled start."""
        run = f"pgbench-{uuid.uuid4().hex[:8]}"
        (self.base / f"{run}.sql").write_text(script)
        if self.as_postgres:
            shutil.chown(self.base / f"{run}.sql", "postgres")
        try:
            self._run(f"{self.bindir}/pgbench -h 127.0.0.1 -p {self.port} -U postgres -n -c {clients} -j {clients} "
                      f"-T {seconds} -R {rate:.1f} -f {self.base}/{run}.sql --log --log-prefix={self.base}/{run} "
                      f"{database}")
            latencies = []
            for log in self.base.glob(f"{run}.[0-9]*"):    # one file per thread: client, tx, µs, …
                latencies += [int(line.split()[2]) / 1000 for line in log.read_text().splitlines()]
            return sorted(latencies)
        finally:
            for path in self.base.glob(f"{run}*"):
                path.unlink()

    def _run(self, cmd: str) -> None:
        full = ["su", "postgres", "-c", cmd] if self.as_postgres else ["sh", "-c", cmd]
        done = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise SystemExit(f"{cmd.split()[0]} failed: {done.stderr.strip()}")

    def stop(self) -> None:
        self._run(f"{self.bindir}/pg_ctl -D {self.base}/data -m fast -w stop")
        shutil.rmtree(self.base, ignore_errors=True)
