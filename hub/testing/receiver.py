"""A capturing HTTP receiver on 127.0.0.1, for tests of outbound deliveries.

As the ``receiver`` fixture of the ``hub.testing`` pytest plugin, or directly::

    with Receiver() as rx:
        rx.reply(Reply(429, headers={"Retry-After": "2"}), Reply(200, body="ok"))
        ...                       # point a connection at rx.url + "/hook"
        first, second = rx.wait_for(2)

Replies are served in the order given, then ``default`` for every further request; a reply may
be a callable taking the captured request. Each request is recorded with its raw body.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hub.plugin import Headers


@dataclass
class Reply:
    """One scripted answer. ``body`` may be bytes, text, or a JSON value (dict/list)."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0                      # seconds to wait before answering

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode("utf-8"), headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode("utf-8"), headers


@dataclass
class Captured:
    """A request the receiver got."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    at: float                               # time.monotonic() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


ReplySource = Reply | Callable[[Captured], Reply]


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers from a script."""

    def __init__(self, default: Reply | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.default: ReplySource = default or Reply(200, b"")
        self.ssl_context = ssl_context          # HTTPS (mutual TLS when it requires client certificates)
        self.requests: list[Captured] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: deque[ReplySource] = deque()
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                receiver._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        context = self.ssl_context

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request: Any, client_address: Any) -> None:
                if context is not None:  # the handshake runs in the connection's thread
                    try:
                        request = context.wrap_socket(request, server_side=True)
                    except (ssl.SSLError, OSError):
                        receiver.tls_failures += 1
                        return
                super().finish_request(request, client_address)

        self.tls_failures = 0
        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="hookhub-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the receiver first"
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ scripting and reading

    def reply(self, *replies: ReplySource) -> Receiver:
        """Answer the next requests with ``replies``, in order."""
        with self._lock:
            self._script.extend(replies)
        return self

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """The first ``count`` requests, waiting up to ``timeout`` seconds for them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver got {len(self.requests)} request(s), expected {count}")
                self._lock.wait(left)
            return list(self.requests[:count])

    def __iter__(self) -> Iterator[Captured]:
        return iter(list(self.requests))

    def __len__(self) -> int:
        return len(self.requests)

    # ------------------------------------------------------------------ serving

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if len(body) < length:      # the client went away mid-body (killed): no request arrived
            handler.close_connection = True
            return
        parts = urlsplit(handler.path)
        captured = Captured(handler.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                            Headers(list(handler.headers.items())), body, time.monotonic())
        with self._lock:
            self.requests.append(captured)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            source = self._script.popleft() if self._script else self.default
            self._lock.notify_all()
        try:
            reply = source(captured) if callable(source) else source
            if reply.delay:
                time.sleep(reply.delay)
            payload, headers = reply.encoded()
            handler.send_response(reply.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started :class:`Receiver`, stopped after the test."""
    with Receiver() as rx:
        yield rx
