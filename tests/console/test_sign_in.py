"""Signing in to the console in a real browser: the token form, the navigation of the contract,
refusals, signing out, and a revoked token ending the session."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from hub.services.tokens import revoke, tokens
from hub.storage.db import get_database
from hub.testing import make_token
from tests.conftest import ADMIN_TOKEN
from tests.console.browser import shoot, sign_in

NAVIGATION = ("Dashboard", "Connections", "Routes", "Events", "Deliveries", "Failed triggers", "Approvals", "Audit")


def test_signing_in_with_a_token_opens_the_console_and_every_navigation_link_works(page):
    page.goto("/console/connections")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/connections$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    shoot(page, "login")
    page.get_by_label("Token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/connections$"))           # back where it was going
    nav = page.get_by_role("navigation", name="Console")
    for text in NAVIGATION:
        nav.get_by_role("link", name=text, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(text)
        expect(nav.get_by_role("link", name=text, exact=True)).to_have_attribute("aria-current", "page")
    shoot(page, "audit")
    nav.get_by_role("link", name="Dashboard").click()
    shoot(page, "dashboard")
    page.keyboard.press("Tab")                                  # the first stop skips the navigation
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


def test_a_wrong_token_is_refused_and_gives_no_session(page):
    page.goto("/console/login")
    expect(page.get_by_label("Token")).to_be_focused()          # by keyboard alone: type, then Enter
    page.keyboard.type("hkh_not-a-real-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    expect(page.get_by_label("Token")).to_have_attribute("aria-invalid", "true")
    shoot(page, "login-refused")
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_signing_out_ends_the_session(page):
    sign_in(page, ADMIN_TOKEN)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    page.goto("/console/connections")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_revoking_the_token_signs_its_console_session_out_at_the_next_request(app, page):
    token = make_token(app, "admin", name="revoked-soon")
    sign_in(page, token)
    with get_database(app).session() as session:
        [mine] = [t for t in tokens(session, None) if t.name == "revoked-soon"]
        revoke(session, mine, actor="test")
    page.goto("/console/connections")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_contain_text("session has ended")
