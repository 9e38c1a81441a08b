"""``/api/v1/audit``: the workspace's audit trail, newest first, filtered and paged; readable by
viewers, invisible to other workspaces, append-only, and free of secret values."""

from __future__ import annotations

import json

from hub.testing import make_token

SECRET = "It's a Secret to Everybody"


def token(app, role: str = "admin", workspace: str = "default") -> str:
    return make_token(app, role, workspace)


def connection(api, name: str = "gh-repo") -> str:
    r = api.post("/connections", json={"name": name, "provider": "hmac", "provider_config": {"preset": "github"},
                                       "secrets": {"secret": SECRET}})
    assert r.status_code == 201, r.json
    return r.json["id"]


def test_admin_actions_are_listed_newest_first_with_who_did_them(app, api):
    con = connection(api)
    api.patch(f"/connections/{con}", json={"secrets": {"secret": "the second secret"}})
    api.post(f"/connections/{con}/deactivate")
    items = api.get(f"/audit?object={con}").json["items"]
    assert [i["action"] for i in items] == ["connection.deactivated", "connection.updated", "connection.created"]
    assert {i["actor"] for i in items} == {items[0]["actor"]} and items[0]["actor"].startswith("token:")
    assert items[0]["object_type"] == "connection" and items[0]["at"].endswith("Z")
    assert items[1]["details"]["secrets_changed"] == ["secret"]   # which secret changed, never its value
    assert api.get(f"/audit/{items[1]['id']}").json == items[1]
    everything = json.dumps(api.get("/audit?limit=500").json)
    assert SECRET not in everything and "the second secret" not in everything   # (ids are random: "v2" can be in one)


def test_filters_by_action_prefix_and_actor_and_pages(app, api):
    first, second = connection(api, "one"), connection(api, "two")
    api.post(f"/connections/{first}/deactivate")
    other_admin = token(app)
    api.post(f"/connections/{second}/deactivate", token=other_admin)
    assert {i["object"] for i in api.get("/audit?action=connection.deactivated").json["items"]} == {first, second}
    assert {i["action"] for i in api.get("/audit?action=connection.*").json["items"]} == {
        "connection.created", "connection.deactivated"}
    assert api.get("/audit?action=connection_*").json["items"] == []       # the wildcard is only ".*"
    mine = api.get(f"/audit?action=connection.deactivated&actor={api.get('/audit').json['items'][0]['actor']}")
    assert [i["object"] for i in mine.json["items"]] == [second]
    pages, cursor = [], None
    while True:
        page = api.get("/audit?action=connection.*&limit=1" + (f"&cursor={cursor}" if cursor else "")).json
        pages += [i["id"] for i in page["items"]]
        if not (cursor := page["next"]):
            break
    assert pages == [i["id"] for i in api.get("/audit?action=connection.*").json["items"]] and len(pages) == 4


def test_viewers_read_it_other_workspaces_do_not_and_nobody_edits_it(app, api):
    con = connection(api)
    viewer, elsewhere = token(app, "viewer"), token(app, "admin", "other")
    assert api.get(f"/audit?object={con}", token=viewer).json["items"][0]["action"] == "connection.created"
    record = api.get(f"/audit?object={con}").json["items"][0]["id"]
    theirs = api.get("/audit", token=elsewhere).json["items"]
    assert [i["action"] for i in theirs] == ["token.created"]            # only their own workspace's
    r = api.get(f"/audit/{record}", token=elsewhere)
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    for method in ("PATCH", "DELETE"):
        assert api.request(method, f"/audit/{record}", json={}).status_code == 405
    assert api.get(f"/audit/{record}").status_code == 200
