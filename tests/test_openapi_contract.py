"""The admin API's OpenAPI document is exact: schemathesis runs every operation of a live app
(real Redis, SQLite, objects of every kind stored) with an owner token, valid and invalid
requests, on random and on stored ids, and with a viewer token; then in linked scenarios (the ids a
creation or a list answers feed the operations on them). Every answer must be no 5xx, a documented
status with its documented content type and headers, and a body that matches its schema. Examples
are few and derandomized: the module takes seconds and does the same on every run."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Flaky
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.testing import AdminClient, Reply, make_token, settle
from tests.conftest import ADMIN_TOKEN

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES = 12          # per operation, with the owner token
VIEWER_EXAMPLES = 3    # per operation, with a viewer token
STEPS = 40             # stateful: scenarios, each of a few linked calls
OWN_WORKSPACE = {"X-Hookhub-Workspace": "default"}


def bounded(max_examples: int, **extra: Any) -> hypothesis_settings:
    """Few examples, the same ones on every run, no example database, no shrinking on failure
    (a failure is reported as found: a short run matters more than the smallest example)."""
    return hypothesis_settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                               phases=[Phase.explicit, Phase.generate], print_blob=False,
                               suppress_health_check=list(HealthCheck), **extra)


@pytest.fixture
def settings(settings):
    return {**settings, "HOOKHUB_ALLOW_PRIVATE_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),)}


@pytest.fixture
def stored(app, api, receiver) -> dict[str, str]:
    """One object of every kind, so that lists and reads answer real items: connections (inbound,
    outbound, one held for approval), a route, events, delivered and held deliveries, a refused
    request, a param, a token (not the one the tests send: it gets deleted) and a second workspace."""
    receiver.reply(Reply(200, body={"ok": True}))
    source = api.create_connection(name="source", provider="generic")
    target = api.create_connection(name="target", channel="webhook", channel_config={"url": receiver.url + "/hook"})
    held = api.create_connection(name="held", channel="webhook", approval="manual",
                                 channel_config={"url": receiver.url + "/held"})
    route = api.post("/routes", json={"name": "everything", "source": source["id"],
                                      "targets": [{"connection": target["id"]}, {"connection": held["id"]}]}).json
    client = app.test_client()
    for n in range(2):
        assert client.post(source["inbound_path"], json={"n": n, "text": "hello"}).status_code == 200
    assert client.post(source["inbound_path"].replace("key=", "key=wrong"), json={}).status_code == 401
    settle(app, lambda: len(receiver) >= 2 and api.get("/approvals").json["items"])
    assert api.post("/params", json={"name": "REGION", "value": "eu", "secret": False}).status_code == 201
    assert api.post("/workspaces", json={"name": "team-b"}).status_code == 201
    return {"connection_id": source["id"], "route_id": route["id"], "name": "REGION", "workspace_id": "team-b",
            "event_id": api.get("/events").json["items"][0]["id"],
            "delivery_id": api.get("/deliveries").json["items"][0]["id"],
            "approval_id": api.get("/approvals").json["items"][0]["id"],
            "record_id": api.get("/audit").json["items"][0]["id"],
            "token_id": api.post("/tokens", json={"name": "disposable", "role": "viewer"}).json["id"]}


@pytest.fixture
def api_schema(app, stored):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def operations(api_schema) -> list:
    found = [result.ok() for result in api_schema.get_all_operations()]
    assert len(found) >= 47, "every admin operation is in the document"
    return found


def run_each(api_schema, make_test: Callable[[Any], Callable[[], None]]) -> list[str]:
    """Run ``make_test(operation)()`` for every operation; the failures, one paragraph each."""
    failures = []
    for operation in operations(api_schema):
        try:
            make_test(operation)()
        except Exception as exc:  # a check's failure group, or an error of the test itself
            failures.append(f"{operation.label}:\n{exc}")
    return failures


def fuzz(operation, token: str, examples: int, *, also: Callable[[Any, Any], None] | None = None,
         **fixed: Any) -> Callable[[], None]:
    """A Hypothesis test of ``operation``: cases from its document (``fixed``: values to keep), each
    sent with ``token`` and its answer checked; ``also(case, response)`` checks more."""

    @given(case=operation.as_strategy(**fixed))
    @bounded(examples)
    def test(case):
        response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
        if also is not None:
            also(case, response)

    return test


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented_to_an_owner(api_schema, mode):
    """Valid requests, then invalid ones (which must be refused with a documented error, not a 5xx).
    In its own workspace: another one named at random is only ever 404 (the viewer's run sends those)."""
    failures = run_each(api_schema, lambda operation: fuzz(operation, ADMIN_TOKEN, EXAMPLES, generation_mode=mode,
                                                            headers=OWN_WORKSPACE))
    assert not failures, "\n\n".join(failures)


def test_every_operation_answers_as_documented_on_stored_objects(api_schema, stored):
    """The same, with the path naming stored objects (a random id is only ever 404). Reads come
    first and deletions last, so that the objects are there for as long as possible."""
    order = {"get": 0, "patch": 1, "post": 2, "delete": 3}
    by_method = sorted(operations(api_schema), key=lambda op: order.get(op.method.lower(), 2))

    def with_ids(operation):
        names = {p.name for p in operation.path_parameters}
        return fuzz(operation, ADMIN_TOKEN, EXAMPLES,
                    path_parameters={name: stored[name] for name in names},
                    headers=OWN_WORKSPACE)

    failures = []
    for operation in by_method:
        if not operation.path_parameters:
            continue
        try:
            with_ids(operation)()
        except Exception as exc:
            failures.append(f"{operation.label}:\n{exc}")
    assert not failures, "\n\n".join(failures)


def test_every_operation_answers_as_documented_to_a_viewer(app, api_schema):
    """A viewer reads and changes nothing: every change is refused (403, or 404 when it names what
    it cannot see). Its workspace header is left to the document: any other workspace is 404."""
    viewer = make_token(app, "viewer")

    def changes_nothing(case, response):
        if case.method.upper() != "GET":
            assert response.status_code >= 400, f"a viewer's {case.method} answered {response.status_code}"

    failures = run_each(api_schema, lambda operation: fuzz(operation, viewer, VIEWER_EXAMPLES, also=changes_nothing))
    assert not failures, "\n\n".join(failures)


def test_linked_operations_answer_as_documented(api_schema):
    """Stateful: the ids a list or a creation answers (connections, routes, events, deliveries,
    approvals, params…) feed the operations on them, in scenarios of a few calls."""
    failures: list[str] = []
    steps: list[str] = []
    # Valid requests in the token's own workspace: the scenarios are for reaching stored objects.
    api_schema.config.update(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    api_schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    # Not the revocation of a token: the scenarios would revoke the one they send, and stop there.
    linked = api_schema.exclude(method="DELETE", path="/api/v1/tokens/{token_id}")

    class Linked(linked.as_state_machine()):
        def before_call(self, case):
            case.headers = {**(case.headers or {}), **OWN_WORKSPACE}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # Recorded, not raised: Hypothesis would replay the scenario to report it, and the
            # app's state has moved on since, so the replay could not be the same.
            steps.append(f"{case.operation.label} -> {response.status_code}")
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:
                failures.append(f"{case.operation.label}:\n{exc}")

    try:
        Linked.run(settings=bounded(STEPS, stateful_step_count=6))
    except Flaky:
        pass    # the state the scenarios read moved on under Hypothesis's feet: what ran still counts
    assert not failures, "\n\n".join(failures)
    assert len(steps) >= STEPS, steps


def test_the_document_declares_the_hub_error_shape_and_no_catch_all(app):
    """Every error is the hub's one shape, named per status (no flask-smorest default, no `default`
    response that would make any status "documented"), and every operation documents its 2xx."""
    document = AdminClient(app).client.get("/api/v1/openapi.json").json
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "fields"} and detail["required"] == ["code", "message"]
    for path, operations_of_path in document["paths"].items():
        for method, operation in operations_of_path.items():
            if method == "parameters":
                continue
            assert "default" not in operation["responses"], f"{method} {path}"
            assert any(code.startswith("2") for code in operation["responses"]), f"{method} {path}: no 2xx"
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    name = HTTPStatus(int(code)).name
                    assert response == {"$ref": f"#/components/responses/{name}"}, f"{method} {path} {code}"
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert document["security"] == [{"bearer": []}]
