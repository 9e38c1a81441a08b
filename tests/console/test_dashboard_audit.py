"""The dashboard and the audit trail in a real browser: counts per outcome, latency, queue depths and
live workers, drawn as server-side SVG charts; the audit trail filtered by action prefix, object
and actor."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from hub.storage.queue import get_queue
from hub.testing import Receiver, Reply, settle
from hub.worker.liveness import mark_alive
from tests.conftest import ADMIN_TOKEN
from tests.console.browser import shoot, sign_in
from tests.console.conftest import PHONE
from tests.console.scenario import github_source, post_signed, route, webhook_target

BY_PATH = {"/ok": Reply(200), "/gone": Reply(410), "/down": Reply(500)}


#: A latency as the console writes it (``87 ms``, ``1.1 s``, ``2 min 5 s``): how long depends on the machine's load.
DURATION = re.compile(r"^(\d+ ms|\d+\.\d s|\d+ min \d+ s|\d+ h \d+ min)$")


def test_the_dashboard_shows_outcomes_latency_queues_and_workers(app, api, live, redis_client, page, new_page):
    with Receiver(default=lambda got: BY_PATH[got.path]) as receiver:
        source = github_source(api)
        targets = [webhook_target(api, receiver.url + path, name=name, channel_config={"retry_schedule": []})["id"]
                   for path, name in (("/ok", "fine"), ("/gone", "gone"), ("/down", "down"))]
        route(api, source["id"], *targets)
        for n in range(2):
            assert post_signed(live, source, {"action": "opened", "n": n}).status_code == 200
        settle(app, lambda: len(receiver) == 6)
        settle(app, lambda: not api.get("/deliveries?status=queued").json["items"])
    mark_alive(redis_client, "console-test-worker")
    get_queue("maintenance", app).enqueue("builtins.print")       # one job waiting

    sign_in(page, ADMIN_TOKEN)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Dashboard").click()
    day = page.get_by_role("region", name="Last 24 hours")
    for label, value in (("Events received", "2"), ("Delivered", "2"), ("Failed", "2"), ("Dead", "2")):
        expect(day.locator("dl.stats div", has=page.get_by_text(label, exact=True)).locator("dd")).to_have_text(value)
    expect(day.locator("dl.stats div", has_text="Latency p50").locator("dd")).to_have_text(DURATION)
    chart = day.get_by_role("img", name="Deliveries per hour by outcome, last 24 hours")
    expect(chart).to_be_visible()
    expect(chart.locator("desc")).to_have_text("Totals: Delivered: 2; Failed: 2; Dead: 2.")
    expect(chart.locator("rect.bar-dead")).to_have_count(1)
    expect(page.get_by_role("region", name="Last 7 days").get_by_role("img")).to_have_count(2)
    queues = page.get_by_role("region", name="Queues and workers")
    expect(queues).to_contain_text("1 live worker")
    maintenance = queues.get_by_role("row", name=re.compile("^maintenance"))
    expect(maintenance).to_have_text(re.compile(r"maintenance\s*1\s*0\s*0"))
    per_connection = page.get_by_role("table", name=re.compile("Each connection"))
    expect(per_connection.get_by_role("row", name=re.compile("^github")).locator("td").first).to_have_text("2")
    expect(per_connection.get_by_role("row", name=re.compile("^down")).locator("[data-label='Deliveries 24 h']")
           ).to_have_text(re.compile(r"0\s*/\s*0\s*/\s*2"))
    expect(per_connection.get_by_role("img", name=re.compile("Events per hour of github"))).to_be_visible()
    assert "<script" not in page.locator("main").inner_html()          # drawn on the server
    shoot(page, "dashboard")
    phone = new_page(PHONE)
    sign_in(phone, ADMIN_TOKEN)
    shoot(phone, "dashboard-phone")


def test_the_dashboard_says_when_redis_does_not_answer(app, page, monkeypatch):
    import redis

    def down(*_args, **_kw):
        raise redis.ConnectionError("Redis is away")

    monkeypatch.setattr("hub.worker.status.Queue.count", property(down))
    sign_in(page, ADMIN_TOKEN)
    expect(page.get_by_role("region", name="Queues and workers")).to_contain_text("Redis did not answer")
    expect(page.get_by_role("region", name="Last 24 hours")).to_be_visible()


def test_the_audit_trail_filters_by_action_prefix_object_and_actor(api, receiver, page):
    source = github_source(api)
    target = webhook_target(api, receiver.url + "/hook")
    route(api, source["id"], target["id"])
    api.post(f"/connections/{source['id']}/deactivate")
    sign_in(page, ADMIN_TOKEN)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Audit").click()
    rows = page.locator("tbody tr")
    expect(rows.filter(has_text="route.created")).to_have_count(1)
    page.get_by_label("Action").fill("connection.*")
    page.get_by_role("button", name="Filter").click()
    actions = rows.locator("[data-label=Action]")
    expect(actions).to_have_text(["connection.deactivated", "connection.created", "connection.created"])
    page.get_by_label("Object").fill(source["id"])
    page.get_by_role("button", name="Filter").click()
    expect(actions).to_have_text(["connection.deactivated", "connection.created"])
    expect(rows.first.locator("[data-label=Actor]")).to_contain_text("bootstrap")   # the token's name, then its id
    shoot(page, "audit-filtered")
    page.get_by_label("Actor").fill("system")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No records match these filters.")).to_be_visible()
    page.get_by_role("link", name="Clear filters").click()
    expect(page.get_by_label("Action")).to_have_value("")
    expect(rows.filter(has_text="route.created")).to_have_count(1)
