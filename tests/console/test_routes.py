"""Routes in a real browser: add a route with match rows, event types and a templated target; edit
one and watch the live preview follow the template as it is typed (rendered against a recent event
of the source, nothing sent); the form's refusals next to its rows; a lifecycle route."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from hub.testing import settle
from tests.conftest import ADMIN_TOKEN
from tests.console.browser import shoot, sign_in
from tests.console.conftest import PHONE
from tests.console.scenario import github_source, post_signed, route, webhook_target


def test_add_a_route_with_a_rule_event_types_and_a_template_and_it_routes(app, api, live, receiver, page):
    source = github_source(api)
    webhook_target(api, receiver.url + "/hook")
    sign_in(page, ADMIN_TOKEN)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Routes").click()
    expect(page.get_by_text("No routes yet.")).to_be_visible()
    page.get_by_role("button", name="Add route").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add route")
    page.get_by_label("Name").fill("escalations")
    page.get_by_label("Source").select_option(label="github (hmac)")
    page.get_by_label("Event types").fill("issues, pull_*")
    rule = page.locator("#route-match [data-row]").first
    rule.get_by_label("Path").fill("payload.action")
    rule.get_by_label("Op").select_option("in")
    rule.get_by_label("Value").fill("opened, reopened")
    target = page.locator("#route-targets [data-row]").first
    target.get_by_label("Connection").select_option(label="ops hook (webhook)")
    target.get_by_label("Template").fill('{"text": "{{ payload.action }}: {{ type }}"}')
    page.get_by_role("button", name="Add a rule").click()               # the page's script adds a row
    expect(page.locator("#route-match [data-row]")).to_have_count(2)
    expect(page.get_by_label("Path").last).to_be_focused()
    shoot(page, "route-new")
    page.get_by_role("button", name="Add route").click()
    expect(page.get_by_role("status")).to_contain_text("Route 'escalations' added.")
    expect(page.get_by_role("heading", level=1)).to_have_text("escalations")
    expect(page.get_by_role("row", name=re.compile("payload.action"))).to_contain_text('["opened", "reopened"]')
    shoot(page, "route-detail")

    [saved] = api.get("/routes").json["items"]
    assert saved["match"] == [{"path": "payload.action", "op": "in", "value": ["opened", "reopened"]}]
    for event, action in (("issues", "opened"), ("push", "opened"), ("pull_request", "closed"),
                          ("pull_request", "reopened")):
        assert post_signed(live, source, {"action": action}, event=event).status_code == 200
    settle(app, lambda: len(receiver) == 2)
    assert sorted(got.json()["text"] for got in receiver) == ["opened: issues", "reopened: pull_request"]


def test_editing_a_route_template_changes_the_live_preview(app, api, live, receiver, page, new_page):
    source = github_source(api)
    target = webhook_target(api, receiver.url + "/hook")
    saved = route(api, source["id"], target["id"], template={"text": "#{{ payload.number }}"})
    assert post_signed(live, source, {"action": "opened", "number": 41}).status_code == 200
    sign_in(page, ADMIN_TOKEN)
    page.goto(f"/console/routes/{saved['id']}")
    page.get_by_role("button", name="Edit").click()
    preview = page.locator("#route-preview")
    expect(preview).to_contain_text("it matches")                     # shown at once, for the latest event
    expect(preview.locator("[data-preview-body]")).to_contain_text('"text": "#41"')
    template = page.get_by_label("Template").first
    template.fill('{"text": "PR {{ payload.number }} was {{ payload.action }}", "n": "{{ payload.number }}"}')
    expect(preview.locator("[data-preview-body]")).to_contain_text('"text": "PR 41 was opened"')   # no click
    expect(preview.locator("[data-preview-body]")).to_contain_text('"n": 41')    # one expression keeps its type
    shoot(page, "route-edit-preview")
    template.fill('{"text": "{{ payload.number | nope }}"}')
    expect(preview).to_contain_text("template:")                       # the renderer's own words
    page.locator("#route-match [data-row]").first.get_by_label("Path").fill("payload.action")
    page.locator("#route-match [data-row]").first.get_by_label("Value").fill("closed")
    expect(preview).to_contain_text("it does not match")
    assert len(receiver) == 0                                          # a preview sends nothing

    template.fill('{"text": "done: {{ payload.action }}"}')
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    assert api.get(f"/routes/{saved['id']}").json["targets"][0]["template"] == {"text": "done: {{ payload.action }}"}

    phone = new_page(PHONE)
    sign_in(phone, ADMIN_TOKEN)
    phone.goto(f"/console/routes/{saved['id']}/edit")
    expect(phone.locator("#route-preview")).to_contain_text("does not match")
    shoot(phone, "route-edit-phone")


def test_the_preview_button_works_without_the_script(api, live, browser, receiver):
    source = github_source(api)
    target = webhook_target(api, receiver.url + "/hook")
    saved = route(api, source["id"], target["id"], template={"text": "#{{ payload.number }}"})
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, ADMIN_TOKEN)
        page.goto(f"/console/routes/{saved['id']}/edit")
        expect(page.get_by_role("button", name="Add a rule")).to_be_hidden()   # the script adds rows
        page.get_by_label("Event", exact=True).select_option("sample")
        page.get_by_label("Sample payload").fill('{"number": 5}')
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#route-preview [data-preview-body]")).to_contain_text('"text": "#5"')
        expect(page.get_by_label("Sample payload")).to_have_value('{"number": 5}')
    finally:
        context.close()


def test_the_form_shows_refusals_next_to_their_rows(api, receiver, page):
    github_source(api)
    webhook_target(api, receiver.url + "/hook")
    sign_in(page, ADMIN_TOKEN)
    page.goto("/console/routes/new")
    page.get_by_label("Path").first.fill("payload[")
    page.get_by_label("Template").first.fill("{not json")
    page.get_by_role("button", name="Add route").click()
    expect(page.get_by_role("alert")).to_contain_text("Template: must be JSON")
    page.get_by_label("Connection").first.select_option(label="ops hook (webhook)")
    page.get_by_label("Template").first.fill("")
    page.get_by_role("button", name="Add route").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Name: give a name")
    expect(alert).to_contain_text("Rule 1:")
    expect(page.locator("#match-0-error")).to_be_visible()
    expect(page.get_by_label("Path").first).to_have_value("payload[")        # what was typed stays
    shoot(page, "route-form-errors")
    assert api.get("/routes").json["items"] == []


def test_a_route_of_lifecycle_events(api, receiver, page):
    webhook_target(api, receiver.url + "/hook")
    sign_in(page, ADMIN_TOKEN)
    page.goto("/console/routes/new")
    page.get_by_label("Name").fill("dead letters to ops")
    page.get_by_label("Source").select_option("lifecycle")
    page.get_by_label("Event types").fill("delivery.dead")
    page.get_by_label("Connection").first.select_option(label="ops hook (webhook)")
    expect(page.locator("#route-preview")).to_contain_text("no events yet")
    page.get_by_role("button", name="Add route").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("dead letters to ops")
    expect(page.get_by_text("lifecycle: the hub's own events")).to_be_visible()
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Source")).to_have_value("lifecycle")
