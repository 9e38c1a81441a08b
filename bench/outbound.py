"""Outbound throughput: accepted events → delivered at a local receiver, next to bare RQ no-op jobs
on the same worker setup, measured in one run on this machine (ratios travel, absolute figures do
not).

    .venv/bin/python bench/outbound.py [--events 1000] [--jobs 2000] [--rate 50] [--seconds 8]

Every phase runs one ``hookhub worker`` process (RQ SimpleWorker, HOOKHUB_WORKER_CONCURRENCY
jobs in threads) against redis-server and SQLite:

- bare RQ: no-op jobs enqueued while the worker is down, timed from the worker's first heartbeat
  until the queue is empty — the ceiling for anything done as RQ jobs on this setup;
- deliveries: N events accepted through the real inbound route while the worker is down (one
  route with one custom-webhook target), timed from the worker's first heartbeat until the last
  delivery is recorded as delivered; once with a receiver that answers at once and once with one
  that answers after 100 ms;
- latency: with the worker up, events posted over HTTP (gunicorn) at a steady rate; p50/p99 of
  delivered_at − received_at.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "bench-outbound-token-0123456789"


# ----------------------------------------------------------------------------- the receiver

async def _serve(port: int, delay: float) -> None:
    """A minimal HTTP/1.1 keep-alive server answering 204 after ``delay`` seconds."""
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
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def run_receiver(port: int, delay: float) -> None:
    asyncio.run(_serve(port, delay))


# ----------------------------------------------------------------------------- processes

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


class Bench:
    def __init__(self, work: Path, concurrency: int) -> None:
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
                        HOOKHUB_BOOTSTRAP_TOKEN=TOKEN, HOOKHUB_LOG_LEVEL="WARNING",
                        HOOKHUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8",
                        HOOKHUB_WORKER_CONCURRENCY=str(concurrency), HOOKHUB_SWEEP_INTERVAL="5")
        subprocess.run([str(BIN / "hookhub"), "db", "upgrade"], env=self.env, check=True, capture_output=True)
        os.environ.update(self.env)
        sys.path.insert(0, str(ROOT))
        from hub.web.app import create_app

        self.app = create_app()
        self.client = self.app.test_client()
        self.auth = {"Authorization": f"Bearer {TOKEN}"}
        self.worker: subprocess.Popen | None = None

    # --------------------------------------------------------------------- helpers

    def redis_client(self):
        from hub.storage.redis import get_redis

        return get_redis(self.app)

    def route_to(self, name: str, url: str) -> str:
        """A generic source routed to a webhook target at ``url``; returns the inbound path."""
        api = "/api/v1"
        source = self.client.post(f"{api}/connections", headers=self.auth, json={
            "name": f"{name} source", "provider": "generic", "provider_config": {"dedupe_window": 0}}).json
        target = self.client.post(f"{api}/connections", headers=self.auth, json={
            "name": f"{name} target", "channel": "webhook", "channel_config": {"url": url}}).json
        route = self.client.post(f"{api}/routes", headers=self.auth, json={
            "name": name, "source": source["id"], "targets": [{"connection": target["id"]}]})
        assert route.status_code == 201, route.json
        return source["inbound_url"].split("/hooks/", 1)[1]

    def accept(self, inbound: str, count: int) -> None:
        for n in range(count):
            r = self.client.post(f"/hooks/{inbound}", json={"n": n, "text": f"event {n}"})
            assert r.status_code == 200 and r.json["status"] == "accepted", r.json

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

    def delivered(self, since_id: str = "") -> list[tuple[float, float]]:
        """(received_at, delivered_at) of delivered deliveries, as Unix seconds."""
        import sqlalchemy as sa

        from hub.storage.db import get_database
        from hub.storage.models import Delivery, Event

        with get_database(self.app).session() as s:
            rows = s.execute(sa.select(Event.received_at, Delivery.delivered_at).join(
                Event, Event.id == Delivery.event_id).where(Delivery.status == "delivered",
                                                            Delivery.id > since_id)).all()
        return [(r.received_at.timestamp(), r.delivered_at.timestamp()) for r in rows]

    def newest_delivery_id(self) -> str:
        import sqlalchemy as sa

        from hub.storage.db import get_database
        from hub.storage.models import Delivery

        with get_database(self.app).session() as s:
            return s.scalar(sa.select(sa.func.max(Delivery.id))) or ""

    # --------------------------------------------------------------------- phases

    def bare_rq(self, jobs: int) -> float:
        from rq.registry import StartedJobRegistry

        from hub.storage.queue import get_queue

        queue = get_queue("deliver", self.app)
        queue.enqueue_many([queue.prepare_data("os.getpid", result_ttl=0) for _ in range(jobs)])
        started = self.start_worker()
        registry = StartedJobRegistry(queue=queue)
        while queue.count or registry.count:
            time.sleep(0.005)
        elapsed = time.monotonic() - started
        self.stop_worker()
        return jobs / elapsed

    def deliveries(self, name: str, url: str, events: int) -> float:
        inbound = self.route_to(name, url)
        since = self.newest_delivery_id()
        self.accept(inbound, events)
        started = self.start_worker()
        wall_started = time.time() - (time.monotonic() - started)   # the heartbeat, on delivered_at's clock
        while len(done := self.delivered(since)) < events:
            if time.monotonic() - started > 600:
                raise SystemExit(f"{name}: only {len(done)} of {events} delivered after 600 s; see {self.log}")
            time.sleep(0.1)
        last = max(d for _, d in done)
        self.stop_worker()
        return events / (last - wall_started)

    def latency(self, name: str, url: str, rate: float, seconds: float) -> tuple[float, float, int]:
        """p50/p99 milliseconds from acceptance to delivery at a steady rate over HTTP."""
        import requests

        inbound = self.route_to(name, url)
        since = self.newest_delivery_id()
        port = free_port()
        web = start([str(BIN / "gunicorn"), "-w", "1", "--threads", "4", "-b", f"127.0.0.1:{port}",
                     "hub.app:create_app()"], self.env, self.log)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start; see {self.log}") from None
                time.sleep(0.1)
        self.start_worker()
        count = int(rate * seconds)
        session = requests.Session()
        began = time.monotonic()
        for n in range(count):
            time.sleep(max(0.0, began + n / rate - time.monotonic()))
            session.post(f"{base}/hooks/{inbound}", json={"n": n}, timeout=10).raise_for_status()
        while len(done := self.delivered(since)) < count:
            time.sleep(0.1)
        self.stop_worker()
        stop(web)
        latencies = sorted((d - r) * 1000 for r, d in done)
        return statistics.median(latencies), latencies[int(0.99 * (len(latencies) - 1))], count

    def close(self) -> None:
        self.stop_worker()
        self.redis.terminate()
        self.redis.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="deliveries per throughput phase")
    parser.add_argument("--jobs", type=int, default=2000, help="no-op jobs for the bare RQ figure")
    parser.add_argument("--rate", type=float, default=50.0, help="events/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the latency phase")
    parser.add_argument("--concurrency", type=int, default=32, help="HOOKHUB_WORKER_CONCURRENCY")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hookhub-bench-out-"))
    receivers = []
    for delay in (0.0, 0.1):
        port = free_port()
        proc = threading.Thread(target=run_receiver, args=(port, delay), daemon=True)
        proc.start()
        receivers.append(f"http://127.0.0.1:{port}/hook")
    bench = Bench(work, args.concurrency)
    try:
        rq_rate = bench.bare_rq(args.jobs)
        instant = bench.deliveries("instant", receivers[0], args.events)
        slow = bench.deliveries("slow", receivers[1], args.events)
        lat_instant = bench.latency("latency instant", receivers[0], args.rate, args.seconds)
        lat_slow = bench.latency("latency slow", receivers[1], args.rate, args.seconds)
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\noutbound benchmark: {os.cpu_count()} cores, one worker process running {args.concurrency} jobs at "
          f"once, SQLite, redis-server")
    print(f"{'phase':<46} {'per second':>11} {'vs bare RQ':>11}")
    print(f"{'bare RQ no-op jobs (' + str(args.jobs) + ')':<46} {rq_rate:>11.0f} {1.0:>11.2f}")
    print(f"{'deliveries, receiver answers at once (' + str(args.events) + ')':<46} {instant:>11.0f} "
          f"{instant / rq_rate:>11.2f}")
    print(f"{'deliveries, receiver answers after 100 ms':<46} {slow:>11.0f} {slow / rq_rate:>11.2f}")
    print(f"\nlatency from acceptance to delivery at {args.rate:g} events/s over HTTP ({lat_instant[2]} events)")
    print(f"{'receiver':<46} {'p50 ms':>11} {'p99 ms':>11}")
    print(f"{'answers at once':<46} {lat_instant[0]:>11.0f} {lat_instant[1]:>11.0f}")
    print(f"{'answers after 100 ms':<46} {lat_slow[0]:>11.0f} {lat_slow[1]:>11.0f}")


if __name__ == "__main__":
    main()
