"""Two gunicorn web nodes and two `hookhub worker` processes around one PostgreSQL database and one
redis-server, as production runs them. Senders post to both nodes (some events to both at once, and a
burst to a rate-limited connection) while one worker is SIGKILLed, Redis is restarted and one web
node is stopped. Afterwards: every acknowledged event is stored once, routed once and delivered,
each under one webhook-id; no delivery is left queued or sending; dedupe and the rate limit held
across the nodes."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from hub.testing import Captured, Receiver, Reply
from tests.cluster.nodes import Answer, Cluster, Senders, wait_until
from tests.conftest import fresh_postgres_database
from tests.e2e.processes import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
TOKEN = "cluster-admin-token"
METERED_LIMIT = "25/hour"            # one window for the whole test: the count of 429s is exact
METERED_POSTS = 60
PAIR_EVERY = 5                       # every 5th event is posted to both nodes at the same moment
FLAKY_EVERY = 7                      # every 7th event's first delivery attempt is answered 503


class FlakyReceiver:
    """Answers 204 after a short delay (sends are in flight when the worker dies), and 503 to the
    first attempt of a flaky event, so retries go through RQ's scheduler too."""

    def __init__(self) -> None:
        self.failed: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, got: Captured) -> Reply:
        if got.json()["payload"].get("flaky"):
            with self.lock:
                first = got.headers.get("webhook-id") not in self.failed
                self.failed.add(got.headers.get("webhook-id"))
            if first:
                return Reply(503)
        return Reply(204, delay=0.1)


def test_two_web_nodes_and_two_workers_lose_nothing_through_a_kill_a_redis_restart_and_a_node_stop(
        tmp_path, postgres_url):
    started = time.monotonic()
    database_url = fresh_postgres_database(postgres_url)
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    receiver = Receiver(default=FlakyReceiver()).start()
    cluster = Cluster(tmp_path, database_url, redis_server, Fernet.generate_key().decode(),
                      HOOKHUB_BOOTSTRAP_TOKEN=TOKEN, HOOKHUB_SWEEP_INTERVAL="1", HOOKHUB_LOG_LEVEL="INFO",
                      HOOKHUB_ALLOW_PRIVATE_NETWORKS="127.0.0.0/8", HOOKHUB_RETRY_SCHEDULE="1,1,1,1,1,1",
                      HOOKHUB_WORKER_CONCURRENCY="8", HOOKHUB_DATABASE_CONNECTIONS="12")
    stop_streams = threading.Event()
    streams: list[threading.Thread] = []
    try:
        cluster.hookhub("db", "upgrade")
        web = {"a": cluster.start_web("web-a"), "b": cluster.start_web("web-b")}
        worker_1, worker_2 = cluster.start_worker("worker-1"), cluster.start_worker("worker-2")
        for node in web.values():
            wait_until(node.ready, f"{node.process.name} to be ready")
        wait_until(lambda: len(cluster.alive_workers()) == 2, "both workers to heartbeat")
        print(f"\ncluster up in {time.monotonic() - started:.1f} s")

        # Set up through node a; node b reads the same database.
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {TOKEN}"
        base = web["a"].base + "/api/v1"

        def create(kind: str, **body) -> dict:
            r = api.post(f"{base}/{kind}", json=body, timeout=10)
            assert r.status_code == 201, r.text
            return r.json()

        orders = create("connections", name="orders", provider="generic")
        metered = create("connections", name="metered", provider="generic",
                         provider_config={"rate_limit": METERED_LIMIT})
        sink = create("connections", name="sink", channel="webhook", channel_config={"url": receiver.url + "/hook"})
        for source in (orders, metered):
            create("routes", name=f"{source['name']} to sink", source=source["id"],
                   targets=[{"connection": sink["id"]}])
        senders = Senders.for_url(web, orders["inbound_url"])
        burst = Senders.for_url(web, metered["inbound_url"])

        # A sender per node, until the test has done its damage.
        for i, home in enumerate(["a", "b"]):
            streams.append(senders.stream(f"s{i}", home, stop_streams, limit=1500, pair_every=PAIR_EVERY,
                                          payload=lambda n: {"n": n, "flaky": n % FLAKY_EVERY == 0}))

        def answered(more: int, what: str, timeout: float = 60.0) -> None:
            target = senders.count() + more
            wait_until(lambda: senders.count() >= target, f"{more} more answers {what}", timeout)

        # 1. A worker dies mid-stream (SIGKILL: no goodbye); the other one carries on alone.
        answered(150, "before the kill")
        worker_1.kill()
        print(f"worker-1 killed at {time.monotonic() - started:.1f} s")

        # 2. Redis restarts while events keep arriving: accepted without it, handed off after it.
        answered(50, "after the kill")
        redis_server.stop()
        for node in web.values():
            wait_until(lambda node=node: not node.ready(), f"{node.process.name} to report Redis unavailable")
        answered(30, "while Redis is away")
        redis_server.start()
        for node in web.values():
            wait_until(node.ready, f"{node.process.name} to be ready again after the Redis restart")
        wait_until(lambda: cluster.alive_workers(), "the surviving worker to heartbeat into the new Redis")
        answered(100, "after the Redis restart")
        print(f"Redis restarted; stream going on at {time.monotonic() - started:.1f} s")

        # 3. A burst at the rate-limited connection, half through each node, at once.
        def post_burst(home: str, numbers: range) -> None:
            session = requests.Session()
            for k in numbers:
                burst.post(f"m{k}", {"event_id": f"m{k}", "n": k}, home, session)

        halves = [threading.Thread(target=post_burst, args=(home, range(i, METERED_POSTS, 2)))
                  for i, home in enumerate(["a", "b"])]
        for thread in halves:
            thread.start()
        for thread in halves:
            thread.join(60)

        # 4. Node b stops (gracefully) with requests in flight; its senders fail over to node a.
        answered(100, "before node b stops")
        assert web["b"].process.stop() == 0, web["b"].process.log()[-2000:]
        answered(100, "after node b stopped")
        stop_streams.set()
        for thread in streams:
            thread.join(60)
        print(f"streams stopped at {time.monotonic() - started:.1f} s: {senders.count()} events, "
              f"{burst.count()} to the metered connection")

        # The dead worker's heartbeat has expired: the survivor's is the only one (a state, polled).
        wait_until(lambda: len(cluster.alive_workers()) == 1, "the killed worker's heartbeat to expire")
        check_answers(senders.answers, burst.answers)
        accepted = {a.body["id"]: a.event_id for a in senders.answers + burst.answers if a.outcome == "accepted"}
        check_storage_and_delivery(database_url, accepted, receiver)
        print(f"sweeper recoveries logged by worker-2: {worker_2.log().count('sweeper re-enqueued')}; "
              f"whole test {time.monotonic() - started:.1f} s")
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        stop_streams.set()
        for thread in streams:
            thread.join(30)
        cluster.stop()
        if redis_server.proc.poll() is None:
            redis_server.stop()
        receiver.stop()


def check_answers(stream: list[Answer], burst: list[Answer]) -> None:
    """Every event got a final answer; each event_id was accepted once across the nodes, and the
    rate limit counted the metered burst across both nodes."""
    outcomes = Counter(a.outcome for a in stream)
    slowest = max(a.seconds for a in stream)
    print(f"stream outcomes {dict(outcomes)}; slowest answer {slowest:.1f} s; "
          f"fail-overs {sum(len(a.nodes) > 1 for a in stream)}")
    assert set(outcomes) <= {"accepted", "duplicate"}, outcomes
    by_event: dict[str, list[Answer]] = defaultdict(list)
    for answer in stream:
        by_event[answer.event_id].append(answer)
    for event_id, answers in by_event.items():
        kinds = Counter(a.outcome for a in answers)
        assert len({a.body["id"] for a in answers}) == 1, f"{event_id} got two hub ids: {answers}"
        if any(a.pair for a in answers):
            # Posted to both nodes at once: one insert wins the unique index, the other is a duplicate
            # naming the winner (a fail-over after an ambiguous try may turn the accepted into a duplicate).
            assert kinds["accepted"] <= 1 and kinds["duplicate"] >= 1, f"{event_id}: {answers}"
            assert kinds["accepted"] == 1 or any(a.ambiguous for a in answers), f"{event_id}: {answers}"
        else:
            assert kinds == {"accepted": 1} or (kinds == {"duplicate": 1} and answers[0].ambiguous), answers
    pairs = sum(1 for answers in by_event.values() if answers[0].pair)
    unconfirmed = sum(1 for answers in by_event.values() if all(a.outcome == "duplicate" for a in answers))
    print(f"{len(by_event)} event ids, {pairs} posted to both nodes at once, {unconfirmed} accepted by a try "
          f"whose answer was lost")
    assert pairs and outcomes["accepted"] == len(by_event) - unconfirmed
    assert outcomes["duplicate"] == len(stream) - outcomes["accepted"] >= pairs

    limit = int(METERED_LIMIT.split("/")[0])
    metered = Counter(a.outcome for a in burst)
    print(f"metered burst: {dict(metered)}")
    assert metered == {"accepted": limit, "rate_limited": METERED_POSTS - limit}, metered
    assert all(a.status == 429 and int(a.headers["Retry-After"]) > 0 for a in burst if a.outcome == "rate_limited")


def check_storage_and_delivery(database_url: str, accepted: dict[str, str], receiver: Receiver) -> None:
    """In the database: exactly the accepted events, each routed once into one delivery, all delivered
    (waited for); at the receiver: every event, each under the one webhook-id of its delivery."""
    engine = sa.create_engine(database_url)
    try:
        def settled():
            with engine.connect() as c:
                events = c.execute(sa.text("SELECT id, event_id, status FROM events")).all()
                deliveries = c.execute(sa.text("SELECT event_id, webhook_id, status FROM deliveries")).all()
            done = all(e.status == "routed" for e in events) and len(deliveries) >= len(events) and all(
                d.status == "delivered" for d in deliveries)
            return (events, deliveries) if done else None

        try:
            events, deliveries = wait_until(settled, "every event routed and every delivery delivered", 120)
        except AssertionError:
            with engine.connect() as c:
                statuses = c.execute(sa.text("SELECT status, count(*) FROM deliveries GROUP BY status")).all()
                stuck = c.execute(sa.text("SELECT id, status, job_id, attempt_count, last_error FROM deliveries "
                                          "WHERE status <> 'delivered' LIMIT 5")).all()
            raise AssertionError(f"not settled: deliveries {statuses}, e.g. {stuck}") from None
        with engine.connect() as c:
            slowest = c.execute(sa.text(
                "SELECT d.id, d.job_id, d.attempt_count, e.received_at, d.delivered_at, "
                "d.delivered_at - e.received_at AS took FROM deliveries d JOIN events e ON e.id = d.event_id "
                "ORDER BY took DESC LIMIT 5")).all()
        print("slowest deliveries: " + "; ".join(f"{r.id} job {r.job_id} attempts {r.attempt_count} received "
                                                 f"{r.received_at:%H:%M:%S.%f} took {r.took}" for r in slowest))
    finally:
        engine.dispose()

    assert {e.id: e.event_id for e in events} == accepted, "every 200 'accepted' is exactly one stored event"
    per_event = Counter(d.event_id for d in deliveries)
    assert set(per_event) == set(accepted) and set(per_event.values()) == {1}, \
        f"routed more than once: {[e for e, n in per_event.items() if n > 1][:5]}"
    webhook_ids: dict[str, set[str]] = defaultdict(set)
    for got in receiver:
        webhook_ids[got.json()["id"]].add(got.headers.get("webhook-id"))
    assert set(webhook_ids) == set(accepted), "every acknowledged event reached the receiver"
    two = {e: ids for e, ids in webhook_ids.items() if len(ids) > 1}
    assert not two, f"events delivered under two different webhook-ids: {list(two.items())[:3]}"
    assert {e: ids.pop() for e, ids in webhook_ids.items()} == {d.event_id: d.webhook_id for d in deliveries}
    flaky = {got.headers.get("webhook-id") for got in receiver if got.json()["payload"].get("flaky")}
    again = len(receiver) - len(accepted) - len(flaky)       # each flaky event is refused once, then retried
    print(f"{len(accepted)} events delivered in {len(receiver)} sends: {len(flaky)} retries after a 503, "
          f"{again} re-sends under the same webhook-id (sends cut short by the kill or the restart)")
