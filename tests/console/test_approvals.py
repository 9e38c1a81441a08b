"""The approvals inbox in a real browser: pending first, each with the request it would send and its
target; Reject needs a Reason and records who decided and when; Approve sends the delivery."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from hub.testing import make_token, settle
from tests.console.browser import shoot, sign_in
from tests.console.conftest import PHONE
from tests.console.scenario import github_source, post_signed, route, webhook_target


def test_reject_a_pending_approval_with_a_reason_and_approve_another(app, api, live, receiver, page, new_page):
    source = github_source(api)
    target = webhook_target(api, receiver.url + "/hook", name="payments", approval="manual")
    route(api, source["id"], target["id"], template={"text": "refund {{ payload.amount }} EUR"})
    for amount in (5, 900):
        assert post_signed(live, source, {"action": "refund", "amount": amount}).status_code == 200
    settle(app, lambda: len(api.get("/approvals?status=pending").json["items"]) == 2)
    token = make_token(app, "admin", name="alice")

    sign_in(page, token)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Approvals").click()
    cards = page.get_by_role("article")
    expect(cards).to_have_count(2)
    big = cards.filter(has_text="refund 900 EUR")
    expect(big.get_by_role("heading", name="To payments")).to_be_visible()
    expect(big.get_by_role("region", name="The request that would be sent")).to_contain_text('"text": "refund 900 EUR"')
    expect(big).to_contain_text("POST http://127.0.0.1/…hook")           # its target, the URL masked
    shoot(page, "approvals-pending")

    big.get_by_role("button", name="Reject").click()                   # without a reason: refused
    big = page.get_by_role("article").filter(has_text="refund 900 EUR")
    expect(big.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    expect(big).to_contain_text("give a reason")
    assert api.get("/approvals?status=pending").json["items"].__len__() == 2
    big.get_by_label("Reason").fill("Too large for an automatic refund")
    big.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text("Rejected")

    small = page.get_by_role("article").filter(has_text="refund 5 EUR")
    small.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved")
    cards = page.get_by_role("article")
    expect(cards.locator(".badge")).to_have_text(["rejected", "approved"])    # decided: newest first
    rejected = cards.filter(has=page.locator(".badge", has_text="rejected"))
    expect(rejected).to_contain_text("Too large for an automatic refund")
    expect(rejected).to_contain_text(re.compile(r"Decided by\s*alice token:tok_"))
    expect(rejected.locator("time")).to_have_count(2)                  # requested, and decided at
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)   # decided: no more buttons
    shoot(page, "approvals-decided")

    settle(app, lambda: len(receiver) == 1)
    assert receiver.wait_for(1)[0].json() == {"text": "refund 5 EUR"}     # only the approved one is sent
    [decision] = api.get("/approvals?status=rejected").json["items"]
    assert decision["reason"] == "Too large for an automatic refund" and decision["decided_by"].startswith("token:")

    phone = new_page(PHONE)
    sign_in(phone, token)
    phone.goto("/console/approvals")
    shoot(phone, "approvals-phone")
