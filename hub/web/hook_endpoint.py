"""The hook endpoint, ``POST|GET /hooks/<provider>/<connection_id>``: reads the request within the
size limit and hands it to the gateway; every rejection is answered in the error shape and recorded
as a failure.

It is a plain WSGI callable mounted in front of the Flask app (``app.wsgi_app``), so a webhook does
not pay for Flask's request machinery — the request and app contexts, the URL map, sessions, the
before/after-request hooks — which cost as much as the hub's own work on a request. werkzeug parses
the request (path, query, body stream, content type) exactly as it does for Flask, the headers are
read from the WSGI environ once, and the accepted answer's bytes and headers are built without a
response object. Everything else reaches Flask unchanged: other paths, and the methods the endpoint
does not take (Flask's URL rule answers them: 405 with ``Allow``, or ``OPTIONS``). The same rule's
view runs this endpoint too, should a request reach Flask some other way."""

from __future__ import annotations

import contextvars
import hashlib
import re
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request
from werkzeug.wrappers import Request

from hub.core.addresses import client_address
from hub.core.digests import headers_sha256
from hub.core.errors import HookhubError, PayloadTooLarge
from hub.inbound.cache import ConnectionRuntime
from hub.inbound.gateway import Gateway, Outcome
from hub.plugin import Headers, InboundRequest
from hub.runtime import metrics
from hub.runtime.changes import get_changes
from hub.runtime.plugin_host import get_host
from hub.storage.db import get_database
from hub.storage.ratelimit import get_rate_limiter
from hub.storage.redis import get_redis
from hub.storage.vault import get_vault
from hub.web.answer_later import Answer, AnswerLater, offered
from hub.web.errors import handle_hookhub_error, handle_unexpected

CHUNK = 64 * 1024
PATH = re.compile(r"/hooks/([^/]+)/([^/]+)")        # Flask's rule /hooks/<provider>/<connection_id>
METHODS = frozenset({"GET", "HEAD", "POST"})        # as Flask routes them to the rule's view (HEAD as GET)
JSON_HEADERS = (("Content-Type", "application/json"),)
StartResponse = Callable[..., Any]


class HookEndpoint:
    """The endpoint for one app: its gateway, settings and JSON provider, looked up once."""

    def __init__(self, app: Flask, gateway: Gateway) -> None:
        self.gateway = gateway
        self.trusted_proxies = app.config["HOOKHUB_TRUSTED_PROXIES"]
        self.public_url = app.config["HOOKHUB_PUBLIC_URL"]
        self.json = app.json
        self.compact = not (app.json.compact is False or (app.json.compact is None and app.debug))   # jsonify's rule

    # ------------------------------------------------------------------ WSGI

    def mount(self, wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """A WSGI app that answers the hook endpoint's requests and hands the rest to ``wsgi_app``."""

        def dispatch(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            path_info = environ.get("PATH_INFO") or ""
            if path_info.startswith("/hooks/") and environ.get("REQUEST_METHOD") in METHODS:
                match = PATH.fullmatch(path_info.encode("latin-1").decode(errors="replace"))
                if match:
                    return self.wsgi(environ, start_response, match.group(1), match.group(2))
            return wsgi_app(environ, start_response)

        return dispatch

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse, provider: str,
             connection_id: str) -> Iterable[bytes]:
        later = offered(environ)
        try:
            # A POST's row is probably coming: a commit about to start waits briefly for it (a
            # handshake, GET or HEAD, stores nothing).
            with (self.gateway.events.commits.expecting() if environ.get("REQUEST_METHOD") == "POST"
                  else nullcontext()):
                answer = self.respond(Request(environ), provider, connection_id, later, start_response)
        except Exception as exc:  # noqa: BLE001 - as in Flask: the last-resort handler logs it and answers 500
            answer = self._unexpected(exc)
        if answer is None:
            assert later is not None
            return later
        return self._app(answer, environ, start_response)()

    def view(self, provider: str, connection_id: str) -> Response:
        """The Flask view of the same URL rule (requests that reach Flask rather than :meth:`mount`)."""
        answer = self.respond(request._get_current_object(), provider, connection_id)   # type: ignore[attr-defined]
        assert answer is not None
        return answer if isinstance(answer, Response) else self.json.response(answer.body())

    # ------------------------------------------------------------------ the request

    def respond(self, req: Request, provider: str, connection_id: str, later: AnswerLater | None = None,
                start_response: StartResponse | None = None) -> Outcome | Response | None:
        """The gateway's outcome for ``req`` (answered 200 JSON), or the response to send instead:
        a reply, a handshake, or a rejection (recorded as a failure). None when the answer is given
        to ``later`` once the event's commit is done (see :mod:`hub.web.answer_later`)."""
        gateway = self.gateway
        received_at = datetime.now(UTC)
        environ = req.environ
        headers = Headers(_environ_headers(environ))
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        client = client_address(req.remote_addr or "", [forwarded] if forwarded is not None else [],
                                self.trusted_proxies)
        runtime: ConnectionRuntime | None = None
        body: bytes | None = None
        try:
            runtime = gateway.connection(connection_id)
            gateway.admit(runtime, client)
            _check_declared_length(req, runtime.max_body)
            gateway.authenticate(runtime, provider=provider, client=client,
                                 key=req.args.get("key") or headers.get("X-Hookhub-Key"))
            body = _read_body(req, runtime.max_body)
            settled = None
            if later is not None:
                assert start_response is not None
                context = contextvars.copy_context()      # the request id, for the lines logged then
                known = (runtime, req, headers, body, client)

                def settled(outcome: Outcome | None, error: BaseException | None) -> None:
                    answer = context.run(self._settled, outcome, error, *known)
                    later.give(self._app(answer, environ, start_response))

            outcome = gateway.receive(runtime, self._inbound_request(req, headers, body, received_at, client), settled)
        except HookhubError as exc:
            return self._rejected(exc, runtime or getattr(exc, "runtime", None), req, headers, body, client)
        if outcome is None:
            return None
        return self._accepted(outcome)

    def _settled(self, outcome: Outcome | None, error: BaseException | None, runtime: ConnectionRuntime,
                 req: Request, headers: Headers, body: bytes, client: str) -> Outcome | Response:
        """The answer to a request whose commit was awaited later, as :meth:`respond` gives it."""
        if isinstance(error, HookhubError):
            return self._rejected(error, runtime, req, headers, body, client)
        if error is not None:
            return self._unexpected(error)
        assert outcome is not None
        return self._accepted(outcome)

    def _accepted(self, outcome: Outcome) -> Outcome | Response:
        metrics.inbound(outcome.status)          # accepted, duplicate or handshake
        if outcome.reply is not None:
            reply = outcome.reply
            response = Response(reply.body, status=reply.status, content_type=reply.content_type)
            response.headers.update(dict(reply.headers))
            return response
        return outcome

    def _rejected(self, exc: HookhubError, runtime: ConnectionRuntime | None, req: Request, headers: Headers,
                  body: bytes | None, client: str) -> Response:
        _record(self.gateway, exc, runtime, req, headers, body, client)
        metrics.inbound(exc.code)
        return handle_hookhub_error(exc, self.json)

    def _unexpected(self, exc: BaseException) -> Response:
        metrics.inbound("internal_error")
        return handle_unexpected(exc, self.json)

    def _app(self, answer: Outcome | Response, environ: dict[str, Any], start_response: StartResponse) -> Answer:
        """``answer`` as a function that calls ``start_response`` and returns the body."""
        if isinstance(answer, Response):
            return lambda: answer(environ, start_response)
        body = self._json_bytes(answer.body())

        def accepted() -> Iterable[bytes]:
            start_response("200 OK", [*JSON_HEADERS, ("Content-Length", str(len(body)))])
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

        return accepted

    def _inbound_request(self, req: Request, headers: Headers, body: bytes, received_at: datetime,
                         client: str) -> InboundRequest:
        environ = req.environ
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw_uri:
            qs = req.query_string.decode("latin-1")
            raw_uri = req.path + (f"?{qs}" if qs else "")
        return InboundRequest(
            method=req.method, url=self.public_url + raw_uri, path=req.path, headers=headers,
            query=req.args.to_dict(flat=False), body=body, content_type=(req.mimetype or "").lower(),
            remote_addr=client, received_at=received_at)

    def _json_bytes(self, value: Any) -> bytes:
        """What ``jsonify(value)`` sends: the app's JSON, compact unless in debug, and a newline."""
        text = self.json.dumps(value, separators=(",", ":")) if self.compact else self.json.dumps(value, indent=2)
        return f"{text}\n".encode()


def _environ_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The request's headers as werkzeug's ``request.headers`` lists them, read once."""
    pairs = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key != "HTTP_CONTENT_TYPE" and key != "HTTP_CONTENT_LENGTH":
                pairs.append((key[5:].replace("_", "-").title(), value))
        elif (key == "CONTENT_TYPE" or key == "CONTENT_LENGTH") and value:
            pairs.append((key.replace("_", "-").title(), value))
    return pairs


def _check_declared_length(req: Request, limit: int) -> None:
    """A body declared too large is refused before anything is read (and before the key)."""
    declared = req.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; this connection accepts at most {limit}")


def _read_body(req: Request, limit: int) -> bytes:
    """The body, refused while reading when a chunked one goes over the limit."""
    stream = req.stream
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes, the most this connection accepts")
    return b"".join(chunks)


def _record(gateway: Gateway, exc: HookhubError, runtime: ConnectionRuntime | None, req: Request,
            headers: Headers, body: bytes | None, client: str) -> None:
    gateway.failures.record(
        workspace_id=runtime.workspace if runtime else None,
        connection_id=runtime.id if runtime else None,
        status=exc.status, code=exc.code, message=exc.message[:2000], method=req.method,
        path=req.path[:500], remote_addr=client,
        header_names=sorted({name.lower() for name, _ in headers.items_multi()})[:100],
        headers_sha256=headers_sha256(headers.items_multi()),
        body_sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
        body_size=len(body) if body is not None else req.content_length)


def init_app(app: Flask) -> None:
    gateway = app.extensions["hookhub.gateway"] = Gateway(
        database=get_database(app), redis_client=lambda: get_redis(app), host=get_host(app),
        vault=get_vault(app), config=app.config, rate_limiter=lambda: get_rate_limiter(app), app=app)
    get_changes(app).listen(gateway.cache.invalidate)     # this process's changes: at once
    endpoint = app.extensions["hookhub.hook_endpoint"] = HookEndpoint(app, gateway)
    app.add_url_rule("/hooks/<provider>/<connection_id>", endpoint="inbound.receive", view_func=endpoint.view,
                     methods=["GET", "POST"])
    app.wsgi_app = endpoint.mount(app.wsgi_app)            # type: ignore[method-assign]
