"""Retention: the housekeeping deletes what is older than its workspace's ``retention_days`` —
events, deliveries, attempts, approvals, refused requests — and never work in progress, in
transactions of at most one batch, a bounded number per pass; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hub.core.ids import new_id
from hub.core.times import utcnow
from hub.storage.db import get_database
from hub.storage.models import Approval, AuditRecord, Delivery, DeliveryAttempt, Event, Failure
from hub.testing import AdminClient, make_token
from hub.worker.retention import purge_expired
from hub.worker.sweeper import sweep

NOW = utcnow()


@pytest.fixture
def app(app_on_each_database):
    return app_on_each_database


@pytest.fixture
def api(app) -> AdminClient:
    return AdminClient(app)


def days_ago(days: float):
    return NOW - timedelta(days=days)


def event(workspace: str, connection: str, status: str, received_at, **extra) -> dict:
    return {"id": new_id("evt"), "workspace_id": workspace, "connection_id": connection, "provider": "generic",
            "event_id": new_id("x"), "status": status, "envelope": {"payload": {"n": 1}}, "raw_body": b'{"n": 1}',
            "received_at": received_at, **extra}


def delivery(workspace: str, connection: str, event_id: str | None, status: str, created_at) -> dict:
    return {"id": new_id("dlv"), "workspace_id": workspace, "connection_id": connection, "event_id": event_id,
            "webhook_id": new_id("msg"), "status": status, "created_at": created_at, "updated_at": created_at}


def insert(app, model, rows: list[dict], chunk: int = 10_000) -> None:
    with get_database(app).engine.begin() as conn:
        for start in range(0, len(rows), chunk):
            conn.execute(sa.insert(model), rows[start:start + chunk])


def ids(app, model) -> set[str]:
    with get_database(app).session() as s:
        return set(s.scalars(sa.select(model.id)))


@pytest.fixture
def connections(app, api):
    team_b = make_token(app, "admin", "team-b")
    assert api.patch("/workspaces/team-b", json={"retention_days": 7}).status_code == 200
    return {"default": api.create_connection(name="crm", provider="generic")["id"],
            "team-b": api.post("/connections", json={"name": "crm", "provider": "generic"}, token=team_b).json["id"]}


def test_the_purge_deletes_what_is_past_retention_and_never_work_in_progress(app, connections):
    con, con_b = connections["default"], connections["team-b"]
    gone_event = event("default", con, "routed", days_ago(40))
    kept_events = {
        "not routed yet": event("default", con, "accepted", days_ago(400)),
        "its delivery is queued": event("default", con, "routed", days_ago(40)),
        "its delivery is sending": event("default", con, "routed", days_ago(40)),
        "its delivery awaits approval": event("default", con, "routed", days_ago(40)),
        "replayed yesterday": event("default", con, "routed", days_ago(40)),
        "recent": event("default", con, "routed", days_ago(29)),
        "team-b, recent for its 7 days": event("team-b", con_b, "routed", days_ago(5)),
    }
    gone_b = event("team-b", con_b, "routed", days_ago(8))
    insert(app, Event, [gone_event, gone_b, *kept_events.values()])
    done = delivery("default", con, gone_event["id"], "delivered", days_ago(40))
    kept_deliveries = [
        delivery("default", con, kept_events["its delivery is queued"]["id"], "queued", days_ago(40)),
        delivery("default", con, kept_events["its delivery is sending"]["id"], "sending", days_ago(40)),
        delivery("default", con, kept_events["its delivery awaits approval"]["id"], "pending_approval", days_ago(40)),
        delivery("default", con, kept_events["replayed yesterday"]["id"], "delivered", days_ago(1)),
    ]
    insert(app, Delivery, [done, *kept_deliveries])
    insert(app, DeliveryAttempt, [{"delivery_id": d["id"], "number": n, "at": days_ago(40), "outcome": "retry"}
                                  for d in (done, kept_deliveries[1]) for n in (1, 2)])
    insert(app, Approval, [{"workspace_id": "default", "delivery_id": done["id"], "status": "approved"},
                           {"workspace_id": "default", "delivery_id": kept_deliveries[2]["id"], "status": "pending"}])
    failures = {name: {"id": new_id("fai"), "workspace_id": ws, "at": at, "status": 401, "code": "unauthorized",
                       "message": "no"}
                for name, ws, at in (("old", "default", days_ago(31)), ("recent", "default", days_ago(29)),
                                     ("unowned old", None, days_ago(31)), ("unowned recent", None, days_ago(29)),
                                     ("team-b old", "team-b", days_ago(8)))}
    insert(app, Failure, list(failures.values()))
    insert(app, AuditRecord, [{"workspace_id": "default", "at": days_ago(400), "actor": "system", "action": "x"}])

    counts = sweep(app, force=True)

    assert ids(app, Event) == {e["id"] for e in kept_events.values()}
    assert ids(app, Delivery) == {d["id"] for d in kept_deliveries}
    assert {a.delivery_id for a in _all(app, DeliveryAttempt)} == {kept_deliveries[1]["id"]}
    assert [a.status for a in _all(app, Approval)] == ["pending"]
    assert ids(app, Failure) == {failures["recent"]["id"], failures["unowned recent"]["id"]}
    assert len(_all(app, AuditRecord)) > 1                     # the audit trail is never purged
    assert (counts["events_purged"], counts["deliveries_purged"], counts["delivery_attempts_purged"],
            counts["approvals_purged"], counts["failures_pruned"]) == (2, 1, 2, 1, 3)


def _all(app, model) -> list:
    with get_database(app).session() as s:
        return list(s.scalars(sa.select(model)))


def test_a_100k_row_table_is_purged_in_bounded_transactions(app, connections):
    con = connections["default"]
    old = [event("default", con, "routed", days_ago(31 + i / 10_000)) for i in range(85_000)]
    waiting = [event("default", con, "accepted", days_ago(60)) for _ in range(5_000)]
    recent = [event("default", con, "routed", days_ago(1)) for _ in range(10_000)]
    insert(app, Event, old + waiting + recent)
    deliveries = [delivery("default", con, e["id"], "delivered", days_ago(31)) for e in old[:10_000]]
    insert(app, Delivery, deliveries)
    insert(app, DeliveryAttempt, [{"delivery_id": d["id"], "number": 1, "at": days_ago(31), "outcome": "delivered"}
                                  for d in deliveries])

    engine = get_database(app).engine
    per_transaction: list[int] = []
    pending = [0]

    def count_deletes(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE"):
            pending[0] += max(cursor.rowcount, 0)

    def end_transaction(conn):
        if pending[0]:
            per_transaction.append(pending[0])
        pending[0] = 0

    sa.event.listen(engine, "after_cursor_execute", count_deletes)
    sa.event.listen(engine, "commit", end_transaction)
    try:
        started, passes, purged = time.perf_counter(), 0, 0
        with sa.orm.Session(engine) as session:
            while (report := purge_expired(session, batch_size=500, max_batches=40)).total():
                passes += 1
                purged += report.total()
                assert report.total() <= 40 * 500               # bounded per pass and workspace
                assert max(report.batches) <= 500
        elapsed = time.perf_counter() - started
    finally:
        sa.event.remove(engine, "after_cursor_execute", count_deletes)
        sa.event.remove(engine, "commit", end_transaction)

    assert purged == 85_000 + 10_000 + 10_000
    assert max(per_transaction) <= 500 and sum(per_transaction) == purged
    assert passes == -(-purged // 20_000)
    with get_database(app).session() as s:
        left = dict(s.execute(sa.select(Event.status, sa.func.count()).group_by(Event.status)).all())
        assert left == {"accepted": 5_000, "routed": 10_000}
        assert s.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0
    print(f"\nretention purge on {engine.dialect.name}: {purged} of {purged + 15_000} rows deleted in "
          f"{elapsed:.2f} s, {len(per_transaction)} transactions of at most {max(per_transaction)} rows, "
          f"{passes} passes")


def test_a_backlog_bigger_than_a_pass_is_purged_at_the_next_sweeps_not_a_housekeeping_later(app, connections,
                                                                                             redis_client):
    """One housekeeping every 10 minutes deleting 20,000 rows per workspace is 33 rows/s: a busy
    workspace's events would outgrow their retention for good. A pass that leaves a backlog makes
    the next sweeps go on with it."""
    from hub.worker.sweeper import LOCK_KEY, RETENTION_BACKLOG_KEY

    con = connections["default"]
    insert(app, Event, [event("default", con, "routed", days_ago(40)) for _ in range(45_000)])
    recent = [event("default", con, "routed", days_ago(1)) for _ in range(10)]
    insert(app, Event, recent)

    def next_sweep() -> dict:
        redis_client.delete(LOCK_KEY)            # the previous sweep's turn is over
        return sweep(app)

    # A pass: 40 transactions for the workspace, 3 of them finding its attempts, approvals and
    # deliveries empty, 37 deleting 500 events each.
    first = next_sweep()                         # the housekeeping of this 10 minutes: one pass
    assert first["events_purged"] == 18_500 and first["retention_unfinished"] == 1
    assert redis_client.exists(RETENTION_BACKLOG_KEY)
    second = next_sweep()                        # a sweep later, not a housekeeping later
    assert second["events_purged"] == 18_500 and "dedupe_keys_expired" not in second   # retention alone
    third = next_sweep()
    assert third["events_purged"] == 8_000 and third["retention_unfinished"] == 0
    assert not redis_client.exists(RETENTION_BACKLOG_KEY)
    assert "events_purged" not in next_sweep()   # no backlog: the next housekeeping, 10 minutes on
    assert ids(app, Event) == {e["id"] for e in recent}


def test_dedupe_keys_are_freed_in_bounded_transactions(app, connections):
    from hub.worker.housekeeping import expire_dedupe_keys

    con = connections["default"]
    stale = [event("default", con, "routed", days_ago(2), dedupe_key=new_id("k")) for _ in range(1_050)]
    fresh = [event("default", con, "routed", NOW, dedupe_key=new_id("k")) for _ in range(5)]
    insert(app, Event, stale + fresh)
    engine = get_database(app).engine
    updated: list[int] = []

    def count_updates(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE"):
            updated.append(cursor.rowcount)

    sa.event.listen(engine, "after_cursor_execute", count_updates)
    try:
        with sa.orm.Session(engine) as session:
            assert expire_dedupe_keys(session, 86_400, batch_size=200, max_batches=4) == 800   # a pass's most
            assert expire_dedupe_keys(session, 86_400, batch_size=200, max_batches=4) == 250   # the rest
            assert expire_dedupe_keys(session, 86_400, batch_size=200, max_batches=4) == 0
    finally:
        sa.event.remove(engine, "after_cursor_execute", count_updates)
    assert max(updated) == 200
    with get_database(app).session() as s:
        keyed = set(s.scalars(sa.select(Event.id).where(Event.dedupe_key.is_not(None))))
    assert keyed == {e["id"] for e in fresh}
