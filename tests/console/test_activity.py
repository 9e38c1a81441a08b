"""Events, Deliveries and Failed triggers in a real browser: a signed event shows in Events with its
payload, headers and raw body, and its delivery in Deliveries with the attempts timeline; a refused
request shows in Failed triggers with its cause; Retry a dead delivery, retry a connection's dead
letters at once, Replay an event; filter events by type; long lists page with the cursors."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from hub.testing import Reply, settle
from tests.conftest import ADMIN_TOKEN
from tests.console.browser import shoot, sign_in
from tests.console.conftest import PHONE
from tests.console.scenario import github_source, post_signed, route, webhook_target


def go(page, link: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=link, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(link)


def test_a_signed_event_shows_in_events_and_its_delivery_in_deliveries(app, api, live, receiver, page, new_page):
    receiver.reply(Reply(202, body={"ok": True}))
    source = github_source(api)
    target = webhook_target(api, receiver.url + "/hook")
    route(api, source["id"], target["id"], template={"text": "{{ payload.action }} #{{ payload.number }}"})
    answer = post_signed(live, source, {"action": "opened", "number": 7, "text": "a pull request"},
                         event="pull_request")
    assert answer.status_code == 200, answer.text
    settle(app, lambda: len(receiver) == 1)

    sign_in(page, ADMIN_TOKEN)
    go(page, "Events")
    row = page.get_by_role("row", name=re.compile("pull_request"))
    expect(row.locator("[data-label=Connection]")).to_have_text("github")
    expect(row.locator("[data-label=Status]")).to_have_text("routed")
    shoot(page, "events-list")
    row.get_by_role("link", name=re.compile("^evt_")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Event evt_")
    expect(page.get_by_role("region", name="The payload, pretty-printed")).to_contain_text('"number": 7')
    expect(page.get_by_role("row", name=re.compile("X-GitHub-Event", re.IGNORECASE))).to_contain_text("pull_request")
    expect(page.get_by_role("region", name="The raw body as received")).to_have_text(answer.request.body.decode())
    shoot(page, "event-detail")

    page.get_by_role("table", name=re.compile("routed to")).get_by_role("link", name=re.compile("^dlv_")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Delivery dlv_")
    expect(page.get_by_role("region", name="The message, pretty-printed")).to_contain_text('"text": "opened #7"')
    attempt = page.locator("ol.timeline li")
    expect(attempt).to_have_count(1)
    expect(attempt).to_contain_text("HTTP 202")
    expect(attempt).to_contain_text(re.compile(r"in \d+ ms"))
    shoot(page, "delivery-detail")
    go(page, "Deliveries")
    row = page.get_by_role("row", name=re.compile("ops hook"))
    expect(row.locator("[data-label=Status]")).to_have_text("delivered")
    shoot(page, "deliveries-list")

    phone = new_page(PHONE)
    sign_in(phone, ADMIN_TOKEN)
    go(phone, "Events")
    shoot(phone, "events-list-phone")
    go(phone, "Deliveries")
    phone.get_by_role("link", name=re.compile("^dlv_")).click()
    shoot(phone, "delivery-detail-phone")


def test_a_rejected_request_shows_in_failed_triggers_with_its_cause(api, live, page):
    source = github_source(api)
    assert post_signed(live, source, {"action": "opened"}, secret="not the secret").status_code == 401
    sign_in(page, ADMIN_TOKEN)
    go(page, "Failed triggers")
    row = page.get_by_role("row", name=re.compile("signature_invalid"))
    expect(row.locator("[data-label=Connection]")).to_have_text("github")
    expect(row.locator("[data-label=Answer]")).to_contain_text("401")
    expect(row.locator("[data-label=Cause]")).to_contain_text("signature")
    expect(row.locator("[data-label=Request]")).to_contain_text(f"POST /hooks/hmac/{source['id']}")
    shoot(page, "failed-triggers")
    page.get_by_label("Cause").select_option("rate_limited")          # a filter that matches nothing
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No refused requests match these filters.")).to_be_visible()


def test_retry_a_dead_delivery_and_then_the_dead_letters_of_a_connection(app, api, live, receiver, page):
    receiver.reply(Reply(500), Reply(500), Reply(500))
    source = github_source(api)
    target = webhook_target(api, receiver.url + "/hook", channel_config={"retry_schedule": []})   # dead at once
    route(api, source["id"], target["id"])
    for n in range(3):
        assert post_signed(live, source, {"action": "opened", "number": n}).status_code == 200
    settle(app, lambda: len(api.get("/deliveries?status=dead").json["items"]) == 3)

    sign_in(page, ADMIN_TOKEN)
    go(page, "Deliveries")
    page.get_by_label("Status").select_option("dead")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row", name=re.compile("dead"))).to_have_count(3)
    page.get_by_role("link", name=re.compile("^dlv_")).first.click()
    expect(page.locator("ol.timeline li")).to_contain_text("HTTP 500")
    shoot(page, "delivery-dead")
    page.get_by_role("button", name="Retry", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("queued to be sent again")
    delivery_id = page.url.rsplit("/", 1)[1]
    settle(app, lambda: api.get(f"/deliveries/{delivery_id}").json["status"] == "delivered")
    page.reload()
    expect(page.locator(".page-head .badge")).to_have_text("delivered")
    expect(page.locator("ol.timeline li")).to_have_count(2)

    go(page, "Deliveries")
    page.get_by_label("Connection").select_option(label="ops hook")
    page.get_by_role("button", name="Filter").click()
    dead_letters = page.get_by_role("region", name="Dead letters of ops hook")
    expect(dead_letters).to_contain_text("2 deliveries to this connection spent every retry")
    shoot(page, "deliveries-dead-letters")
    dead_letters.get_by_role("button", name="Retry", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("2 dead deliveries of 'ops hook' queued")
    settle(app, lambda: len(api.get("/deliveries?status=delivered").json["items"]) == 3)
    assert len(receiver) == 6


def test_replay_an_event(app, api, live, receiver, page):
    source = github_source(api)
    target = webhook_target(api, receiver.url + "/hook")
    route(api, source["id"], target["id"])
    assert post_signed(live, source, {"action": "closed"}).status_code == 200
    settle(app, lambda: len(receiver) == 1)
    sign_in(page, ADMIN_TOKEN)
    go(page, "Events")
    page.get_by_role("link", name=re.compile("^evt_")).click()
    deliveries = page.get_by_role("table", name=re.compile("routed to")).locator("tbody tr")
    expect(deliveries).to_have_count(1)
    page.get_by_role("button", name="Replay", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Replayed: 1 new delivery")
    settle(app, lambda: len(receiver) == 2)
    page.reload()
    expect(deliveries).to_have_count(2)
    first, second = receiver.wait_for(2)
    assert first.body == second.body and first.headers["webhook-id"] != second.headers["webhook-id"]


def test_filter_events_by_type_and_page_through_them(app, api, live, page, monkeypatch):
    monkeypatch.setattr("hub.web.console.events.PAGE_SIZE", 2)
    source = github_source(api)
    for event in ("push", "issues", "push", "push"):
        assert post_signed(live, source, {"action": "opened", "what": event}, event=event).status_code == 200
    sign_in(page, ADMIN_TOKEN)
    go(page, "Events")
    page.get_by_label("Type").fill("push")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)                                  # a page of two: three pushes in all
    expect(rows.locator("[data-label=Type]")).to_have_text(["push", "push"])
    shoot(page, "events-filtered")
    page.get_by_role("link", name="Older").click()
    expect(rows).to_have_count(1)
    expect(rows.locator("[data-label=Type]")).to_have_text(["push"])
    expect(page.get_by_label("Type")).to_have_value("push")        # the filter carries over to the next page
    expect(page.get_by_role("link", name="Older")).to_have_count(0)
    page.get_by_label("Type").fill("iss*")
    page.get_by_role("button", name="Filter").click()
    expect(rows.locator("[data-label=Type]")).to_have_text(["issues"])
