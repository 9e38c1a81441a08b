"""Delete route in the console over HTTP (Flask's test client, the real app and SQLite): an admin
confirms on a page saying what stops, and the route goes through the API's own deletion (the same
audit record); a viewer sees no control and is refused 403; a POST without its CSRF token is
refused; another workspace's route is not found."""

from __future__ import annotations

import re

from hub.testing import make_token
from tests.conftest import ADMIN_TOKEN

OTHER_WORKSPACE = {"X-Hookhub-Workspace": "team-b"}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def signed_in(app, token: str):
    """A test client signed in with ``token``, and a CSRF token of its session (the sign-out form's)."""
    client = app.test_client()
    login = csrf_of(client.get("/console/login").text)
    answer = client.post("/console/login", data={"token": token, "csrf_token": login})
    assert answer.status_code == 303
    return client, csrf_of(client.get("/console/routes").text)


def make_routes(api, count: int = 1, headers: dict[str, str] | None = None) -> list[str]:
    """``count`` routes "to ledger", each from the connection "billing" to "ledger"; their ids."""
    headers = headers or {}
    source = api.post("/connections", json={"name": "billing", "provider": "generic"}, headers=headers).json
    target = api.post("/connections", json={"name": "ledger", "channel": "webhook",
                                            "channel_config": {"url": "https://ledger.example/hook"}},
                      headers=headers).json
    ids = []
    for _ in range(count):
        answer = api.post("/routes", json={"name": "to ledger", "source": source["id"],
                                           "targets": [{"connection": target["id"]}]}, headers=headers)
        assert answer.status_code == 201, answer.json
        ids.append(answer.json["id"])
    return ids


def deletion_record(api, route_id: str) -> dict:
    [record] = api.get("/audit", query_string={"action": "route.deleted", "object": route_id}).json["items"]
    return record


def test_an_admin_confirms_then_deletes_a_route_with_the_apis_audit_record(app, api):
    route_id, by_api = make_routes(api, 2)
    client, csrf = signed_in(app, make_token(app, "admin", name="alice"))
    detail = client.get(f"/console/routes/{route_id}")
    assert f'action="/console/routes/{route_id}/delete"' in detail.text and "Delete route</button>" in detail.text

    confirm = client.get(f"/console/routes/{route_id}/delete")
    assert confirm.status_code == 200
    assert "Delete the route to ledger?" in confirm.text
    assert re.search(r"Events from\s+<a [^>]+>billing</a>\s+no longer reach its target:\s+<a [^>]+>ledger</a>",
                     confirm.text)
    assert api.get(f"/routes/{route_id}").status_code == 200              # asking deletes nothing

    answer = client.post(f"/console/routes/{route_id}/delete", data={"csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/routes"
    routes = client.get("/console/routes")
    assert "Route &#39;to ledger&#39; deleted" in routes.text
    assert f"/console/routes/{route_id}" not in routes.text and f"/console/routes/{by_api}" in routes.text
    assert api.get(f"/routes/{route_id}").status_code == 404

    assert api.delete(f"/routes/{by_api}").status_code == 204
    console_record, api_record = deletion_record(api, route_id), deletion_record(api, by_api)
    [alice] = [t for t in api.get("/tokens").json["items"] if t["name"] == "alice"]
    assert console_record["actor"] == f"token:{alice['id']}"
    same = ("action", "object_type", "details")
    assert {k: console_record[k] for k in same} == {k: api_record[k] for k in same} == {
        "action": "route.deleted", "object_type": "route", "details": {"name": "to ledger"}}


def test_a_viewer_sees_no_delete_control_and_is_refused_403(app, api):
    [route_id] = make_routes(api)
    client, csrf = signed_in(app, make_token(app, "viewer"))
    detail = client.get(f"/console/routes/{route_id}")
    assert detail.status_code == 200 and "Delete route" not in detail.text and "/delete" not in detail.text
    assert client.get(f"/console/routes/{route_id}/delete").status_code == 403        # not even the confirm page
    refused = client.post(f"/console/routes/{route_id}/delete", data={"csrf_token": csrf})
    assert refused.status_code == 403 and "viewer role" in refused.text
    assert api.get(f"/routes/{route_id}").status_code == 200


def test_a_delete_without_its_csrf_token_is_refused(app, api):
    [route_id] = make_routes(api)
    client, csrf = signed_in(app, ADMIN_TOKEN)
    for form in ({}, {"csrf_token": "not-the-token"}):
        refused = client.post(f"/console/routes/{route_id}/delete", data=form)
        assert refused.status_code == 400 and "security token" in refused.text
    assert api.get(f"/routes/{route_id}").status_code == 200
    accepted = client.post(f"/console/routes/{route_id}/delete", data={"csrf_token": csrf})
    assert accepted.status_code == 303                        # the same post with its token is accepted
    assert api.get(f"/routes/{route_id}").status_code == 404


def test_another_workspaces_route_is_not_found(app, api):
    assert api.post("/workspaces", json={"name": "team-b"}).status_code == 201
    [theirs], [mine] = make_routes(api, headers=OTHER_WORKSPACE), make_routes(api)
    client, csrf = signed_in(app, make_token(app, "admin"))
    for path in (f"/console/routes/{theirs}", f"/console/routes/{theirs}/delete"):
        missing = client.get(path)
        assert missing.status_code == 404 and "No route" in missing.text, path
    assert client.post(f"/console/routes/{theirs}/delete", data={"csrf_token": csrf}).status_code == 404
    assert api.get(f"/routes/{theirs}", headers=OTHER_WORKSPACE).status_code == 200
    assert api.get("/audit", query_string={"action": "route.deleted"}, headers=OTHER_WORKSPACE).json["items"] == []
    assert client.post(f"/console/routes/{mine}/delete", data={"csrf_token": csrf}).status_code == 303  # its own
