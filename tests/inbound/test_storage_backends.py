"""The inbound store on SQLite and on PostgreSQL: the fast write path (hub.storage.fastsql) stores and
reads values exactly as the ORM does, decides duplicates with the unique index, reopens a
connection that broke, and answers 503 (never 500) while storage is down."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa

from hub.core.times import utcnow
from hub.storage.db import get_database
from hub.storage.models import Event, Failure
from hub.testing import AdminClient


@pytest.fixture
def app(app_on_each_database):
    return app_on_each_database


@pytest.fixture
def inbound(id_source):
    return id_source["inbound_path"]


def test_an_event_is_stored_as_the_orm_reads_it(app, inbound):
    client = app.test_client()
    body = '{"id": "ü-1", "text": "héllo \\ud83d\\ude00", "n": 1.5, "nested": {"list": [1, null, true]}}'.encode()
    r = client.post(inbound, data=body, content_type="application/json", headers={"X-Trace": "a"})
    assert r.status_code == 200 and r.json["status"] == "accepted", r.json
    with get_database(app).session() as s:
        event = s.get(Event, r.json["id"])
        assert event.raw_body == body                                   # byte for byte
        assert event.envelope["payload"] == {"id": "ü-1", "text": "héllo 😀", "n": 1.5,
                                             "nested": {"list": [1, None, True]}}
        assert event.envelope["event_id"] == event.event_id == event.dedupe_key == "ü-1"
        assert event.received_at.tzinfo is not None and abs(event.received_at - utcnow()) < timedelta(minutes=1)
        assert (event.status, event.routed_at, event.enqueued_at) == ("accepted", None, None)
        assert event.content_type == "application/json"


def test_duplicates_inside_the_window_and_a_new_event_after_it(app, inbound):
    client = app.test_client()
    first = client.post(inbound, json={"id": "dup-1"}).json
    again = client.post(inbound, json={"id": "dup-1"}).json
    assert (again["status"], again["id"]) == ("duplicate", first["id"])
    with get_database(app).session() as s:
        s.execute(sa.update(Event).values(received_at=utcnow() - timedelta(days=2)))   # the window passed
    later = client.post(inbound, json={"id": "dup-1"}).json
    assert later["status"] == "accepted" and later["id"] != first["id"]
    with get_database(app).session() as s:
        keys = dict(s.execute(sa.select(Event.id, Event.dedupe_key)).all())
    assert keys == {first["id"]: None, later["id"]: "dup-1"}            # the old event gave its key up


def test_a_broken_connection_answers_503_and_the_next_request_reconnects(app, inbound):
    client = app.test_client()
    client.post(inbound, json={"id": "warm"})
    get_database(app).fast._conn.connection.dbapi_connection.close()   # the link to storage breaks
    r = client.post(inbound, json={"id": "during"})
    assert r.status_code == 503 and r.json["error"]["code"] == "unavailable"
    again = client.post(inbound, json={"id": "during"})
    assert again.status_code == 200 and again.json["status"] == "accepted"   # the failed try did not count


def test_nul_characters_are_stored_on_every_backend_and_the_raw_body_keeps_them(app, inbound):
    # PostgreSQL's JSONB cannot hold \u0000 in text: the payload carries U+FFFD instead, everywhere.
    body = b'{"id": "nul", "text": "a\\u0000b"}'
    r = app.test_client().post(inbound, data=body, content_type="application/json")
    assert r.status_code == 200 and r.json["status"] == "accepted", r.json
    with get_database(app).session() as s:
        event = s.get(Event, r.json["id"])
        assert event.envelope["payload"]["text"] == "a\ufffdb"
        assert event.raw_body == body


def test_an_oversized_content_type_is_stored_cut_to_its_column(app, inbound):
    # varchar(255) on PostgreSQL refuses a longer value; SQLite would keep it whole.
    content_type = "application/json; charset=utf-8; x=" + "y" * 400
    r = app.test_client().post(inbound, data=b'{"id": "long-ct"}', headers={"Content-Type": content_type})
    assert r.status_code == 200 and r.json["status"] == "accepted", r.json
    with get_database(app).session() as s:
        event = s.get(Event, r.json["id"])
        assert event.content_type == content_type[:255]
        assert event.envelope["headers"]["Content-Type"] == [content_type]   # the envelope keeps it whole


def test_nul_in_the_query_or_a_mapped_header_is_stored_as_u_fffd(app, tmp_path):
    api = AdminClient(app)
    created = api.post("/connections", json={"name": "header ids", "provider": "generic",
                                             "field_map": {"event_id": "header:X-Id", "text": "query:note"}}).json
    url = created["inbound_url"].replace("http://hub.test", "") + "&note=a%00b"
    r = app.test_client().post(url, json={"n": 1}, headers={"X-Id": "id\x00-1"})
    assert r.status_code == 200 and r.json == {"status": "accepted", "id": r.json["id"], "event_id": "id\ufffd-1"}
    with get_database(app).session() as s:
        event = s.get(Event, r.json["id"])
        assert (event.event_id, event.envelope["text"], event.envelope["query"]["note"]) == \
            ("id\ufffd-1", "a\ufffdb", "a\ufffdb")


def test_a_nul_in_the_connection_id_is_a_recorded_404(app, inbound):
    r = app.test_client().post(inbound.replace("/con_", "/con_%00"), json={"id": "x"})
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found", r.json
    with get_database(app).session() as s:
        paths = s.scalars(sa.select(Failure.path).where(Failure.code == "not_found")).all()
    assert len(paths) == 1 and paths[0].startswith("/hooks/generic/con_\ufffd")


def test_a_provider_field_with_nul_or_a_lone_surrogate_is_made_storable():
    """A third-party provider sets fields from anywhere; the envelope cleans them like payloads."""
    from datetime import UTC, datetime

    from hub.inbound.envelope import FieldMap, build_envelope
    from hub.plugin import Headers, InboundRequest, ParsedEvent

    request = InboundRequest(method="POST", url="http://hub.test/hooks/x/con_1", path="/hooks/x/con_1",
                             headers=Headers([("X-A", "b")]), query={}, body=b"{}", content_type="application/json",
                             remote_addr="127.0.0.1", received_at=datetime.now(UTC))
    parsed = ParsedEvent(payload={"ok": "é"}, event_id="id\x00", fields={"text": "lone \ud800", "event": "ü"})
    envelope = build_envelope(hub_id="evt_1", workspace="default", connection_name="c", provider="x",
                              default_channel=None, field_map=FieldMap({}), parsed=parsed, request=request)
    assert (envelope["event_id"], envelope["text"], envelope["event_type"]) == ("id\ufffd", "lone \ufffd", "ü")
    assert envelope["payload"] == {"ok": "é"} and envelope["headers"] == {"X-A": ["b"]}


def test_named_placeholders_become_positional_only_when_each_name_is_used_once():
    """For a driver that takes ``%s`` (psycopg2), each ``%(name)s`` becomes ``%s`` in order, an escaped
    ``%%`` stays, a name used twice keeps them named."""
    from hub.storage.fastsql import _positional

    assert _positional("INSERT INTO t (a, b) VALUES (%(a_0)s::VARCHAR, %(b_0)s) -- 100%%") == (
        "INSERT INTO t (a, b) VALUES (%s::VARCHAR, %s) -- 100%%", ["a_0", "b_0"])
    assert _positional("SELECT %%(x)s, %(a)s") == ("SELECT %%(x)s, %s", ["a"])
    assert _positional("SELECT %(a)s WHERE b = %(a)s") == ("SELECT %(a)s WHERE b = %(a)s", None)


def test_on_psycopg_statements_use_postgresqls_own_numbered_placeholders():
    """psycopg 3 runs them on a RawCursor, which does not parse the text (its default cursor split the
    batch INSERT with a regular expression at every execution): ``%(name)s`` becomes ``$n``, a name
    used twice keeps its number, an escaped ``%%`` becomes ``%``."""
    from hub.storage.fastsql import FastStatement, FastWriter, _numbered

    assert _numbered("INSERT INTO t (a, b) VALUES (%(a_0)s::VARCHAR, %(b_0)s) -- 100%%") == (
        "INSERT INTO t (a, b) VALUES ($1::VARCHAR, $2) -- 100%", ["a_0", "b_0"])
    assert _numbered("SELECT %%(x)s, %(a)s WHERE b = %(a)s AND c = %(c)s") == (
        "SELECT %(x)s, $1 WHERE b = $1 AND c = $2", ["a", "c"])

    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")    # never connects
    twice = (Event.dedupe_key == sa.bindparam("k")) | (Event.event_id == sa.bindparam("c"))
    statement = FastStatement(engine, sa.select(Event.id).where(Event.connection_id == sa.bindparam("c"), twice))
    assert "%" not in statement.sql and statement.sql.count("$1") == 2 and "$2" in statement.sql
    assert statement.order == ["c", "k"]
    assert FastWriter(engine)._cursor is psycopg.RawCursor
