"""Lifecycle storm: do ordinary deliveries keep their latency while a storm of failing deliveries
fills the hub with ``delivery.failed`` lifecycle events? Measured in one run on this machine, in
interleaved rounds (ratios travel, absolute figures do not).

    .venv/bin/python bench/lifecycle_storm.py [--failing 1000] [--rounds 3] [--rate 20] [--seconds 15] [--control]

One ``hookhub worker`` process (HOOKHUB_WORKER_CONCURRENCY jobs in threads) against redis-server
and SQLite, gunicorn for the inbound route, and three loopback receivers in a process of their own:
an ordinary target answering 200 at once, a failing target answering 500 at once (its
``retry_schedule`` short, [1, 1, 1] by default, so each of its deliveries fails four times and is
dead after about three seconds: three ``delivery.failed`` reports each), and a lifecycle subscriber
answering after 50 ms. One generic source; a route sends its events of type ``ordinary`` to the
ordinary target, another those of type ``storm`` to the failing target, and a lifecycle route
(``"source": "lifecycle"``) sends ``delivery.failed`` to the subscriber.

Each round runs every arm once, in an order that rotates from round to round. Every arm starts
the worker afresh and, as soon as it is up, posts ordinary events over HTTP at a steady rate for a
fixed time; the figure is their latency from acceptance to delivery (``delivered_at −
received_at``, from the database), p50 and p95. The arms:

- baseline: nothing else happens;
- storm: N events of type ``storm`` were accepted (through the in-process app) while the worker
  was down, so all of them wait in the outbox when it starts — accepted at once, as far as the
  worker can tell, whatever accepting them cost: N deliveries fail, are retried, die, and report
  each failed attempt to the subscriber;
- storm, no subscriber (with ``--control``): the same storm with the lifecycle route inactive,
  which tells the cost of the failures themselves from that of their reports.

An arm ends when everything it started is settled: every ordinary event delivered, every failing
delivery dead, every lifecycle delivery made. The figures are the medians over the rounds, and the
ratio of the storm's to the baseline's.

A storm arm takes about a minute to settle on two cores, so the default run (three rounds, no
control arm) takes about four minutes, and about seven with ``--control``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import Hub, percentile, receiver_process, stop

TOKEN = "bench-lifecycle-token-0123456789"
API = "/api/v1"
BASELINE, STORM, CONTROL = "baseline", "storm", "storm, no subscriber"
SAMPLE_EVERY = 0.1       # seconds between looks at the queues


@dataclass
class Arm:
    """What one arm of one round measured."""

    name: str
    posted: int = 0
    p50: float = 0.0                       # ms, ordinary events, acceptance to delivery
    p95: float = 0.0
    worst: float = 0.0
    routing_p95: float = 0.0               # ms, the part of it from acceptance to routing (outbox, ingest)
    accept_seconds: float = 0.0            # how long accepting the storm took
    storm_seconds: float = 0.0             # the worker up (first ordinary event) → last failing attempt
    dead: int = 0                          # failing deliveries that ended dead
    failing_attempts: int = 0
    lifecycle_events: int = 0
    lifecycle_deliveries: int = 0          # delivered to the subscriber
    lifecycle_lag_p50: float = 0.0         # s, lifecycle event recorded → delivered to the subscriber
    lifecycle_lag_max: float = 0.0
    lifecycle_tail: float = 0.0            # s, last failing attempt → last lifecycle delivery
    worker_cpu: float = 0.0                # CPU seconds the worker used during the arm
    peak: dict[str, int] = field(default_factory=dict)   # most jobs waiting in each queue at once
    settled: bool = True


class QueueWatch:
    """Samples how many jobs wait in each queue (and are scheduled), every SAMPLE_EVERY seconds."""

    def __init__(self, hub: Hub) -> None:
        from rq import Queue
        from rq.registry import ScheduledJobRegistry

        from hub.storage.queue import QUEUE_NAMES

        client = hub.redis_client()
        self.queues = {name: Queue(name, connection=client) for name in QUEUE_NAMES}
        self.scheduled = [ScheduledJobRegistry(queue=q) for q in self.queues.values()]
        self.peak: dict[str, int] = dict.fromkeys([*self.queues, "scheduled"], 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> QueueWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            for name, queue in self.queues.items():
                self.peak[name] = max(self.peak[name], queue.count)
            self.peak["scheduled"] = max(self.peak["scheduled"], sum(r.count for r in self.scheduled))


class StormBench(Hub):
    def __init__(self, work: Path, concurrency: int) -> None:
        super().__init__(work, concurrency, TOKEN)

    def _post(self, path: str, body: dict) -> dict:
        r = self.client.post(f"{API}/{path}", headers=self.auth, json=body)
        assert r.status_code == 201, r.json
        return r.json

    def set_up(self, ordinary_url: str, failing_url: str, subscriber_url: str, schedule: list[float]) -> None:
        source = self._post("connections", {"name": "storm source", "provider": "generic",
                                            "provider_config": {"dedupe_window": 0}})
        self.inbound = source["inbound_url"].split("/hooks/", 1)[1]

        def target(name: str, url: str, **config: object) -> str:
            return self._post("connections", {"name": name, "channel": "webhook",
                                              "channel_config": {"url": url, **config}})["id"]

        self.ordinary = target("ordinary target", ordinary_url)
        self.failing = target("failing target", failing_url, retry_schedule=schedule)
        self.subscriber = target("lifecycle subscriber", subscriber_url)
        self._post("routes", {"name": "ordinary", "source": source["id"], "event_types": ["ordinary"],
                              "targets": [{"connection": self.ordinary}]})
        self._post("routes", {"name": "storm", "source": source["id"], "event_types": ["storm"],
                              "targets": [{"connection": self.failing}]})
        self.lifecycle_route = self._post("routes", {
            "name": "failure reports", "source": "lifecycle", "event_types": ["delivery.failed"],
            "targets": [{"connection": self.subscriber}]})["id"]

    def close(self) -> None:
        # The in-process app's connection cache listener would report Redis going away, mid-table.
        logging.getLogger("hub.inbound.cache").setLevel(logging.ERROR)
        super().close()

    def stop_worker(self) -> None:
        """Stop the worker and its RQ scheduler process, and free any scheduler lock it left: the next
        worker's scheduler must move the retries at once, not after the lock expires (a minute)."""
        group = self.worker.pid if self.worker is not None else None
        super().stop_worker()
        deadline = time.monotonic() + 20
        while group is not None and time.monotonic() < deadline:
            try:
                os.killpg(group, 0)                # the scheduler, a child of the worker, may linger
            except ProcessLookupError:
                break
            time.sleep(0.05)
        client = self.redis_client()
        client.delete(*client.keys("rq:scheduler-lock:*") or ["-"])

    def worker_cpu(self) -> float:
        """CPU seconds the worker process has used so far (every thread; Linux's /proc)."""
        assert self.worker is not None
        fields = Path(f"/proc/{self.worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def subscribe(self, active: bool) -> None:
        r = self.client.patch(f"{API}/routes/{self.lifecycle_route}", headers=self.auth, json={"active": active})
        assert r.status_code == 200 and r.json["active"] is active, r.json

    def accept_storm(self, count: int) -> float:
        began = time.monotonic()
        for n in range(count):
            r = self.client.post(f"/hooks/{self.inbound}", json={"type": "storm", "n": n})
            assert r.status_code == 200 and r.json["status"] == "accepted", r.json
        return time.monotonic() - began

    def busy(self) -> int:
        """Events not routed yet and deliveries not finished yet, hub-wide."""
        import sqlalchemy as sa

        from hub.storage.models import Delivery, Event

        with self.session() as s:
            events = s.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.status == "accepted"))
            deliveries = s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.status.in_(("queued", "sending", "pending_approval"))))
        return events + deliveries

    def run_arm(self, name: str, base: str, rate: float, seconds: float, failing: int, timeout: float) -> Arm:
        import requests

        self.subscribe(name != CONTROL)
        since = self.newest_delivery_id()
        arm = Arm(name, posted=int(rate * seconds))
        failures: list[BaseException] = []

        def post_steadily() -> None:
            session = requests.Session()
            began = time.monotonic()
            try:
                for n in range(arm.posted):
                    time.sleep(max(0.0, began + n / rate - time.monotonic()))
                    session.post(f"{base}/hooks/{self.inbound}", json={"type": "ordinary", "n": n},
                                 timeout=30).raise_for_status()
            except BaseException as exc:
                failures.append(exc)

        # The storm is accepted while the worker is down, so that all of it waits in the outbox when the
        # worker starts, however long accepting it took; every arm restarts the worker alike.
        self.stop_worker()
        if name != BASELINE:
            arm.accept_seconds = self.accept_storm(failing)
        self.start_worker()
        cpu = self.worker_cpu()
        with QueueWatch(self) as watch:
            poster = threading.Thread(target=post_steadily)
            poster.start()
            poster.join()
            if failures:
                raise SystemExit(f"posting ordinary events failed: {failures[0]!r}")
            deadline = time.monotonic() + timeout
            while len(self.delivered(since, self.ordinary)) < arm.posted or self.busy():
                if time.monotonic() > deadline:
                    arm.settled = False
                    break
                time.sleep(0.2)
        arm.worker_cpu = self.worker_cpu() - cpu
        arm.peak = dict(watch.peak)
        latencies = sorted((d - r) * 1000 for r, d in self.delivered(since, self.ordinary))
        arm.routing_p95 = self._routing_p95(since)
        if latencies:
            arm.p50, arm.p95, arm.worst = (statistics.median(latencies), percentile(latencies, 0.95),
                                           latencies[-1])
        if name != BASELINE:
            self._storm_figures(arm, since)
        return arm

    def _routing_p95(self, since: str) -> float:
        """p95 milliseconds from acceptance to routing of the ordinary events (the hand-off pump and
        the ``ingest`` queue): what is left of the latency is the ``deliver`` queue and the send."""
        import sqlalchemy as sa

        from hub.storage.models import Delivery, Event

        with self.session() as s:
            rows = s.execute(sa.select(Event.received_at, Event.routed_at).join(
                Delivery, Delivery.event_id == Event.id).where(
                Delivery.connection_id == self.ordinary, Delivery.id > since)).all()
        waits = sorted((r.routed_at - r.received_at).total_seconds() * 1000 for r in rows if r.routed_at)
        return percentile(waits, 0.95) if waits else 0.0

    def _storm_figures(self, arm: Arm, since: str) -> None:
        import sqlalchemy as sa

        from hub.storage.models import Delivery, DeliveryAttempt, Event

        with self.session() as s:
            storm = sa.select(Delivery.id).where(Delivery.connection_id == self.failing, Delivery.id > since)
            first = s.scalar(sa.select(sa.func.min(Event.received_at)).join(Delivery, Delivery.event_id == Event.id)
                             .where(Delivery.connection_id == self.ordinary, Delivery.id > since))   # the worker up
            last_attempt = s.scalar(sa.select(sa.func.max(DeliveryAttempt.at)).where(
                DeliveryAttempt.delivery_id.in_(storm)))
            arm.failing_attempts = s.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt).where(
                DeliveryAttempt.delivery_id.in_(storm))) or 0
            arm.dead = s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.id.in_(storm), Delivery.status == "dead")) or 0
            if first is not None:
                arm.lifecycle_events = s.scalar(sa.select(sa.func.count()).select_from(Event).where(
                    Event.provider == "lifecycle", Event.received_at >= first)) or 0
            reports = s.execute(sa.select(Event.received_at, Delivery.delivered_at).join(
                Event, Event.id == Delivery.event_id).where(
                Delivery.connection_id == self.subscriber, Delivery.id > since,
                Delivery.status == "delivered")).all()
        if first and last_attempt:
            arm.storm_seconds = (last_attempt - first).total_seconds()
        arm.lifecycle_deliveries = len(reports)
        if reports:
            lags = sorted((r.delivered_at - r.received_at).total_seconds() for r in reports)
            arm.lifecycle_lag_p50, arm.lifecycle_lag_max = statistics.median(lags), lags[-1]
            if last_attempt:
                arm.lifecycle_tail = (max(r.delivered_at for r in reports) - last_attempt).total_seconds()


def warm_up(bench: StormBench, base: str) -> None:
    """A few ordinary events through every stage, so no arm pays for first imports and connections."""
    import requests

    since = bench.newest_delivery_id()
    for n in range(20):
        requests.post(f"{base}/hooks/{bench.inbound}", json={"type": "ordinary", "n": n}, timeout=30).raise_for_status()
    deadline = time.monotonic() + 60
    while len(bench.delivered(since, bench.ordinary)) < 20:
        if time.monotonic() > deadline:
            raise SystemExit(f"the warm-up events were not delivered; see {bench.log}")
        time.sleep(0.1)


def watched_queues() -> list[str]:
    """The queues whose peaks are printed: every queue but ``maintenance``, then the scheduled retries."""
    from hub.storage.queue import QUEUE_NAMES

    return [name for name in QUEUE_NAMES if name != "maintenance"] + ["scheduled"]


def header() -> str:
    return (f"{'round':>5} {'arm':<21} {'posts':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'route':>6} "
            f"{'cpu s':>6} {'accept':>7} {'storm s':>7} {'dead':>5} {'lc evt':>6} {'lc dlv':>6} {'lag p50':>7} "
            f"{'lag max':>7} {'tail':>6} " + " ".join(f"{name[:5]:>5}" for name in watched_queues()))


def print_arm(round_no: int, arm: Arm) -> None:
    storm = (f"{arm.accept_seconds:>7.1f} {arm.storm_seconds:>7.1f} {arm.dead:>5} {arm.lifecycle_events:>6} "
             f"{arm.lifecycle_deliveries:>6} {arm.lifecycle_lag_p50:>7.1f} {arm.lifecycle_lag_max:>7.1f} "
             f"{arm.lifecycle_tail:>6.1f}"
             if arm.name != BASELINE else f"{'':>7} {'':>7} {'':>5} {'':>6} {'':>6} {'':>7} {'':>7} {'':>6}")
    peaks = " ".join(f"{arm.peak.get(name, 0):>5}" for name in watched_queues())
    flag = "" if arm.settled else "  (not settled before --timeout)"
    print(f"{round_no:>5} {arm.name:<21} {arm.posted:>5} {arm.p50:>7.0f} {arm.p95:>7.0f} {arm.worst:>7.0f} "
          f"{arm.routing_p95:>6.0f} {arm.worker_cpu:>6.1f} {storm} {peaks}{flag}", flush=True)


LEGEND = """
  p50/p95/max ms   ordinary events, acceptance (received_at) to delivery (delivered_at)
  route            p95 ms of the ordinary events from acceptance to routing (hand-off pump, ingest queue)
  cpu s            CPU seconds the worker process used during the arm (all its threads)
  accept           seconds it took to accept the storm's events (the worker down)
  storm s          the flow's first ordinary event (the worker just up) → last attempt of a failing delivery
  dead             failing deliveries that ended dead (all of them, when the arm settled)
  lc evt           delivery.failed lifecycle events recorded
  lc dlv           lifecycle deliveries made to the subscriber (delivery.failed reports)
  lag p50/max      seconds from a delivery.failed event being recorded to its delivery to the subscriber
  tail             seconds from the last failing attempt to the last lifecycle delivery (negative: the
                   reports had caught up before the storm ended)
  ingest, deliv…   most jobs waiting at once in each queue (sampled every 0.1 s)
  sched            most jobs scheduled at once (the retries waiting for their time)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--failing", type=int, default=1000, help="storm events (each a failing delivery)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs every arm once")
    parser.add_argument("--rate", type=float, default=20.0, help="ordinary events/s")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long ordinary events are posted per arm")
    parser.add_argument("--retry-schedule", default="1,1,1", help="the failing target's retry_schedule, seconds")
    parser.add_argument("--subscriber-delay", type=float, default=0.05, help="seconds the subscriber takes to answer")
    parser.add_argument("--concurrency", type=int, default=32, help="HOOKHUB_WORKER_CONCURRENCY")
    parser.add_argument("--timeout", type=float, default=120.0, help="most seconds an arm may take to settle")
    parser.add_argument("--control", action="store_true", help="also run the storm without a subscriber")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # stop the child processes on the way out
    schedule = [float(s) for s in args.retry_schedule.split(",") if s.strip()]
    arms = [BASELINE, STORM] + ([CONTROL] if args.control else [])

    work = Path(tempfile.mkdtemp(prefix="hookhub-bench-storm-"))
    receivers, (ordinary_url, failing_url, subscriber_url) = receiver_process(
        [(0.0, 200), (0.0, 500), (args.subscriber_delay, 200)])
    bench = StormBench(work, args.concurrency)
    web = None
    results: list[tuple[int, Arm]] = []
    began = time.monotonic()
    try:
        bench.set_up(ordinary_url, failing_url, subscriber_url, schedule)
        web, base = bench.start_web()
        bench.start_worker()
        warm_up(bench, base)
        print(f"\nlifecycle storm benchmark: {os.cpu_count()} cores, one worker process running {args.concurrency} "
              f"jobs at once, SQLite, redis-server; ordinary events at {args.rate:g}/s for {args.seconds:g} s per "
              f"arm; storms of {args.failing} failing deliveries (retry_schedule {schedule}), a subscriber to "
              f"delivery.failed answering after {args.subscriber_delay * 1000:g} ms")
        print(header())
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(arms)
            for name in arms[shift:] + arms[:shift]:
                arm = bench.run_arm(name, base, args.rate, args.seconds, args.failing, args.timeout)
                results.append((round_no, arm))
                print_arm(round_no, arm)
    except BaseException:
        print("".join(bench.log.read_text(errors="replace").splitlines(keepends=True)[-40:])
              if bench.log.exists() else "(no process log)")
        raise
    finally:
        if web is not None:
            stop(web)
        bench.close()
        stop(receivers)
        shutil.rmtree(work, ignore_errors=True)
    print(LEGEND)

    def median(name: str, figure: str) -> float:
        """The median over the rounds of an Arm attribute, or of a queue's peak (``peak.deliver``)."""
        def value(arm: Arm) -> float:
            return arm.peak.get(figure[5:], 0) if figure.startswith("peak.") else getattr(arm, figure)

        return statistics.median(value(arm) for _, arm in results if arm.name == name)

    print(f"\nmedians over {args.rounds} round(s)  ({time.monotonic() - began:.0f} s in all)")
    print(f"{'arm':<21} {'p50 ms':>7} {'p95 ms':>7} {'p50 ×':>6} {'p95 ×':>6} {'route':>6} {'cpu s':>6} {'storm s':>7} "
          f"{'lc dlv':>6} {'lag p50':>7} {'lag max':>7} {'tail':>6} {'deliv':>5} {'lifec':>5}")
    base50, base95 = median(BASELINE, "p50"), median(BASELINE, "p95")
    for name in arms:
        p50, p95 = median(name, "p50"), median(name, "p95")
        extra = "" if name == BASELINE else (
            f"{median(name, 'storm_seconds'):>7.1f} {median(name, 'lifecycle_deliveries'):>6.0f} "
            f"{median(name, 'lifecycle_lag_p50'):>7.1f} {median(name, 'lifecycle_lag_max'):>7.1f} "
            f"{median(name, 'lifecycle_tail'):>6.1f} {median(name, 'peak.deliver'):>5.0f} "
            f"{median(name, 'peak.lifecycle'):>5.0f}")
        print(f"{name:<21} {p50:>7.0f} {p95:>7.0f} {p50 / base50:>6.2f} {p95 / base95:>6.2f} "
              f"{median(name, 'routing_p95'):>6.0f} {median(name, 'worker_cpu'):>6.1f} {extra}")
    if not all(arm.settled for _, arm in results):
        print("\nsome arms did not settle before --timeout: their figures are incomplete")


if __name__ == "__main__":
    main()
