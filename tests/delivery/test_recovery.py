"""Recovery of deliveries whose job went astray: a retry whose scheduled job no scheduler moved is
dispatched again by the sweeper, and the stale job, should it run after all, sends nothing twice."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

import sqlalchemy as sa
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from hub.core.times import utcnow
from hub.storage.db import get_database
from hub.storage.models import Delivery
from hub.testing import make_app
from hub.worker.runner import build_worker
from hub.worker.sweeper import job_is_held, sweep
from tests.delivery.conftest import (
    all_settled,
    deliveries,
    make_route,
    make_source,
    make_target,
    settle,
)


def _route_only(app) -> Delivery:
    """Route the accepted event (its deliver job is queued, not run); return the delivery."""
    from hub.inbound.handoff import drain

    while drain(app):
        pass
    build_worker(app, ["ingest"]).work(burst=True)
    with get_database(app).session() as s:
        [delivery] = s.scalars(sa.select(Delivery)).all()
        s.expunge(delivery)
        return delivery


def _strand_as_scheduled(redis_client, job_id: str, overdue: timedelta) -> Job:
    """Turn the queued job into a retry scheduled ``overdue`` ago that no scheduler has moved."""
    job = Job.fetch(job_id, connection=redis_client)
    Queue("deliver", connection=redis_client).remove(job)
    ScheduledJobRegistry("deliver", connection=redis_client).schedule(job, utcnow() - overdue)
    job.set_status(JobStatus.SCHEDULED)
    return job


def _age(app) -> None:
    with get_database(app).session() as s:
        s.execute(sa.update(Delivery).values(updated_at=utcnow() - timedelta(minutes=10)))


def test_a_recently_due_scheduled_job_is_held_and_a_long_overdue_one_is_not(app, api, client, redis_client):
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, "https://example.com/hook")])
    client.post(inbound, json={"n": 1})
    delivery = _route_only(app)
    _strand_as_scheduled(redis_client, delivery.job_id, timedelta(seconds=20))
    assert job_is_held(redis_client, delivery.job_id)            # the scheduler will move it any second
    _strand_as_scheduled(redis_client, delivery.job_id, timedelta(minutes=10))
    assert not job_is_held(redis_client, delivery.job_id)        # nothing is moving it


def test_a_stranded_retry_is_dispatched_again_and_the_stale_job_sends_nothing(app, api, client, receiver,
                                                                               redis_client):
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook")])
    client.post(inbound, json={"n": 1})
    delivery = _route_only(app)
    stale = _strand_as_scheduled(redis_client, delivery.job_id, timedelta(minutes=10))
    _age(app)
    assert sweep(app, force=True)["deliveries_requeued"] == 1
    with get_database(app).session() as s:
        assert s.get(Delivery, delivery.id).job_id != stale.id   # the delivery now belongs to a new job
    # The worker's scheduler finds the stale job due and runs it too, next to the new one.
    [item] = settle(app, all_settled(api, 1))
    assert item["status"] == "delivered"
    assert len(item["attempts"]) == 1
    assert len(receiver.requests) == 1, "the stale job sent the delivery a second time"
    assert stale.id not in ScheduledJobRegistry("deliver", connection=redis_client)
    assert not Job.exists(stale.id, connection=redis_client)      # it ran (and its result was discarded)


def test_a_delivery_held_for_a_missing_channel_waits_for_it_instead_of_cycling(app, api, client, receiver,
                                                                                redis_url, settings):
    """A worker without the target's channel plugin holds the delivery; the sweeper leaves it alone
    (rather than re-dispatching it every pass) until a worker that has the channel sweeps."""
    with closing(make_app(app.config["HOOKHUB_INSTANCE_PATH"], redis_url, **settings,       # app's storage
                          HOOKHUB_SECRET_KEYS=app.config["HOOKHUB_SECRET_KEYS"],
                          HOOKHUB_DISABLE_PLUGINS=("channel_webhook",))) as without:
        source, inbound = make_source(api)
        make_route(api, source, [make_target(api, receiver.url + "/hook")])
        client.post(inbound, json={"n": 1})
        [item] = settle(without, lambda: [d for d in deliveries(api) if d["last_error"]],
                        message="the delivery held")
        assert item["status"] == "queued" and "channel is not installed" in item["last_error"]
        _age(app)
        assert sweep(without, force=True)["deliveries_requeued"] == 0
        assert sweep(app, force=True)["deliveries_requeued"] == 1            # this worker has the channel
        [item] = settle(app, all_settled(api, 1))
        assert item["status"] == "delivered" and len(receiver.requests) == 1
