"""Who may do what in the console, in a real browser: a viewer sees no control that changes
anything and is refused with 403 when it posts anyway; a form without its CSRF token is refused;
an owner switches the workspace it acts in, an admin cannot."""

from __future__ import annotations

from playwright.sync_api import expect

from hub.services.connections import for_app
from hub.services.workspaces import ensure_workspace
from hub.storage.db import get_database
from hub.testing import make_token
from tests.conftest import ADMIN_TOKEN
from tests.console.browser import csrf_token_of, shoot, sign_in

GENERIC = {"name": "crm", "provider": "generic"}


def test_a_viewer_sees_no_state_changing_control_and_a_forged_post_gets_403(app, api, page):
    created = api.post("/connections", json=GENERIC).json
    sign_in(page, make_token(app, "viewer"))
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("link", name="crm")).to_be_visible()
    expect(page.get_by_role("button", name="Add connection")).to_have_count(0)
    page.get_by_role("link", name="crm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("crm")
    expect(page.get_by_role("heading", name="Manage")).to_have_count(0)
    assert [b.inner_text() for b in page.get_by_role("button").all()] == ["Sign out"]   # the only one it has
    shoot(page, "viewer-connection")

    token = csrf_token_of(page)          # a valid token of its own session: only the role refuses
    for action in ("deactivate", "reset-key", "url", "test"):
        answer = page.request.post(f"/console/connections/{created['id']}/{action}", form={"csrf_token": token},
                                   max_redirects=0)
        assert answer.status == 403, (action, answer.status)
        assert "viewer role" in answer.text()
    answer = page.request.post("/console/connections/new", form={"csrf_token": token, "name": "forged",
                                                                 "provider": "generic"})
    assert answer.status == 403
    assert [c["name"] for c in api.get("/connections").json["items"]] == ["crm"]
    assert api.get(f"/connections/{created['id']}").json["active"] is True
    page.goto(f"/console/connections/{created['id']}/reset-key")   # even the confirm page is refused
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    shoot(page, "error-403")


def test_a_form_without_its_csrf_token_is_refused(api, page):
    created = api.post("/connections", json=GENERIC).json
    sign_in(page, ADMIN_TOKEN)
    answer = page.request.post(f"/console/connections/{created['id']}/deactivate", form={}, max_redirects=0)
    assert answer.status == 400 and "security token is missing" in answer.text()
    forged = page.request.post(f"/console/connections/{created['id']}/deactivate",
                               form={"csrf_token": "not-the-token"}, max_redirects=0)
    assert forged.status == 400
    assert api.get(f"/connections/{created['id']}").json["active"] is True
    ok = page.request.post(f"/console/connections/{created['id']}/deactivate", form={"csrf_token": csrf_token_of(page)},
                           max_redirects=0)
    assert ok.status == 303                                   # the same post with the token is accepted
    assert api.get(f"/connections/{created['id']}").json["active"] is False


def test_an_owner_switches_workspace_and_an_admin_has_no_switcher(app, page, new_page):
    with get_database(app).session() as session:
        ensure_workspace(session, "team-b")
        for_app(session, "test", app).create("team-b", {"name": "team-b hook", "provider": "generic"})
    sign_in(page, ADMIN_TOKEN)                   # the bootstrap token is an owner
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Connections").click()
    expect(page.get_by_text("No connections yet.")).to_be_visible()
    page.get_by_label("Workspace").select_option("team-b")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_text("You now act in the workspace 'team-b'")).to_be_visible()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("link", name="team-b hook")).to_be_visible()
    shoot(page, "owner-workspace-switched")

    admin = new_page()
    sign_in(admin, make_token(app, "admin"))
    expect(admin.get_by_label("Workspace", exact=True)).to_have_count(0)
    expect(admin.get_by_text("Workspace default")).to_be_visible()
    forged = admin.request.post("/console/workspace", form={"csrf_token": csrf_token_of(admin), "workspace": "team-b"})
    assert forged.status == 403
    admin.get_by_role("navigation", name="Console").get_by_role("link", name="Connections").click()
    expect(admin.get_by_role("link", name="team-b hook")).to_have_count(0)
