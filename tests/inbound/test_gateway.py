"""The inbound route's ordered checks and answers, against the running app (generic provider)."""

import hashlib
import json
import time
from contextlib import closing

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from hub.storage.db import get_database
from hub.storage.models import Event
from hub.testing import AdminClient, make_app


@pytest.fixture
def conn(api):
    created = api.post("/connections", json={"name": "crm deals", "provider": "generic",
                                             "field_map": {"event_id": "deal.id", "text": ["note", "title"],
                                                           "event_ts": "at", "channel": "team"},
                                             "default_channel": "general"}).json
    created["key"] = created["inbound_url"].split("key=")[1]
    created["path"] = f"/hooks/generic/{created['id']}"
    return created


def post(client, conn, body=b"{}", *, key=None, content_type="application/json", path=None, **kw):
    key = conn["key"] if key is None else key
    url = (path or conn["path"]) + (f"?key={key}" if key else "")
    return client.post(url, data=body, content_type=content_type, **kw)


def failures(api, conn=None):
    return api.get("/failures" + (f"?connection={conn['id']}" if conn else "")).json["items"]


def test_accepted_event_is_stored_with_its_envelope(client, api, conn):
    body = json.dumps({"deal": {"id": 42}, "note": "won ✓", "at": 1700000000123, "team": "sales"}).encode()
    r = post(client, conn, body, headers={"X-Trace": "a"})
    assert r.status_code == 200
    assert r.json["status"] == "accepted" and r.json["event_id"] == "42" and r.json["id"].startswith("evt_")
    event = api.get(f"/events/{r.json['id']}").json
    assert event["status"] == "accepted"
    assert event["payload"]["note"] == "won ✓"
    assert event["text"] == "won ✓" and event["channel"] == "sales"
    assert event["event_ts"] == "2023-11-14T22:13:20.123Z"
    assert event["headers"]["X-Trace"] == ["a"]
    assert event["raw_body"] == body.decode()
    assert "key" not in event["query"]
    assert api.get(f"/events?connection={conn['id']}").json["items"][0]["id"] == r.json["id"]


def test_the_events_api_answers_the_stored_envelope_whole(app, client, api, conn):
    """The answer goes through the API's schema of an event (its OpenAPI document), which must not
    filter the envelope: a key the inbound path adds is shown before the schema names it."""
    r = post(client, conn, b'{"type": "deal.won", "note": "hi"}')
    with get_database(app).session() as session:
        event = session.get(Event, r.json["id"])
        event.envelope = {**event.envelope, "added_later": {"x": [1]}}
        session.commit()
        stored = dict(event.envelope)
    for item in (api.get(f"/events/{r.json['id']}").json, api.get("/events").json["items"][0]):
        assert {key: item[key] for key in stored} == stored


def test_key_in_header_works_and_query_key_is_redacted_from_envelope(client, api, conn):
    r = post(client, conn, b'{"deal": {"id": 1}}', key="", headers={"X-Hookhub-Key": conn["key"]})
    assert r.status_code == 200
    envelope = api.get(f"/events/{r.json['id']}").json
    assert envelope["headers"]["X-Hookhub-Key"] == ["[redacted]"]


def test_fallbacks_event_id_is_body_hash_and_channel_is_default(client, api, conn):
    body = b'{"title": "no id here"}'
    r = post(client, conn, body)
    assert r.json["event_id"] == hashlib.sha256(body).hexdigest()
    event = api.get(f"/events/{r.json['id']}").json
    assert event["channel"] == "general" and event["text"] == "no id here" and event["event_ts"] is None


def test_repeated_event_id_is_a_duplicate_and_stored_once(app, client, conn):
    first = post(client, conn, b'{"deal": {"id": 7}}')
    second = post(client, conn, b'{"deal": {"id": 7}, "retry": true}')
    assert first.json["status"] == "accepted"
    assert second.status_code == 200 and second.json == {"status": "duplicate", "id": first.json["id"],
                                                         "event_id": "7"}
    with get_database(app).session() as s:
        assert s.query(Event).filter_by(connection_id=conn["id"]).count() == 1


def test_unknown_and_inactive_connections_are_404(client, api, conn):
    r = client.post("/hooks/generic/con_doesnotexist?key=x", data=b"{}")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    api.post(f"/connections/{conn['id']}/deactivate")
    r = post(client, conn)
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    api.post(f"/connections/{conn['id']}/activate")
    assert post(client, conn).status_code == 200


def test_provider_segment_mismatch_is_400(client, conn):
    r = post(client, conn, path=f"/hooks/slack/{conn['id']}")
    assert r.status_code == 400 and r.json["error"]["code"] == "provider_mismatch"
    assert "/hooks/generic/" in r.json["error"]["message"]


def test_missing_and_wrong_key_are_401(client, conn):
    r = post(client, conn, key="")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    assert "missing" in r.json["error"]["message"]
    r = post(client, conn, key="wrong")
    assert r.status_code == 401 and "not valid" in r.json["error"]["message"]


def test_old_key_stops_working_after_reset(client, api, conn):
    assert post(client, conn).status_code == 200
    new_url = api.post(f"/connections/{conn['id']}/reset-key").json["url"]
    assert post(client, conn, b'{"a": 2}').status_code == 401
    assert client.post(new_url.replace("http://hub.test", ""), data=b'{"a": 3}',
                       content_type="application/json").status_code == 200


def test_body_over_limit_is_413_from_content_length_before_the_key(client, conn):
    body = b"x" * (1024 * 1024 + 1)
    r = post(client, conn, body, key="wrong", content_type="text/plain")
    assert r.status_code == 413 and r.json["error"]["code"] == "payload_too_large"
    assert post(client, conn, b"x" * (1024 * 1024), content_type="text/plain").status_code == 200


def test_chunked_body_over_limit_is_413_while_reading(app, api):
    conn = api.post("/connections", json={"name": "small", "provider": "generic",
                                          "provider_config": {"max_body_bytes": 100}}).json
    url = conn["inbound_url"].replace("http://hub.test", "")
    status, body = _post_chunked(app, url, b"y" * 150)
    assert status.startswith("413") and json.loads(body)["error"]["code"] == "payload_too_large"
    status, body = _post_chunked(app, url, b"y" * 90)
    assert status == "200 OK", body


def _post_chunked(app, url, data):
    """A body without Content-Length (as a WSGI server presents a chunked upload)."""
    builder = EnvironBuilder(path=url, method="POST", data=data, content_type="text/plain")
    environ = builder.get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    app_iter, status, _headers = run_wsgi_app(app, environ)
    return status, b"".join(app_iter)


def test_unparsable_json_is_400_and_other_types_are_raw_text(client, api, conn):
    r = post(client, conn, b"{not json")
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_payload"
    r = post(client, conn, "plain ünïcode".encode(), content_type="text/plain")
    assert api.get(f"/events/{r.json['id']}").json["payload"] == "plain ünïcode"


def test_form_and_multipart_payloads(client, api, conn):
    r = post(client, conn, b"deal.id=5&note=hi&tag=a&tag=b", content_type="application/x-www-form-urlencoded")
    payload = api.get(f"/events/{r.json['id']}").json["payload"]
    assert payload == {"deal.id": "5", "note": "hi", "tag": ["a", "b"]}
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nreport\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--{boundary}--\r\n").encode()
    r = post(client, conn, body, content_type=f"multipart/form-data; boundary={boundary}")
    payload = api.get(f"/events/{r.json['id']}").json["payload"]
    assert payload == {"title": "report", "file": {"filename": "a.csv", "content_type": "text/csv", "size": 8}}


def test_get_without_a_handshake_is_405(client, conn):
    r = client.get(f"{conn['path']}?key={conn['key']}")
    assert r.status_code == 405 and r.json["error"]["code"] == "method_not_allowed"


def test_every_rejection_is_recorded_as_a_failure(client, api, conn):
    post(client, conn, key="wrong")
    post(client, conn, b"{bad", headers={"X-Secret-Header": "v"})
    client.post("/hooks/generic/con_nope?key=x", data=b"zzz")
    items = failures(api, conn)
    assert [f["code"] for f in items] == ["invalid_payload", "unauthorized"]
    bad = items[0]
    assert bad["status"] == 400 and bad["body_sha256"] == hashlib.sha256(b"{bad").hexdigest()
    assert "x-secret-header" in bad["header_names"] and bad["remote_addr"]
    assert "key=" not in (bad["path"] or "")
    assert any(f["code"] == "not_found" and f["connection"] is None for f in failures(api))


def test_failures_are_capped_per_minute(app, client, conn, api):
    app.config["HOOKHUB_FAILURES_PER_MINUTE"] = 3
    for _ in range(6):
        assert post(client, conn, key="wrong").status_code == 401
    assert len(failures(api, conn)) == 3


def test_over_the_cap_a_rejection_costs_one_redis_command(app, client, redis_client):
    app.config["HOOKHUB_FAILURES_PER_MINUTE"] = 1
    unknown = "/hooks/generic/con_00000000000000000000000000"
    for _ in range(2):                                    # over the cap now (the minute's count is shared)
        assert client.post(unknown, json={}).status_code == 404
    for _ in range(2):                                    # again, should the minute have turned meanwhile
        minute = int(time.time() // 60)
        redis_client.config_resetstat()
        for _ in range(3):
            assert client.post(unknown, json={}).status_code == 404
        if int(time.time() // 60) == minute:
            break
    asked = redis_client.info("commandstats")
    assert asked["cmdstat_incrby"]["calls"] == 3, asked  # the dropped count; the minute's is known over
    assert "cmdstat_expire" not in asked and "cmdstat_exec" not in asked, asked


def test_accepted_event_waits_in_the_outbox_for_the_pump(app, client, conn, redis_client):
    from rq import Queue

    from hub.inbound.handoff import drain

    r = post(client, conn, b'{"deal": {"id": 1}}')
    queue = Queue("ingest", connection=redis_client)
    assert queue.job_ids == []                   # the request itself never touched Redis
    assert drain(app) == 1
    with get_database(app).session() as s:
        event = s.get(Event, r.json["id"])
        assert event.enqueued_at is not None and queue.job_ids == [event.route_job]
    assert queue.fetch_job(event.route_job).args == ([r.json["id"]],)
    assert drain(app) == 0                       # claimed once


def test_redis_down_still_accepts_and_stores(tmp_path, api, settings):
    with closing(make_app(tmp_path / "instance", "redis://127.0.0.1:1/0", **settings)) as app:
        client = app.test_client()
        created = AdminClient(app).post("/connections", json={"name": "no redis", "provider": "generic"}).json
        url = created["inbound_url"].replace("http://hub.test", "")
        r = client.post(url, data=b'{"event_id": "e1"}', content_type="application/json")
        assert r.status_code == 200 and r.json["status"] == "accepted"
        dup = client.post(url, data=b'{"event_id": "e1"}', content_type="application/json")
        assert dup.json["status"] == "duplicate"      # dedupe falls back to the database
        with get_database(app).session() as s:
            assert s.get(Event, r.json["id"]).status == "accepted"


def test_rate_limit_answers_429_with_retry_after(client, api):
    created = api.post("/connections", json={"name": "limited", "provider": "generic",
                                             "provider_config": {"rate_limit": "3/minute"}}).json
    url = created["inbound_url"].replace("http://hub.test", "")
    answers = [client.post(url, json={"n": n}) for n in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    limited = answers[3]
    assert limited.json["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert any(f["code"] == "rate_limited" for f in failures(api))


def test_bad_rate_limit_is_a_validation_error(api):
    r = api.post("/connections", json={"name": "bad limit", "provider": "generic",
                                       "provider_config": {"rate_limit": "lots"}})
    assert r.status_code == 422
    assert "rate limit" in str(r.json["error"]["fields"]["provider_config"]["rate_limit"])


def test_dedupe_window_zero_turns_dedupe_off(client, api):
    created = api.post("/connections", json={"name": "no dedupe", "provider": "generic",
                                             "provider_config": {"dedupe_window": 0}}).json
    url = created["inbound_url"].replace("http://hub.test", "")
    answers = [client.post(url, json={"event_id": "same"}).json for _ in range(2)]
    assert [a["status"] for a in answers] == ["accepted", "accepted"]
    assert answers[0]["id"] != answers[1]["id"]


def test_concurrent_duplicates_are_accepted_once(app, conn):
    from concurrent.futures import ThreadPoolExecutor

    def send(_):
        return post(app.test_client(), conn, b'{"deal": {"id": 500}}').json

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(16)))
    assert sorted(a["status"] for a in answers) == ["accepted"] + ["duplicate"] * 15
    assert len({a["id"] for a in answers}) == 1


def test_same_event_id_after_the_window_is_a_new_event(app, client, conn, redis_client):
    import sqlalchemy as sa

    first = post(client, conn, b'{"deal": {"id": 501}}')
    redis_client.flushall()
    with get_database(app).session() as s:       # the window passed; the sweeper has not run yet
        s.execute(sa.update(Event).values(received_at=datetime_days_ago(2)))
    again = post(client, conn, b'{"deal": {"id": 501}}')
    assert again.json["status"] == "accepted" and again.json["id"] != first.json["id"]


def test_sweeper_frees_event_ids_after_their_window(app, client, conn):
    import sqlalchemy as sa

    from hub.worker.sweeper import sweep

    post(client, conn, b'{"deal": {"id": 502}}')
    with get_database(app).session() as s:
        s.execute(sa.update(Event).values(received_at=datetime_days_ago(2)))
    assert sweep(app, force=True)["dedupe_keys_expired"] == 1
    with get_database(app).session() as s:
        assert s.scalar(sa.select(Event.dedupe_key)) is None


def datetime_days_ago(days):
    from datetime import timedelta

    from hub.core.times import utcnow

    return utcnow() - timedelta(days=days)
