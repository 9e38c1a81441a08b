"""The route editor's preview endpoint over HTTP (Flask's test client): it renders only what the
signed-in workspace owns — a forged form naming another workspace's connection or event gets
nothing of it — and it sends nothing."""

from __future__ import annotations

import re

from hub.services.connections import for_app
from hub.services.workspaces import ensure_workspace
from hub.storage.db import get_database
from hub.testing import settle
from tests.conftest import ADMIN_TOKEN


def signed_in(client) -> str:
    """Sign in; the CSRF token of the session."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").text).group(1)
    client.post("/console/login", data={"token": ADMIN_TOKEN, "csrf_token": token})
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/routes/new").text).group(1)


def test_the_preview_renders_nothing_of_another_workspace(app, api, receiver):
    source = api.create_connection(name="source", provider="generic")
    mine = api.create_connection(name="mine", channel="webhook", channel_config={"url": receiver.url + "/mine"})
    assert app.test_client().post(source["inbound_path"], json={"n": 1}).status_code == 200
    with get_database(app).session() as session:
        ensure_workspace(session, "team-b")
        theirs, _ = for_app(session, "test", app).create("team-b", {
            "name": "theirs", "channel": "webhook", "channel_config": {"url": "https://team-b.example/secret-path"}})
        session.commit()
        theirs_id = theirs.id
    client = app.test_client()
    csrf = signed_in(client)
    form = {"csrf_token": csrf, "name": "r", "source": source["id"],
            "target-0-connection": theirs_id, "target-0-template": '{"n": "{{ payload.n }}"}',
            "target-1-connection": mine["id"], "target-1-template": '{"n": "{{ payload.n }}"}'}
    answer = client.post("/console/routes/preview", data=form)
    assert answer.status_code == 200
    assert "choose a connection of this workspace" in answer.text
    assert "team-b.example" not in answer.text and "theirs" not in answer.text
    assert "Target 2: mine (webhook)" in answer.text and "&#34;n&#34;: 1" in answer.text

    other_event = client.post("/console/routes/preview", data={**form, "preview_event": "evt_of_someone_else"})
    assert "No event &#39;evt_of_someone_else&#39;" in other_event.text
    assert len(receiver) == 0


def test_a_reason_longer_than_the_apis_is_refused_next_to_the_field(app, api, receiver):
    source = api.create_connection(name="source", provider="generic")
    held = api.create_connection(name="held", channel="webhook", approval="manual",
                                 channel_config={"url": receiver.url + "/held"})
    api.post("/routes", json={"name": "r", "source": source["id"], "targets": [{"connection": held["id"]}]})
    assert app.test_client().post(source["inbound_path"], json={"n": 1}).status_code == 200
    settle(app, lambda: api.get("/approvals").json["items"])
    [approval] = api.get("/approvals").json["items"]
    client = app.test_client()
    csrf = signed_in(client)
    answer = client.post(f"/console/approvals/{approval['id']}/decide",
                         data={"csrf_token": csrf, "decision": "reject", "reason": "x" * 501})
    assert answer.status_code == 422 and "at most 500 characters" in answer.text
    assert api.get(f"/approvals/{approval['id']}").json["status"] == "pending"


def test_a_preview_answered_after_a_save_leaves_the_saves_cookie_and_message(app, api, receiver):
    """The page's live preview can still be in flight when the form is saved. Its answer must not
    write the session cookie it was sent with over the one the save set: the browser would then
    show the saved route without its "added" message."""
    source = api.create_connection(name="source", provider="generic")
    target = api.create_connection(name="out", channel="webhook", channel_config={"url": receiver.url + "/out"})
    client = app.test_client()
    csrf = signed_in(client)
    sent_with = client.get_cookie("hookhub_console", path="/console").value
    saved = client.post("/console/routes/new", data={"csrf_token": csrf, "name": "escalations",
                                                     "source": source["id"], "target-0-connection": target["id"]})
    assert saved.status_code == 303
    late = app.test_client()                               # the preview, sent before the save
    late.set_cookie("hookhub_console", sent_with, path="/console")
    preview = late.post("/console/routes/preview", data={"csrf_token": csrf, "name": "escalations",
                                                         "source": source["id"], "target-0-connection": target["id"]})
    assert preview.status_code == 200
    assert not [c for c in preview.headers.getlist("Set-Cookie") if c.startswith("hookhub_console=")]
    assert "Route &#39;escalations&#39; added." in client.get(saved.location).text
