"""Outbound throughput: accepted events → delivered at a local receiver, next to bare RQ no-op jobs
on the same worker setup, measured in one run on this machine (ratios travel, absolute figures do
not).

    .venv/bin/python bench/outbound.py [--rounds 3] [--events 1000] [--jobs 2000] [--rate 50] [--seconds 8]

Every phase runs one ``hookhub worker`` process (RQ SimpleWorker, HOOKHUB_WORKER_CONCURRENCY
jobs in threads) against redis-server and SQLite, on a quiet machine (each phase waits for the
last one's leftovers to end). The three throughput phases run in rounds, one after the other; the
summary gives the median of each figure and the median of the per-round ratios (the machine is
noisy, and a ratio is only meaningful between phases of one round):

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
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from common import Hub, free_port, run_receiver, settle, stop

TOKEN = "bench-outbound-token-0123456789"


class Bench(Hub):
    def __init__(self, work: Path, concurrency: int) -> None:
        super().__init__(work, concurrency, TOKEN)

    # --------------------------------------------------------------------- helpers

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

    # --------------------------------------------------------------------- phases

    def bare_rq(self, jobs: int) -> float:
        from rq.registry import StartedJobRegistry

        from hub.storage.queue import get_queue

        queue = get_queue("deliver", self.app)
        queue.enqueue_many([queue.prepare_data("os.getpid", result_ttl=0) for _ in range(jobs)])
        settle()
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
        settle()
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
        web, base = self.start_web()
        settle()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three throughput phases")
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
    rounds: list[tuple[float, float, float]] = []
    try:
        for n in range(args.rounds):
            rq = bench.bare_rq(args.jobs)
            instant = bench.deliveries(f"instant {n}", receivers[0], args.events)
            slow = bench.deliveries(f"slow {n}", receivers[1], args.events)
            rounds.append((rq, instant, slow))
            print(f"round {n + 1}: bare RQ {rq:.0f} jobs/s, deliveries {instant:.0f}/s (instant receiver), "
                  f"{slow:.0f}/s (100 ms receiver)", flush=True)
        lat_instant = bench.latency("latency instant", receivers[0], args.rate, args.seconds)
        lat_slow = bench.latency("latency slow", receivers[1], args.rate, args.seconds)
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)

    def median(values) -> float:
        return statistics.median(list(values))

    print(f"\noutbound benchmark: {os.cpu_count()} cores, one worker process running {args.concurrency} jobs at "
          f"once, SQLite, redis-server; {args.rounds} rounds, medians")
    print(f"{'phase':<46} {'per second':>11} {'vs bare RQ':>11}")
    print(f"{'bare RQ no-op jobs (' + str(args.jobs) + ')':<46} {median(r[0] for r in rounds):>11.0f} {1.0:>11.2f}")
    print(f"{'deliveries, receiver answers at once (' + str(args.events) + ')':<46} "
          f"{median(r[1] for r in rounds):>11.0f} {median(r[1] / r[0] for r in rounds):>11.2f}")
    print(f"{'deliveries, receiver answers after 100 ms':<46} {median(r[2] for r in rounds):>11.0f} "
          f"{median(r[2] / r[0] for r in rounds):>11.2f}")
    print(f"\nlatency from acceptance to delivery at {args.rate:g} events/s over HTTP ({lat_instant[2]} events)")
    print(f"{'receiver':<46} {'p50 ms':>11} {'p99 ms':>11}")
    print(f"{'answers at once':<46} {lat_instant[0]:>11.0f} {lat_instant[1]:>11.0f}")
    print(f"{'answers after 100 ms':<46} {lat_slow[0]:>11.0f} {lat_slow[1]:>11.0f}")


if __name__ == "__main__":
    main()
