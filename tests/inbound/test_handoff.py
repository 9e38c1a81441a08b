"""The hand-off pump's claim on PostgreSQL, with another worker's pump claiming at the same moment."""

import threading

import pytest
import sqlalchemy as sa

from hub.inbound.handoff import ROUTE_BATCH, drain
from hub.storage.db import get_database
from hub.storage.models import Event
from hub.testing import AdminClient, make_app
from tests.conftest import fresh_postgres_database
from tests.waiting import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(tmp_path, redis_url, redis_client, settings, postgres_url):
    app = make_app(tmp_path / "instance", redis_url, **settings,
                   HOOKHUB_DATABASE_URL=fresh_postgres_database(postgres_url))
    yield app
    app.close()


def test_a_pump_claims_the_events_another_pump_has_not_locked_without_waiting_for_it(pg_app):
    api = AdminClient(pg_app)
    url = api.post("/connections", json={"name": "src", "provider": "generic"}).json["inbound_url"]
    client = pg_app.test_client()
    for n in range(2 * ROUTE_BATCH):
        assert client.post(url.replace("http://hub.test", ""), json={"event_id": f"e{n}"}).status_code == 200
    engine = get_database(pg_app).engine
    claimed: list[int] = []
    with engine.connect() as other:
        # Another worker's pump, inside its claim: the oldest events are locked until it commits.
        with other.begin():
            held = set(other.scalars(sa.text(
                "SELECT id FROM events ORDER BY received_at LIMIT :n FOR UPDATE"), {"n": ROUTE_BATCH}))
            pump = threading.Thread(target=lambda: claimed.append(drain(pg_app)))
            pump.start()
            # Before the other transaction ends: a pump that waited for the locked rows never returns here.
            wait_until(lambda: claimed, "the second pump's claim while the first holds its events", timeout=10)
        pump.join()
    assert claimed == [ROUTE_BATCH]
    with engine.connect() as conn:
        taken = set(conn.scalars(sa.select(Event.id).where(Event.enqueued_at.is_not(None))))
    assert len(taken) == ROUTE_BATCH and not taken & held     # the others, each claimed once
    assert drain(pg_app) == ROUTE_BATCH                       # the first pump's events, had it died
