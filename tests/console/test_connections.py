"""Connections in a real browser: Add connection through the form made from the plugins' schemas,
copy the URL and post a signed event to it, Reset key with its confirm step, Get URL, edit without
losing a saved secret, rotate a secret, Test, Activate / Deactivate — and no page but those right
after create, reset and Get URL ever contains an inbound key or a secret."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import requests
from playwright.sync_api import expect

from hub.testing import github_headers
from tests.conftest import ADMIN_TOKEN
from tests.console.browser import shoot, sign_in
from tests.console.conftest import PHONE

SECRET = "It's a Secret to Everybody"   # noqa: S105 - the secret the test's sender signs with
GITHUB = {"name": "gh-repo", "provider": "hmac", "provider_config": {"preset": "github"}, "secrets": {"secret": SECRET}}


def post_event(live, url: str, secret: str = SECRET, n: int = 1) -> requests.Response:
    """A GitHub-signed event to ``url`` (the hub's public URL), sent to the live server."""
    parts = urlsplit(url)
    body = json.dumps({"action": "opened", "n": n}).encode()
    return requests.post(f"{live.url}{parts.path}?{parts.query}", data=body, headers=github_headers(secret, body),
                         timeout=10)


def key_of(url: str) -> str:
    return url.split("key=", 1)[1]


def open_connection(page, name: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Connections").click()
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_add_connection_through_the_generated_form_copy_its_url_and_receive_a_signed_event(live, page):
    sign_in(page, ADMIN_TOKEN)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Connections").click()
    expect(page.get_by_text("No connections yet.")).to_be_visible()
    page.get_by_role("button", name="Add connection").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add connection")
    page.get_by_label("Provider", exact=True).select_option("hmac")
    hmac = page.locator("#f-provider-hmac")
    expect(hmac).to_be_visible()
    expect(page.locator("#f-provider-slack")).to_be_hidden()        # only the chosen plugin's settings show
    hmac.get_by_label("Preset").select_option("github")
    hmac.get_by_label("Secret", exact=True).fill(SECRET)
    shoot(page, "connection-new")

    page.get_by_role("button", name="Add connection").click()          # no name: refused, next to the field
    expect(page.locator("#f-name-error")).to_contain_text("3 to 50 characters")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(hmac.get_by_label("Secret", exact=True)).to_have_value("")   # a typed secret never comes back
    expect(hmac.get_by_label("Preset")).to_have_value("github")        # the rest of the input does
    shoot(page, "connection-form-errors")

    page.get_by_label("Name", exact=True).fill("crm deals")
    hmac.get_by_label("Secret", exact=True).fill(SECRET)
    page.get_by_role("button", name="Add connection").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("crm deals")
    shown = page.get_by_label("Inbound URL with its key").input_value()
    assert re.fullmatch(r"http://hub\.test/hooks/hmac/con_\w+\?key=[\w-]{43}", shown)
    page.get_by_role("button", name="Copy URL").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown
    shoot(page, "connection-created")

    answer = post_event(live, copied)
    assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
    page.get_by_role("link", name="All connections").click()
    row = page.get_by_role("row", name=re.compile("crm deals"))
    expect(row.get_by_role("cell").nth(0)).to_have_text("active")
    expect(row.locator("[data-label='Last event'] time")).to_be_visible()   # no longer "never"
    shoot(page, "connections-list")
    page.get_by_role("link", name="crm deals").click()
    expect(page.locator("dt:text-is('Last event') + dd time")).to_be_visible()
    expect(page.get_by_label("Inbound URL with its key")).to_have_count(0)
    shoot(page, "connection-detail")

    assert live.recorder.showing(key_of(copied)) == [("POST", "/console/connections/new")]
    assert live.recorder.showing(SECRET) == []


def test_reset_key_asks_first_then_the_old_url_stops_working_and_get_url_shows_the_new_one(api, live, page):
    created = api.post("/connections", json=GITHUB).json
    sign_in(page, ADMIN_TOKEN)
    open_connection(page, "gh-repo")
    page.get_by_role("button", name="Reset key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset the key of gh-repo?")
    expect(page.get_by_text("The old URL stops working at once")).to_be_visible()
    shoot(page, "reset-key-confirm")
    assert post_event(live, created["inbound_url"]).status_code == 200       # nothing changed yet
    page.get_by_role("button", name="Reset key").click()
    expect(page.get_by_text("The key was reset: the old URL stopped working")).to_be_visible()
    new_url = page.get_by_label("Inbound URL with its key").input_value()
    assert key_of(new_url) != key_of(created["inbound_url"])
    shoot(page, "reset-key-done")
    assert post_event(live, created["inbound_url"], n=2).status_code == 401
    assert post_event(live, new_url, n=3).status_code == 200

    page.get_by_role("link", name="All connections").click()
    page.get_by_role("link", name="gh-repo").click()
    expect(page.get_by_label("Inbound URL with its key")).to_have_count(0)
    page.get_by_role("button", name="Get URL").click()
    expect(page.get_by_label("Inbound URL with its key")).to_have_value(new_url)
    assert live.recorder.showing(key_of(new_url)) == [("POST", f"/console/connections/{created['id']}/reset-key"),
                                                       ("POST", f"/console/connections/{created['id']}/url")]
    assert live.recorder.showing(key_of(created["inbound_url"])) == []
    assert live.recorder.showing(SECRET) == []


def test_editing_keeps_a_saved_secret_and_shows_the_services_messages_next_to_the_fields(api, live, page):
    created = api.post("/connections", json=GITHUB).json
    sign_in(page, ADMIN_TOKEN)
    open_connection(page, "gh-repo")
    page.get_by_role("button", name="Edit").click()
    hmac = page.locator("#f-provider-hmac")
    secret = hmac.get_by_label("Secret", exact=True)
    expect(secret).to_have_value("********")                 # the placeholder, never the value
    expect(secret).to_have_attribute("type", "password")
    expect(page.get_by_label("Provider", exact=True)).to_be_disabled()
    shoot(page, "connection-edit")

    hmac.get_by_label("Max body bytes").fill("0")            # the plugin's schema says at least 1
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-provider-hmac-max-body-bytes-error")).to_contain_text("greater than or equal to 1")
    expect(page.get_by_role("alert")).to_contain_text("Max body bytes")
    shoot(page, "connection-edit-errors")

    hmac.get_by_label("Max body bytes").fill("")
    page.get_by_label("Default channel").fill("ops")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    expect(page.locator("dt:text-is('Default channel') + dd")).to_have_text("ops")
    assert post_event(live, created["inbound_url"]).status_code == 200      # the stored secret still verifies

    page.get_by_label("Secret", exact=True).select_option("secret")
    page.get_by_label("New value").fill("the next secret")
    page.get_by_label("Grace period (seconds)").fill("3600")
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("status")).to_contain_text("the old one keeps verifying until")
    assert post_event(live, created["inbound_url"], n=2).status_code == 200                   # within the grace
    assert post_event(live, created["inbound_url"], secret="the next secret", n=3).status_code == 200
    assert live.recorder.showing(SECRET) == [] and live.recorder.showing("the next secret") == []


def test_test_activate_and_deactivate_on_a_channel_connection(api, page, new_page, receiver):
    api.post("/connections", json={"name": "ops hook", "channel": "webhook",
                                   "channel_config": {"url": receiver.url + "/hook"}})
    sign_in(page, ADMIN_TOKEN)
    open_connection(page, "ops hook")
    expect(page.get_by_role("button", name="Get URL")).to_have_count(0)    # no inbound side, no URL
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_role("heading", name="Test result: delivered")).to_be_visible()
    expect(page.get_by_text("delivered: the endpoint answered HTTP 200")).to_be_visible()
    assert receiver.wait_for(1)[0].headers["X-Hookhub-Test"] == "true"
    shoot(page, "connection-test")

    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator(".page-head .badge")).to_have_text("inactive")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator(".page-head .badge")).to_have_text("active")

    phone = new_page(PHONE)
    sign_in(phone, ADMIN_TOKEN)
    open_connection(phone, "ops hook")
    shoot(phone, "connection-detail-phone")
    phone.get_by_role("navigation", name="Console").get_by_role("link", name="Connections").click()
    expect(phone.get_by_role("link", name="ops hook")).to_be_visible()
    shoot(phone, "connections-list-phone")
