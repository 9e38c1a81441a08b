"""A capturing HTTP receiver on 127.0.0.1, for tests of outbound deliveries.

As the ``receiver`` fixture of the ``hub.testing`` pytest plugin, or directly::

    with Receiver() as rx:
        rx.reply(Reply(429, headers={"Retry-After": "2"}), Reply(200, body="ok"))
        ...                       # point a connection at rx.url + "/hook"
        first, second = rx.wait_for(2)

Replies are served in the order given, then ``default`` for every further request; a reply may
be a callable taking the captured request (``Receiver(default=lambda got: routes[got.path])``
answers by path). Each request is recorded with its raw body, the client's address and, over
mutual TLS, the client's certificate; ``connections`` counts the TCP connections accepted
(requests over a kept-alive connection share one).

An endpoint that misbehaves below HTTP (garbage, an answer that trickles in, a connection closed
without an answer) is a ``Reply(raw=...)`` that writes the bytes itself::

    rx.reply(Reply(raw=lambda out: out.write(b"this is not http\\r\\n\\r\\n")))
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
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import pytest

from hub.plugin import Headers


@dataclass
class Reply:
    """One scripted answer. ``body`` may be bytes, text, or a JSON value (dict/list).

    ``raw``, when given, writes the answer itself (status line and all, or nothing) to the
    connection, which is closed after it; ``status``, ``body`` and ``headers`` are then unused."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0                      # seconds to wait before answering
    raw: Callable[[BinaryIO], None] | None = None

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
    client: tuple[str, int] = ("", 0)       # the sender's address and port (one per connection)
    peer_cert: dict[str, Any] | None = None  # the client certificate over mutual TLS (ssl's getpeercert())

    def json(self) -> Any:
        return json.loads(self.body)


ReplySource = Reply | Callable[[Captured], Reply]


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers from a script.

    ``host`` is the loopback address to listen on: another one (``127.0.0.2``) stands for a second
    machine, e.g. the target of a redirect that a policy should refuse."""

    def __init__(self, default: ReplySource | None = None, ssl_context: ssl.SSLContext | None = None,
                 host: str = "127.0.0.1") -> None:
        self.default: ReplySource = default or Reply(200, b"")
        self.ssl_context = ssl_context          # HTTPS (mutual TLS when it requires client certificates)
        self.host = host
        self.requests: list[Captured] = []
        self.connections = 0
        self.cut_off = 0                        # requests whose sender went away mid-body (not recorded)
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
            request_queue_size = 128   # socketserver's 5 resets connections when a worker's sends arrive at once

            def verify_request(self, request: Any, client_address: Any) -> bool:
                with receiver._lock:
                    receiver.connections += 1
                return True

            def finish_request(self, request: Any, client_address: Any) -> None:
                if context is not None:  # the handshake runs in the connection's thread
                    try:
                        request = context.wrap_socket(request, server_side=True)
                    except (ssl.SSLError, OSError):
                        receiver.tls_failures += 1
                        return
                super().finish_request(request, client_address)

        self.tls_failures = 0
        self._server = Server((self.host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},  # a quick stop()
                         name="hookhub-receiver", daemon=True).start()
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
    def port(self) -> int:
        """The port it listens on (for a URL with another host name, resolved to it in the test)."""
        assert self._server is not None, "start() the receiver first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` with an ``ssl_context``), without a trailing slash."""
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

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
            with self._lock:
                self.cut_off += 1
            return
        parts = urlsplit(handler.path)
        peer_cert = handler.connection.getpeercert() if isinstance(handler.connection, ssl.SSLSocket) else None
        captured = Captured(handler.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                            Headers(list(handler.headers.items())), body, time.monotonic(),
                            handler.client_address[:2], peer_cert or None)
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
            if reply.raw is not None:
                handler.close_connection = True
                reply.raw(handler.wfile)
                return
            payload, headers = reply.encoded()
            handler.send_response(reply.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:         # the client gave up (a timeout test)
            handler.close_connection = True
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started :class:`Receiver`, stopped after the test."""
    with Receiver() as rx:
        yield rx
