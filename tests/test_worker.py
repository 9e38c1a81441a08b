"""Routing jobs on a real RQ worker, the hub_event_received hook, job logging, and the sweeper."""

import logging
from collections import Counter

import pytest
import sqlalchemy as sa
from rq import Queue
from rq.job import Job

from hub.inbound.handoff import drain
from hub.plugin import hookimpl
from hub.runtime.plugin_host import get_host
from hub.storage.db import get_database
from hub.storage.models import Event
from hub.testing import run_jobs
from hub.worker.runner import HubScheduler, JobIdFilter
from hub.worker.sweeper import ALIVE_KEY, sweep


class Observer:
    def __init__(self):
        self.seen = []

    @hookimpl
    def hub_event_received(self, event):
        logging.getLogger("hub.test").info("observed %s", event.id)
        self.seen.append((event.id, event.envelope["event_id"]))


@pytest.fixture
def observer(app):
    obs = Observer()
    get_host(app).register(obs, "test-observer")
    return obs


@pytest.fixture
def inbound_url(api):
    created = api.post("/connections", json={"name": "src", "provider": "generic"}).json
    return created["inbound_url"].replace("http://hub.test", "")


def status_of(app, event_id):
    with get_database(app).session() as s:
        return s.get(Event, event_id).status


def test_worker_routes_events_and_calls_the_hook_once(app, client, inbound_url, observer):
    ids = [client.post(inbound_url, json={"event_id": f"e{i}"}).json["id"] for i in range(3)]
    assert all(status_of(app, i) == "accepted" for i in ids)
    run_jobs(app)
    assert all(status_of(app, i) == "routed" for i in ids)
    assert sorted(observer.seen) == sorted((i, f"e{n}") for n, i in enumerate(ids))


def test_route_job_is_idempotent(app, client, inbound_url, observer, redis_client):
    event_id = client.post(inbound_url, json={"event_id": "once"}).json["id"]
    run_jobs(app)
    from hub.delivery.routing import enqueue_routing, new_route_job_id

    enqueue_routing([event_id], new_route_job_id(), app)   # a second job for the same event, as a sweeper might make
    run_jobs(app)
    assert [seen[0] for seen in observer.seen] == [event_id]


def test_job_logs_carry_the_job_id(app, client, inbound_url, observer, caplog):
    event_id = client.post(inbound_url, json={"event_id": "logme"}).json["id"]
    handler_filter = JobIdFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.INFO, logger="hub.test"):
        run_jobs(app)
    records = [r for r in caplog.records if r.name == "hub.test"]
    assert records and records[0].job_id == route_job_of(app, event_id)


def test_sweeper_enqueues_an_event_that_never_reached_the_queue(app, client, inbound_url, observer,
                                                                redis_client):
    event_id = client.post(inbound_url, json={"event_id": "lost"}).json["id"]
    drain(app)                                                 # a pump claimed it and enqueued the job …
    Queue("ingest", connection=redis_client).empty()           # … which Redis then lost
    assert not Job.exists(route_job_of(app, event_id), connection=redis_client)
    _age_events(app)
    assert sweep(app, force=True)["events_requeued"] == 1
    run_jobs(app)
    assert status_of(app, event_id) == "routed"
    assert sweep(app, force=True)["events_requeued"] == 0       # nothing left to do


def test_sweeper_recovers_a_job_held_by_a_dead_worker(app, client, inbound_url, observer, redis_client):
    event_id = client.post(inbound_url, json={"event_id": "orphan"}).json["id"]
    drain(app)
    queue = Queue("ingest", connection=redis_client)
    job = Job.fetch(route_job_of(app, event_id), connection=redis_client)
    queue.remove(job)
    job.set_status("started")                                   # a worker took it …
    job.worker_name = "ghost"
    job.save()
    _age_events(app)
    redis_client.set(ALIVE_KEY.format("ghost"), "1")
    assert sweep(app, force=True)["events_requeued"] == 0        # … and is alive: leave it
    redis_client.delete(ALIVE_KEY.format("ghost"))               # … and died (SIGKILL)
    assert sweep(app, force=True)["events_requeued"] == 1
    run_jobs(app)
    assert status_of(app, event_id) == "routed"


def test_sweeper_runs_one_at_a_time(app, client, inbound_url, redis_client):
    client.post(inbound_url, json={"event_id": "a"})
    drain(app)
    queue = Queue("ingest", connection=redis_client)
    queue.empty()
    _age_events(app)
    assert sweep(app)["events_requeued"] == 1
    queue.empty()
    assert sweep(app)["events_requeued"] == 0      # another sweep holds the lock: this one does nothing
    assert sweep(app, force=True)["events_requeued"] == 1


def route_job_of(app, event_id):
    with get_database(app).session() as s:
        return s.get(Event, event_id).route_job


def _age_events(app):
    import sqlalchemy as sa

    from hub.core.times import utcnow

    with get_database(app).session() as s:
        s.execute(sa.update(Event).values(received_at=utcnow().replace(year=2020),
                                          enqueued_at=utcnow().replace(year=2020)))


def test_sweeper_recovers_a_job_marked_queued_that_is_in_no_queue(app, client, inbound_url, observer, redis_client):
    event_id = client.post(inbound_url, json={"event_id": "limbo"}).json["id"]
    drain(app)
    queue = Queue("ingest", connection=redis_client)
    queue.remove(route_job_of(app, event_id))     # dequeued into RQ's intermediate list, then Redis died
    assert Job.fetch(route_job_of(app, event_id), connection=redis_client).get_status() == "queued"
    _age_events(app)
    assert sweep(app, force=True)["events_requeued"] == 1
    run_jobs(app)
    assert status_of(app, event_id) == "routed"


def test_sweeper_leaves_unclaimed_events_to_the_pump(app, client, inbound_url, redis_client):
    client.post(inbound_url, json={"event_id": "fresh"})
    _age_events(app)
    with get_database(app).session() as s:            # received long ago, never claimed by a pump
        s.execute(sa.update(Event).values(enqueued_at=None))
    assert sweep(app, force=True)["events_requeued"] == 0
    assert drain(app) == 1


def test_the_pump_gives_its_claim_back_when_redis_refuses(tmp_path, client, inbound_url, app, monkeypatch):
    import redis as redis_lib

    event_id = client.post(inbound_url, json={"event_id": "later"}).json["id"]
    app.extensions["hookhub.redis"]._client = redis_lib.Redis.from_url("redis://127.0.0.1:1/0")   # Redis gone
    with pytest.raises(redis_lib.RedisError):
        drain(app)
    with get_database(app).session() as s:
        assert s.get(Event, event_id).enqueued_at is None     # the next pass will try again


def test_a_busy_worker_leaves_waiting_jobs_in_their_queue(app, redis_client):
    """Jobs are dequeued only when a thread is free: one taken early would sit in RQ's intermediate
    list looking queued, where the sweeper (and RQ's own cleanup) would run it a second time."""
    import threading
    import time

    from hub.worker.runner import build_worker

    queue = Queue("maintenance", connection=redis_client)
    for _ in range(5):
        queue.enqueue("time.sleep", 0.6)
    seen = []

    def watch():                                      # while both threads run their 0.6 s jobs
        deadline = time.monotonic() + 5
        while queue.count > 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        seen.append((queue.count, redis_client.llen(queue.intermediate_queue_key)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    build_worker(app, ["maintenance"], concurrency=2).work(burst=True)   # RQ wants the main thread
    watcher.join()
    assert seen == [(3, 0)]          # the other three wait in the queue itself, not dequeued into limbo
    assert queue.count == 0


def test_events_are_routed_in_batches_and_deliveries_sent_in_batches(app, client, api, redis_client):
    from hub.inbound.handoff import ROUTE_BATCH
    from hub.storage.models import Delivery

    target = api.post("/connections", json={"name": "batch target", "channel": "webhook",
                                            "channel_config": {"url": "https://example.com/hook"},
                                            "active": False}).json["id"]   # inactive: nothing is sent
    source = api.post("/connections", json={"name": "batch source", "provider": "generic"}).json
    api.post("/routes", json={"name": "all", "source": source["id"], "targets": [{"connection": target}]})
    url = source["inbound_url"].replace("http://hub.test", "")
    for n in range(ROUTE_BATCH + 10):
        client.post(url, json={"event_id": f"b{n}"})
    assert drain(app) == ROUTE_BATCH + 10
    ingest = Queue("ingest", connection=redis_client)
    assert sorted(len(job.args[0]) for job in ingest.jobs) == [10, ROUTE_BATCH]
    run_jobs(app)
    with get_database(app).session() as s:
        jobs = Counter(d.job_id for d in s.scalars(sa.select(Delivery)))
    assert sorted(jobs.values()) == [10, ROUTE_BATCH]           # one deliver job per batch of 50


def test_a_scheduler_takes_over_the_lock_of_a_dead_worker_and_leaves_a_live_ones(redis_client):
    """RQ's scheduler lock outlives a killed worker by a minute; ours is freed once the owner's
    heartbeat lapses, and never while the owner is alive."""
    scheduler = HubScheduler(["deliver"], connection=redis_client, name="worker-b")
    lock = scheduler.get_locking_key("deliver")
    redis_client.set(lock, "worker-a", ex=61)
    redis_client.set(ALIVE_KEY.format("worker-a"), "1", ex=15)
    assert scheduler.acquire_locks() == set()
    assert redis_client.get(lock) == b"worker-a"                     # alive: left alone
    redis_client.delete(ALIVE_KEY.format("worker-a"))                 # its heartbeat lapsed
    assert scheduler.acquire_locks() == {"deliver"}
    assert redis_client.get(lock) == b"worker-b"
    assert scheduler.acquire_locks() == {"deliver"}                   # its own lock: refreshed
