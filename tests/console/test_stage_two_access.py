"""Who may do what on the Routes, Events, Deliveries, Failed triggers, Approvals, Audit and Dashboard
pages: a viewer sees no state-changing control and a forged POST gets 403; and no page of them —
the route editor's live preview and the approvals inbox included — ever contains a secret value,
a secret param's value or an inbound key."""

from __future__ import annotations

from playwright.sync_api import expect

from hub.testing import Reply, make_token, settle
from tests.conftest import ADMIN_TOKEN
from tests.console.browser import csrf_token_of, shoot, sign_in
from tests.console.scenario import GITHUB_SECRET, github_source, post_signed, route, webhook_target

AUTH_VALUE = "Bearer outbound-auth-secret-4711"           # noqa: S105 - the target's auth header secret
SIGNING_SECRET = "whsec_c2lnbmluZy1zZWNyZXQtb2YtdGhlLXRhcmdldA=="   # noqa: S105
PARAM_VALUE = "param-secret-value-0815"


def everything(app, api, live, receiver) -> dict[str, str]:
    """A source, a target with an auth header, a signing secret and a secret param in a header, one
    held for approval, one dead; a delivered event, a held one, a dead one and a refused request."""
    receiver.reply(Reply(200), Reply(500))
    assert api.post("/params", json={"name": "TEAM_TOKEN", "value": PARAM_VALUE, "secret": True}).status_code == 201
    source = github_source(api)
    secured = webhook_target(api, receiver.url + "/hook", name="secured", secrets={
        "auth_value": AUTH_VALUE, "signing_secret": SIGNING_SECRET}, channel_config={
        "auth_header": "X-Team-Auth", "headers": {"X-Team": "${param.TEAM_TOKEN}"}, "retry_schedule": []})
    held = webhook_target(api, receiver.url + "/held", name="held", approval="manual")
    saved = route(api, source["id"], secured["id"], held["id"], template={"text": "{{ payload.action }}"})
    for action in ("opened", "closed"):
        assert post_signed(live, source, {"action": action}).status_code == 200
    assert post_signed(live, source, {"action": "forged"}, secret="wrong").status_code == 401
    settle(app, lambda: api.get("/deliveries?status=dead").json["items"] and api.get("/approvals").json["items"])
    return {"source": source["id"], "key": source["inbound_url"].split("key=")[1], "secured": secured["id"],
            "route": saved["id"], "event": api.get("/events").json["items"][0]["id"],
            "dead": api.get("/deliveries?status=dead").json["items"][0]["id"],
            "approval": api.get("/approvals").json["items"][0]["id"]}


def pages_of(ids: dict[str, str]) -> list[str]:
    return ["/console/", "/console/routes", f"/console/routes/{ids['route']}", "/console/events",
            f"/console/events/{ids['event']}", f"/console/deliveries?connection={ids['secured']}",
            f"/console/deliveries/{ids['dead']}", "/console/failed-triggers", "/console/approvals", "/console/audit"]


def test_a_viewer_sees_no_state_changing_control_and_a_forged_post_gets_403(app, api, live, receiver, page):
    ids = everything(app, api, live, receiver)
    sign_in(page, make_token(app, "viewer"))
    for path in pages_of(ids):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page.locator("form[method=post]").count() == 1, path         # the sign-out form only
        assert {b.inner_text() for b in page.get_by_role("button").all()} <= {"Filter", "Sign out"}, path
        assert page.get_by_role("link", name="Edit").count() == 0
    page.goto("/console/approvals")
    expect(page.get_by_role("region", name="The request that would be sent")).to_have_count(2)
    shoot(page, "viewer-approvals")
    for path in ("/console/routes/new", f"/console/routes/{ids['route']}/edit"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")

    token = csrf_token_of(page)        # a valid token of its own session: only the role refuses
    forged = {f"/console/events/{ids['event']}/replay": {}, f"/console/deliveries/{ids['dead']}/retry": {},
              "/console/deliveries/retry-dead": {"connection": ids["secured"]},
              f"/console/approvals/{ids['approval']}/decide": {"decision": "reject", "reason": "forged"},
              "/console/routes/new": {"name": "forged", "source": ids["source"]},
              f"/console/routes/{ids['route']}/edit": {"name": "forged"},
              "/console/routes/preview": {"source": ids["source"]}}
    for path, form in forged.items():
        answer = page.request.post(path, form={"csrf_token": token, **form}, max_redirects=0)
        assert answer.status == 403 and "viewer role" in answer.text(), (path, answer.status)
    assert len(api.get("/deliveries").json["items"]) == 4                   # no replay, no retry
    assert api.get(f"/deliveries/{ids['dead']}").json["status"] == "dead"
    assert api.get(f"/approvals/{ids['approval']}").json["status"] == "pending"
    assert [r["name"] for r in api.get("/routes").json["items"]] == ["to ops"]


def test_no_page_contains_a_secret_value_or_an_inbound_key(app, api, live, receiver, page):
    ids = everything(app, api, live, receiver)
    sign_in(page, ADMIN_TOKEN)
    for path in pages_of(ids):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.goto(f"/console/routes/{ids['route']}/edit")                   # the live preview renders both targets
    preview = page.locator("#route-preview")
    expect(preview.get_by_role("heading", name="Target 1: secured (webhook)")).to_be_visible()
    expect(preview).to_contain_text("X-Team-Auth: ********")
    expect(preview).to_contain_text("X-Team: ********")
    page.get_by_label("Template").first.fill('{"text": "{{ payload.action }}!"}')
    expect(preview.locator("[data-preview-body]").first).to_contain_text("closed!")
    page.get_by_label("Template").first.fill("{}")
    page.get_by_role("button", name="Preview").click()
    expect(preview.locator("[data-preview-body]").first).to_contain_text("{}")
    page.goto("/console/approvals")
    expect(page.get_by_role("region", name="The request that would be sent")).to_have_count(2)

    answered = {(p.method, p.path) for p in live.recorder.pages}
    assert ("POST", "/console/routes/preview") in answered and ("GET", "/console/approvals") in answered
    for secret in (GITHUB_SECRET, AUTH_VALUE, "outbound-auth-secret-4711", SIGNING_SECRET, PARAM_VALUE, ids["key"]):
        assert live.recorder.showing(secret) == [], secret
