"""The list queries the API and the console share (hub.services.events, deliveries, audit_trail), the
dashboard's grouped numbers and the workers' status — on SQLite and on PostgreSQL where the SQL
differs (JSON path access, GLOB/LIKE, time buckets, window functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from hub.core.ids import new_id
from hub.core.statuses import DeliveryStatus
from hub.services.cursor_pages import page_of
from hub.services.dashboard import dashboard
from hub.services.deliveries import DeliveryFilter, delivery_page
from hub.services.events import EventFilter, event_page
from hub.storage.db import get_database
from hub.storage.models import Connection, Delivery, DeliveryAttempt, Event
from hub.web.console.route_form import parse_value, value_text
from hub.web.console.svg import Series, bar_chart, nice_ceiling
from hub.worker.liveness import mark_alive
from hub.worker.status import worker_status

NOW = datetime(2026, 3, 23, 15, 30, tzinfo=UTC)
TYPES = ["push", "PUSH", "invoice.paid", "invoice.created", "a_b", "a%b", "[x]y", None]


@pytest.fixture
def app(app_on_each_database):
    return app_on_each_database


def add_connection(session, name: str, **fields) -> Connection:
    conn = Connection(workspace_id="default", name=name, **fields)
    session.add(conn)
    session.flush()
    return conn


def add_event(session, conn: Connection, received_at: datetime, event_type: str | None = None) -> Event:
    event_id = new_id("evt")
    event = Event(id=event_id, workspace_id="default", connection_id=conn.id, provider="generic", event_id=event_id,
                  envelope={"id": event_id, "type": event_type, "payload": {}}, raw_body=b"{}" * 1000,
                  received_at=received_at)
    session.add(event)
    session.flush()
    return event


def add_delivery(session, event: Event, target: Connection, created_at: datetime, status: DeliveryStatus,
                 delivered_after: float | None = None) -> Delivery:
    delivery = Delivery(workspace_id="default", event_id=event.id, connection_id=target.id, webhook_id=new_id("msg"),
                        status=DeliveryStatus.QUEUED, created_at=created_at, body={"big": "x" * 1000})
    session.add(delivery)
    session.flush()
    if status != DeliveryStatus.QUEUED:
        delivery.status = DeliveryStatus.SENDING
        delivery.status = status
    if delivered_after is not None:
        delivery.delivered_at = event.received_at + timedelta(seconds=delivered_after)
    session.flush()
    return delivery


def test_events_filter_by_type_exactly_or_with_stars_case_sensitive_on_every_database(app, api):
    with get_database(app).session() as session:
        conn = add_connection(session, "typed", provider="generic")
        for event_type in TYPES:
            add_event(session, conn, NOW, event_type)
        session.commit()

        def types(pattern: str) -> list[str | None]:
            page = event_page(session, "default", EventFilter(type=pattern), None, 50)
            return sorted(e.envelope["type"] for e in page.items)

        assert types("push") == ["push"]
        assert types("invoice.*") == ["invoice.created", "invoice.paid"]
        assert types("*.paid") == ["invoice.paid"]
        assert types("a_*") == ["a_b"]                 # "_" and "%" are themselves, not wildcards
        assert types("a%*") == ["a%b"]
        assert types("[x]*") == ["[x]y"]               # nor GLOB's brackets
        assert types("P*") == ["PUSH"]
        assert len(types("*")) == len(TYPES) - 1       # an event without a type has none to match
    answer = api.get("/events", query_string={"type": "invoice.*"})
    assert sorted(item["type"] for item in answer.json["items"]) == ["invoice.created", "invoice.paid"]
    assert api.get("/events", query_string={"type": "nothing"}).json == {"items": [], "next": None}
    parameters = api.get("/openapi.json").json["paths"]["/api/v1/events"]["get"]["parameters"]
    assert any(p["name"] == "type" and p["in"] == "query" for p in parameters)


def test_deliveries_filter_by_their_events_type_exactly_or_with_stars(app, api):
    with get_database(app).session() as session:
        source, target = add_connection(session, "src", provider="generic"), add_connection(session, "dst",
                                                                                            channel="webhook")
        type_of = {}
        for event_type, status in (("push", DeliveryStatus.DEAD), ("invoice.paid", DeliveryStatus.DEAD),
                                   ("invoice.created", DeliveryStatus.QUEUED), ("invoice_paid", DeliveryStatus.DEAD),
                                   (None, DeliveryStatus.DEAD)):
            event = add_event(session, source, NOW, event_type)
            type_of[add_delivery(session, event, target, NOW, status).id] = event_type
        session.commit()

        def types(**filters) -> list[str | None]:
            page = delivery_page(session, "default", DeliveryFilter(**filters), None, 50)
            return sorted(type_of[d.id] for d in page.items)

        assert types(type="push") == ["push"]
        assert types(type="invoice.*") == ["invoice.created", "invoice.paid"]      # "." is itself, not any character
        assert types(type="*.paid") == ["invoice.paid"]
        assert types(type="invoice.*", status="dead") == ["invoice.paid"]           # with the other filters
        assert types(type="Push") == [] and types(type="nothing") == []
        first = delivery_page(session, "default", DeliveryFilter(type="invoice*"), None, 2)
        rest = delivery_page(session, "default", DeliveryFilter(type="invoice*"), first.next, 2)
        assert sorted(type_of[d.id] for d in first.items + rest.items) == ["invoice.created", "invoice.paid",
                                                                           "invoice_paid"]
        assert rest.next is None
    answer = api.get("/deliveries", query_string={"type": "invoice.*"})
    assert answer.status_code == 200
    assert sorted(type_of[item["id"]] for item in answer.json["items"]) == ["invoice.created", "invoice.paid"]
    assert [type_of[item["id"]] for item in api.get("/deliveries", query_string={"type": "push"}).json["items"]] == [
        "push"]
    parameters = api.get("/openapi.json").json["paths"]["/api/v1/deliveries"]["get"]["parameters"]
    [documented] = [p for p in parameters if p.get("name") == "type"]
    assert documented["in"] == "query" and documented["schema"]["type"] == "string" and not documented["required"]


def test_lists_read_one_page_and_leave_bodies_unread(app):
    with get_database(app).session() as session:
        source, target = add_connection(session, "src", provider="generic"), add_connection(session, "dst",
                                                                                            channel="webhook")
        events = [add_event(session, source, NOW - timedelta(minutes=n)) for n in range(5)]
        for event in events:
            delivery = add_delivery(session, event, target, NOW, DeliveryStatus.DEAD)
            session.add(DeliveryAttempt(delivery_id=delivery.id, number=1, outcome="failed", status_code=500,
                                        response_excerpt="x" * 4000))
        session.commit()
        session.expunge_all()
        first = event_page(session, "default", EventFilter(connection=source.id), None, 2)
        assert len(first.items) == 2 and first.next == first.items[-1].id
        assert all("raw_body" in sa.inspect(e).unloaded for e in first.items)
        rest = event_page(session, "default", EventFilter(connection=source.id), first.next, 2)
        last = event_page(session, "default", EventFilter(connection=source.id), rest.next, 2)
        assert [e.id for e in first.items + rest.items + last.items] == sorted((e.id for e in events), reverse=True)
        assert last.next is None
        assert event_page(session, "default", EventFilter(since=NOW - timedelta(minutes=1, seconds=30)),
                          None, 10).items.__len__() == 2
        deliveries = delivery_page(session, "default", DeliveryFilter(status="dead"), None, 3)
        assert len(deliveries.items) == 3
        for delivery in deliveries.items:
            assert {"body", "template"} <= sa.inspect(delivery).unloaded
            [attempt] = delivery.attempts                         # loaded with the page, in one read
            assert "response_excerpt" in sa.inspect(attempt).unloaded
        with pytest.raises(Exception, match="limit"):
            page_of(session, sa.select(Event), Event.id, None, 501)


def test_the_dashboard_counts_per_bucket_and_connection_with_nearest_rank_percentiles(app):
    with get_database(app).session() as session:
        source = add_connection(session, "source", provider="generic")
        fine, broken = add_connection(session, "fine", channel="webhook"), add_connection(session, "broken",
                                                                                         channel="webhook")
        this_hour = add_event(session, source, NOW - timedelta(minutes=20))
        add_event(session, source, NOW - timedelta(minutes=40))          # the hour before
        three_days = add_event(session, source, NOW - timedelta(days=3))
        add_event(session, source, NOW - timedelta(days=8))               # outside both windows
        for seconds in range(1, 11):                                     # latencies 1 … 10 s
            add_delivery(session, this_hour, fine, NOW - timedelta(minutes=19), DeliveryStatus.DELIVERED, seconds)
        add_delivery(session, this_hour, broken, NOW - timedelta(minutes=19), DeliveryStatus.DEAD)
        add_delivery(session, three_days, broken, NOW - timedelta(days=3), DeliveryStatus.FAILED)
        add_delivery(session, three_days, broken, NOW - timedelta(days=3), DeliveryStatus.QUEUED)   # not an outcome
        session.commit()
        numbers = dashboard(session, "default", [source, fine, broken], now=NOW)

    day, week = numbers.day, numbers.week
    assert len(day.buckets) == 24 and day.buckets[-1] == NOW.replace(minute=0)
    assert day.counts["events"][-2:] == [1, 1] and day.total("events") == 2
    assert (day.total("delivered"), day.total("failed"), day.total("dead")) == (10, 0, 1)
    assert len(week.buckets) == 7 and week.buckets[-1] == NOW.replace(hour=0, minute=0)
    assert week.counts["events"] == [0, 0, 0, 1, 0, 0, 2]
    assert (week.total("delivered"), week.total("failed"), week.total("dead")) == (10, 1, 1)
    assert (day.latency.count, day.latency.p50, day.latency.p95) == (10, pytest.approx(5, abs=0.01),
                                                                     pytest.approx(10, abs=0.01))
    by_name = {row.connection.name: row for row in numbers.connections}
    assert by_name["source"].week.total("events") == 3 and by_name["source"].week.total("delivered") == 0
    assert by_name["fine"].day.latency.p50 == pytest.approx(5, abs=0.01)
    assert by_name["broken"].week.counts["failed"] == [0, 0, 0, 1, 0, 0, 0]
    assert by_name["broken"].day.latency.p50 is None


def test_worker_status_counts_waiting_jobs_and_live_workers_and_says_when_redis_is_away(redis_client):
    Queue("deliver", connection=redis_client).enqueue("builtins.print")
    for name in ("w1", "w2"):
        mark_alive(redis_client, name)
    status = worker_status(redis_client)
    assert status.available and status.live_workers == 2
    assert {q.name: q.waiting for q in status.queues}["deliver"] == 1
    away = worker_status(redis.Redis(unix_socket_path="/nonexistent/redis.sock", retry=Retry(NoBackoff(), 0)))
    assert not away.available and away.queues == []


def test_charts_are_scaled_to_a_round_top_and_escape_what_they_show():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 230)] == [1, 1, 5, 10, 10, 20, 500]
    svg = str(bar_chart("c", "Events <b>", ["<script>", "b"], [Series("Dead & gone", "bar-dead", [3, 0])]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "Events &lt;b&gt;" in svg
    assert 'role="img"' in svg and "Totals: Dead &amp; gone: 3." in svg
    assert svg.count('class="bar-dead"') == 1 and svg.count('class="empty"') == 1


@pytest.mark.parametrize("op, text, value", [
    ("equals", "42", 42), ("equals", "opened", "opened"), ("equals", '"42"', "42"), ("equals", "true", True),
    ("in", "a, b", ["a", "b"]), ("in", '["a", 1]', ["a", 1]), ("exists", "", None), ("exists", "false", False),
    ("matches", "^x.*", "^x.*"),
])
def test_a_rule_value_reads_back_from_how_the_form_writes_it(op, text, value):
    assert parse_value(op, text) == value
    assert parse_value(op, value_text(value)) == value
