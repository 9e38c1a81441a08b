"""``GET /metrics`` in one process: the counters move with inbound requests and delivery attempts,
the gauges say what waits now, and ``HOOKHUB_METRICS_TOKEN`` closes it. (Several processes adding
up their counters: tests/e2e/test_metrics_processes.py.)"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.testing import Reply, make_app, settle
from tests.delivery.conftest import all_settled, make_route, make_source, make_target


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_inbound_outcomes_are_counted(api, client):
    _, path = make_source(api)
    before = scrape(client)
    assert client.post(path, json={"n": 1}, headers={"X-Event-Id": "m-1"}).status_code == 200
    assert client.post(path, json={"n": 1}, headers={"X-Event-Id": "m-1"}).json["status"] == "duplicate"
    assert client.post(path.replace("key=", "key=wrong"), json={}).status_code == 401
    after = scrape(client)
    for outcome, n in (("accepted", 1), ("duplicate", 1), ("unauthorized", 1)):
        assert value(after, "hookhub_inbound_requests_total", outcome=outcome) \
            - value(before, "hookhub_inbound_requests_total", outcome=outcome) == n, outcome


def test_delivery_outcomes_and_latency_are_counted(app, api, client, receiver):
    source, path = make_source(api)
    good = make_target(api, receiver.url + "/ok", name="ok target")
    make_route(api, source, [good])
    before = scrape(client)
    for n in range(3):
        assert client.post(path, json={"n": n}).status_code == 200
    settle(app, all_settled(api, 3), message="three deliveries")
    after = scrape(client)
    assert value(after, "hookhub_deliveries_total", outcome="delivered") \
        - value(before, "hookhub_deliveries_total", outcome="delivered") == 3
    assert value(after, "hookhub_delivery_seconds_count") - value(before, "hookhub_delivery_seconds_count") == 3
    assert value(after, "hookhub_delivery_seconds_sum") > value(before, "hookhub_delivery_seconds_sum")


def test_retries_and_dead_deliveries_are_counted(app, api, client, receiver):
    receiver.reply(*[Reply(503, "down")] * 10)
    source, path = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/down", name="down target")])
    before = scrape(client)
    assert client.post(path, json={"n": 1}).status_code == 200
    settle(app, all_settled(api, 1), message="the delivery to die")
    after = scrape(client)
    schedule = len(app.config["HOOKHUB_RETRY_SCHEDULE"])

    def moved(outcome):
        return value(after, "hookhub_deliveries_total", outcome=outcome) \
            - value(before, "hookhub_deliveries_total", outcome=outcome)

    assert (moved("retry"), moved("dead"), moved("delivered")) == (schedule, 1, 0)


def test_gauges_read_what_waits_now(app, api, client, receiver):
    source, path = make_source(api)
    r = api.post("/connections", json={"name": "held", "channel": "webhook", "approval": "manual",
                                       "channel_config": {"url": receiver.url + "/held"}})
    held = r.json["id"]
    make_route(api, source, [held])
    assert client.post(path, json={"n": 1}).status_code == 200
    settle(app, lambda: api.get("/approvals?status=pending").json["items"], message="an approval")
    samples = scrape(client)
    assert value(samples, "hookhub_approvals_pending") == 1
    assert {"ingest", "deliver"} <= {dict(labels)["queue"] for name, labels in samples
                                     if name == "hookhub_queue_depth"}
    assert value(samples, "hookhub_connections_inactive") == 0
    api.post(f"/connections/{held}/deactivate")
    assert value(scrape(client), "hookhub_connections_inactive") == 1


@pytest.fixture
def closed(tmp_path, settings, redis_url):
    app = make_app(tmp_path / "instance", redis_url, **{**settings, "HOOKHUB_METRICS_TOKEN": "scrape-me-0123456789"})
    yield app.test_client()
    app.close()


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic c2NyYXBlLW1lLTAxMjM0NTY3ODk=", "scrape-me-0123456789"])
def test_a_metrics_token_refuses_any_other_authorization(closed, header):
    r = closed.get("/metrics", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthorized" and "HOOKHUB_METRICS_TOKEN" in r.json["error"]["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_metrics_token_opens_it(closed):
    assert scrape(closed, Authorization="Bearer scrape-me-0123456789") is not None


def test_a_scrape_skips_the_file_a_process_has_just_created(tmp_path, monkeypatch):
    """A process creates its samples file empty, then sizes it; a scrape in between reads the rest."""
    from prometheus_client import generate_latest
    from prometheus_client.values import MultiProcessValue

    from hub.runtime import metrics

    web = tmp_path / "metrics" / "web"
    web.mkdir(parents=True)
    (web / "counter_4000001.db").write_bytes(b"")           # just created by another process
    monkeypatch.setenv(metrics.FOLDER_VARIABLE, str(web))
    value = MultiProcessValue(process_identifier=lambda: 4000002)("counter", "hookhub_inbound_requests",
                                                                  "hookhub_inbound_requests_total", ("outcome",),
                                                                  ("accepted",), "")
    value.inc(3)
    text = generate_latest(metrics.registry(str(tmp_path))).decode()
    assert 'hookhub_inbound_requests_total{outcome="accepted"} 3.0' in text
