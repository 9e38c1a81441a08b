"""The connection list's activity (hub.services.connection_activity): last event and delivery,
recent failure rates in and out, and the flags that tell "disabled after failures" from an admin's
deactivation."""

from __future__ import annotations

from datetime import timedelta

from hub.core.statuses import DeliveryStatus
from hub.core.times import utcnow
from hub.delivery.endpoint_health import disable
from hub.services.connection_activity import ConnectionState, connection_activity
from hub.services.connections import for_app
from hub.storage.db import get_database
from hub.storage.models import Delivery, Event, Failure


def delivery(conn, *moves, created_at=None):
    row = Delivery(workspace_id=conn.workspace_id, connection_id=conn.id, webhook_id="msg_x",
                   status=DeliveryStatus.QUEUED, created_at=created_at or utcnow())
    for status in moves:
        row.status = status
    return row


def test_activity_counts_recent_failures_and_tells_a_disabled_connection_from_a_deactivated_one(app):
    with get_database(app).session() as session:
        svc = for_app(session, "test", app)
        inbound, _ = svc.create("default", {"name": "crm", "provider": "generic"})
        outbound, _ = svc.create("default", {"name": "ops", "channel": "webhook",
                                             "channel_config": {"url": "https://example.com/hook"}})
        paused, _ = svc.create("default", {"name": "paused", "provider": "generic"})
        session.flush()
        received = utcnow() - timedelta(minutes=5)
        session.add_all([Event(workspace_id="default", connection_id=inbound.id, provider="generic", event_id=str(n),
                               envelope={}, raw_body=b"{}", received_at=received) for n in range(3)])
        session.add(Failure(workspace_id="default", connection_id=inbound.id, status=401, code="unauthorized",
                            message="wrong key"))
        sent = (DeliveryStatus.SENDING, DeliveryStatus.DELIVERED)
        session.add_all([delivery(outbound, *sent), delivery(outbound, DeliveryStatus.DEAD),
                         delivery(outbound, DeliveryStatus.FAILED), delivery(outbound, *sent),
                         delivery(outbound, DeliveryStatus.DEAD, created_at=utcnow() - timedelta(days=2)),
                         delivery(outbound)])                                 # old, and not finished: not counted
        disable(app, session, outbound, "20 consecutive failed deliveries")
        svc.set_active(paused, False, reason="deactivated by an admin")
        session.flush()
        rows = {row.connection.name: row for row in connection_activity(session, "default", svc.list("default"))}

    assert rows["crm"].state is ConnectionState.ACTIVE and rows["crm"].flags == []
    assert rows["crm"].last_event_at == received and rows["crm"].last_delivery_at is None
    assert (rows["crm"].inbound.failed, rows["crm"].inbound.total, rows["crm"].inbound.percent) == (1, 4, 25)
    assert rows["crm"].outbound.percent is None                               # nothing sent: no rate
    assert rows["ops"].state is ConnectionState.DISABLED_AFTER_FAILURES
    assert rows["ops"].flags == ["disabled after failures"]
    assert (rows["ops"].outbound.failed, rows["ops"].outbound.total, rows["ops"].outbound.percent) == (2, 4, 50)
    assert rows["ops"].last_delivery_at is not None and rows["ops"].last_event_at is None
    assert rows["paused"].state is ConnectionState.INACTIVE and rows["paused"].flags == []
    assert connection_activity(session, "other-workspace", []) == []
