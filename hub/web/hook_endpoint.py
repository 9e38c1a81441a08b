"""The hook endpoint, ``POST|GET /hooks/<provider>/<connection_id>``: reads the request within the
size limit and hands it to the gateway; every rejection is answered in the error shape and recorded
as a failure."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from hub.core.addresses import client_address
from hub.core.digests import headers_sha256
from hub.core.errors import HookhubError, PayloadTooLarge
from hub.inbound.cache import ConnectionRuntime
from hub.inbound.gateway import Gateway
from hub.plugin import Headers, InboundRequest
from hub.runtime.changes import get_changes
from hub.runtime.plugin_host import get_host
from hub.storage.db import get_database
from hub.storage.ratelimit import get_rate_limiter
from hub.storage.redis import get_redis
from hub.storage.vault import get_vault
from hub.web.errors import handle_hookhub_error

bp = Blueprint("inbound", __name__)
CHUNK = 64 * 1024


@bp.route("/hooks/<provider>/<connection_id>", methods=["GET", "POST"])
def receive(provider: str, connection_id: str) -> Response:
    gateway: Gateway = current_app.extensions["hookhub.gateway"]
    received_at = datetime.now(UTC)
    runtime: ConnectionRuntime | None = None
    body: bytes | None = None
    client = client_address(request.remote_addr or "", request.headers.getlist("X-Forwarded-For"),
                            current_app.config["HOOKHUB_TRUSTED_PROXIES"])
    try:
        runtime = gateway.connection(connection_id)
        gateway.admit(runtime, client)
        _check_declared_length(runtime.max_body)
        gateway.authenticate(runtime, provider=provider, client=client,
                             key=request.args.get("key") or request.headers.get("X-Hookhub-Key"))
        body = _read_body(runtime.max_body)
        outcome = gateway.receive(runtime, _inbound_request(body, received_at, client))
    except HookhubError as exc:
        _record(gateway, exc, runtime or getattr(exc, "runtime", None), body, client)
        return handle_hookhub_error(exc)
    if outcome.reply is not None:
        reply = outcome.reply
        response = Response(reply.body, status=reply.status, content_type=reply.content_type)
        response.headers.update(dict(reply.headers))
        return response
    return jsonify(outcome.body())


def _check_declared_length(limit: int) -> None:
    """A body declared too large is refused before anything is read (and before the key)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; this connection accepts at most {limit}")


def _read_body(limit: int) -> bytes:
    """The body, refused while reading when a chunked one goes over the limit."""
    stream = request.stream
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


def _inbound_request(body: bytes, received_at: datetime, client: str) -> InboundRequest:
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw_uri:
        qs = request.query_string.decode("latin-1")
        raw_uri = request.path + (f"?{qs}" if qs else "")
    return InboundRequest(
        method=request.method, url=current_app.config["HOOKHUB_PUBLIC_URL"] + raw_uri, path=request.path,
        headers=Headers(list(request.headers.items())), query=request.args.to_dict(flat=False), body=body,
        content_type=(request.mimetype or "").lower(), remote_addr=client,
        received_at=received_at)


def _record(gateway: Gateway, exc: HookhubError, runtime: ConnectionRuntime | None, body: bytes | None,
            client: str) -> None:
    gateway.failures.record(
        workspace_id=runtime.workspace if runtime else None,
        connection_id=runtime.id if runtime else None,
        status=exc.status, code=exc.code, message=exc.message[:2000], method=request.method,
        path=request.path[:500], remote_addr=client,
        header_names=sorted({name.lower() for name in request.headers.keys()})[:100],
        headers_sha256=headers_sha256(request.headers.items()),
        body_sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
        body_size=len(body) if body is not None else request.content_length)


def init_app(app: Flask) -> None:
    gateway = app.extensions["hookhub.gateway"] = Gateway(
        database=get_database(app), redis_client=lambda: get_redis(app), host=get_host(app),
        vault=get_vault(app), config=app.config, rate_limiter=lambda: get_rate_limiter(app), app=app)
    get_changes(app).listen(gateway.cache.invalidate)     # this process's changes: at once
    app.register_blueprint(bp)
