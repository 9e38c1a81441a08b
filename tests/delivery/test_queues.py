"""Which queue a delivery waits in: a fresh one in ``deliver``, one tried before in ``retry``, which a
worker takes from only when ``deliver`` is empty — so failing deliveries' retries wait behind fresh
deliveries instead of in front of them (bench/lifecycle_storm.py measures what that buys)."""

from __future__ import annotations

from rq import Queue
from rq.job import Job

from hub.inbound.handoff import drain
from hub.storage.queue import QUEUE_NAMES
from hub.testing import Reply, settle
from hub.worker.runner import build_worker
from tests.delivery.conftest import deliveries, make_route, make_source, make_target


def kind(value: str) -> dict:
    return {"path": "payload.kind", "op": "equals", "value": value}


def queued_in(redis_client, name: str) -> set[str]:
    queue = Queue(name, connection=redis_client)
    return set(queue.job_ids) | set(queue.scheduled_job_registry.get_job_ids())


def test_a_retry_waits_in_the_retry_queue_and_a_worker_takes_fresh_deliveries_first(app, api, client, receiver,
                                                                                   redis_client):
    assert QUEUE_NAMES.index("deliver") < QUEUE_NAMES.index("retry")
    receiver.reply(Reply(500, "down"))              # the first send fails; every later one succeeds
    source, inbound = make_source(api)
    failing = make_target(api, receiver.url + "/failing", name="failing", retry_schedule=[0.1])
    make_route(api, source, [failing], match=[kind("storm")], name="storm")
    fresh = make_target(api, receiver.url + "/fresh", name="fresh")
    make_route(api, source, [fresh], match=[kind("ordinary")], name="ordinary")

    assert client.post(inbound, json={"kind": "storm"}).status_code == 200
    [failed] = settle(app, lambda: [d for d in deliveries(api, connection=failing) if d["attempt_count"] == 1])
    assert failed["status"] == "queued"
    retry = Queue("retry", connection=redis_client)
    [job_id] = retry.scheduled_job_registry.get_job_ids()             # its retry is scheduled in `retry`
    assert not queued_in(redis_client, "deliver")
    # Due now: moved onto its queue as RQ's scheduler does when the time comes.
    retry.scheduled_job_registry.remove(job_id)
    retry.enqueue_job(Job.fetch(job_id, connection=redis_client))

    # A fresh delivery now waits in `deliver` while the retry waits in `retry`: the next job taken is the fresh one.
    assert client.post(inbound, json={"kind": "ordinary"}).status_code == 200
    while drain(app):
        pass
    build_worker(app, ["ingest"]).work(burst=True)                           # route it, nothing more
    assert queued_in(redis_client, "deliver") and retry.job_ids == [job_id]
    build_worker(app, list(QUEUE_NAMES), concurrency=1).work(burst=True, max_jobs=1)
    [sent] = deliveries(api, connection=fresh)
    assert sent["status"] == "delivered"
    [waiting] = deliveries(api, connection=failing)
    assert (waiting["status"], waiting["attempt_count"]) == ("queued", 1)
    assert retry.job_ids == [job_id]

    [done] = settle(app, lambda: [d for d in deliveries(api, connection=failing) if d["status"] == "delivered"])
    assert done["attempt_count"] == 2
