"""The hook endpoint, ``POST|GET /hooks/<provider>/<connection_id>``: reads the request within the
size limit and hands it to the gateway; every rejection is answered in the error shape and recorded
as a failure."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from hub.core.errors import HookhubError, PayloadTooLarge
from hub.inbound.cache import ConnectionRuntime
from hub.inbound.gateway import Gateway
from hub.plugin import Headers, InboundRequest
from hub.runtime.changes import get_changes
from hub.runtime.plugin_host import get_host
from hub.storage.db import get_database
from hub.storage.extensions import app_object
from hub.storage.ratelimit import RateLimiter
from hub.storage.redis import get_redis, get_redis_url
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
    try:
        runtime = gateway.connection(connection_id, provider)
        body = _read_body(runtime.max_body)
        outcome = gateway.receive(runtime, _inbound_request(body, received_at))
    except HookhubError as exc:
        _record(gateway, exc, runtime or getattr(exc, "runtime", None), body)
        return handle_hookhub_error(exc)
    if outcome.reply is not None:
        reply = outcome.reply
        response = Response(reply.body, status=reply.status, content_type=reply.content_type)
        response.headers.update(dict(reply.headers))
        return response
    return jsonify(outcome.body())


def _read_body(limit: int) -> bytes:
    """The body, refused from Content-Length before reading, and while reading a chunked one."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; this connection accepts at most {limit}")
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


def _inbound_request(body: bytes, received_at: datetime) -> InboundRequest:
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw_uri:
        qs = request.query_string.decode("latin-1")
        raw_uri = request.path + (f"?{qs}" if qs else "")
    return InboundRequest(
        method=request.method, url=current_app.config["HOOKHUB_PUBLIC_URL"] + raw_uri, path=request.path,
        headers=Headers(list(request.headers.items())), query=request.args.to_dict(flat=False), body=body,
        content_type=(request.mimetype or "").lower(), remote_addr=request.remote_addr or "",
        received_at=received_at)


def _record(gateway: Gateway, exc: HookhubError, runtime: ConnectionRuntime | None, body: bytes | None) -> None:
    gateway.failures.record(
        workspace_id=runtime.workspace if runtime else None,
        connection_id=runtime.id if runtime else None,
        status=exc.status, code=exc.code, message=exc.message[:2000], method=request.method,
        path=request.path[:500], remote_addr=request.remote_addr,
        header_names=sorted({name.lower() for name in request.headers.keys()})[:100],
        body_sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
        body_size=len(body) if body is not None else request.content_length)


def init_app(app: Flask) -> None:
    def rate_limiter() -> RateLimiter:
        return app_object(app, "hookhub.inbound_limiter", lambda: RateLimiter(get_redis_url(app)))

    gateway = app.extensions["hookhub.gateway"] = Gateway(
        database=get_database(app), redis_client=lambda: get_redis(app), host=get_host(app),
        vault=get_vault(app), config=app.config, rate_limiter=rate_limiter)
    get_changes(app).listen(gateway.cache.invalidate)     # this process's changes: at once
    app.register_blueprint(bp)
