"""The console's list filters over HTTP (Flask's test client, the real app and SQLite): the Deliveries
page narrowed to the type of each delivery's event, and the Audit page to a time window; each
field keeps what was chosen, so the filtered list is a link."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from hub.core.times import utcnow
from hub.storage.db import get_database
from hub.storage.models import AuditRecord
from hub.testing import settle
from tests.conftest import ADMIN_TOKEN


def sign_in(client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").text).group(1)
    assert client.post("/console/login", data={"token": ADMIN_TOKEN, "csrf_token": token}).status_code == 303


def shown(html: str, ids: dict[str, str]) -> list[str]:
    """The names of ``ids`` (name → id) whose id the page shows."""
    return sorted(name for name, object_id in ids.items() if object_id in html)


def test_the_deliveries_page_filters_by_event_type_and_the_field_keeps_its_value(app, api, receiver):
    source = api.create_connection(name="billing", provider="generic")
    target = api.create_connection(name="ledger", channel="webhook", channel_config={"url": receiver.url + "/hook"})
    api.post("/routes", json={"name": "all", "source": source["id"], "targets": [{"connection": target["id"]}]})
    inbound = app.test_client()
    for event_type in ("push", "invoice.paid", "invoice.created"):
        assert inbound.post(source["inbound_path"], json={"type": event_type}).status_code == 200
    settle(app, lambda: len(api.get("/deliveries").json["items"]) == 3)
    type_of_event = {e["id"]: e["type"] for e in api.get("/events").json["items"]}
    by_type = {type_of_event[d["event"]]: d["id"] for d in api.get("/deliveries").json["items"]}
    client = app.test_client()
    sign_in(client)

    everything = client.get("/console/deliveries")
    assert '<label for="filter-type">Type</label>' in everything.text
    assert shown(everything.text, by_type) == ["invoice.created", "invoice.paid", "push"]
    invoices = client.get("/console/deliveries", query_string={"type": "invoice.*"})
    assert invoices.status_code == 200
    assert shown(invoices.text, by_type) == ["invoice.created", "invoice.paid"]
    assert re.search(r'<input type="text" id="filter-type" name="type" value="invoice\.\*"', invoices.text)
    exact = client.get("/console/deliveries", query_string={"type": "push", "connection": target["id"]})
    assert shown(exact.text, by_type) == ["push"]
    assert 'name="type" value="push"' in exact.text
    assert "No deliveries match these filters." in client.get("/console/deliveries?type=nothing").text


def test_the_audit_page_hides_records_older_than_the_time_window(app, api):
    ids = {name: api.create_connection(name=name, provider="generic")["id"] for name in ("long ago", "just now")}
    with get_database(app).session() as session:        # the first connection's record, three days back
        session.execute(sa.update(AuditRecord).where(AuditRecord.object_id == ids["long ago"])
                        .values(at=utcnow() - timedelta(days=3)))
        session.commit()
    client = app.test_client()
    sign_in(client)

    assert shown(client.get("/console/audit").text, ids) == ["just now", "long ago"]
    day = client.get("/console/audit", query_string={"time": "24h"})
    assert day.status_code == 200
    assert shown(day.text, ids) == ["just now"]
    assert '<label for="filter-time">Time</label>' in day.text
    assert '<option value="24h" selected>' in day.text
    assert shown(client.get("/console/audit", query_string={"time": "7d"}).text, ids) == ["just now", "long ago"]
    hour = client.get("/console/audit", query_string={"time": "1h", "action": "connection.*"})
    assert shown(hour.text, ids) == ["just now"]
