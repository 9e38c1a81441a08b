"""What the console's browser tests do again and again: sign in, and look at a page — a screenshot
to tests/artifacts/ plus the accessibility basics every page must meet."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.console.conftest import ARTIFACTS

#: For each visible control: how it is labelled. A <label for> that is visible, or none.
LABELS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(el => el.offsetParent !== null)
  .map(el => {
    const label = el.id && document.querySelector(`label[for="${el.id}"]`);
    return [el.name || el.id, label && label.offsetParent !== null ? label.textContent.trim() : null];
  })"""
HEADINGS = "() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1])"


def sign_in(page: Any, token: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def shoot(page: Any, name: str) -> None:
    """A full-page screenshot to tests/artifacts/<name>.png (ignored by git), on every run, after
    checking the page: every visible control has a visible ``<label for>``, one h1 first and no
    heading level skipped."""
    unlabelled = [control for control, label in page.evaluate(LABELS) if not label]
    assert unlabelled == [], f"{name}: controls without a visible label: {unlabelled}"
    levels = page.evaluate(HEADINGS)
    assert levels[:1] == [1] and levels.count(1) == 1, f"{name}: headings {levels}"
    skipped = [(a, b) for a, b in zip(levels, levels[1:], strict=False) if b > a + 1]
    assert skipped == [], f"{name}: a heading level skipped: {levels}"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def csrf_token_of(page: Any) -> str:
    """A valid CSRF token of this session (the sign-out form's, which every role has)."""
    return page.locator("form[action$='/logout'] input[name=csrf_token]").input_value()
