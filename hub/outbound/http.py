"""The sender every channel's requests go through: SSRF-checked at connect time, bounded in time
and size, redirects followed by hand, and every network failure turned into a plain-words error."""

from __future__ import annotations

import atexit
import contextvars
import hashlib
import http.client
import io
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from hub import __version__
from hub.outbound.ssrf import AddressPolicy, SSRFBlocked
from hub.plugin import Headers, HttpRequest, HttpResponse

MAX_REDIRECTS = 3
CONNECT_TIMEOUT = 5.0
KINDS = frozenset({"dns", "connect", "tls", "timeout", "protocol", "redirect", "too_large"})
# Only these headers follow a redirect to another origin: any other (an admin's auth header can
# have any name) may carry a credential meant for the first origin alone.
CROSS_ORIGIN_HEADERS = frozenset({"content-type", "user-agent", "accept", "webhook-id", "webhook-timestamp",
                                  "webhook-signature"})
# The deadline of the send running in this thread, read by the responses our connections create.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("hookhub_send_deadline", default=None)


class SendError(Exception):
    """A network failure, in plain words naming the host (never the URL: chat webhook URLs carry
    tokens). ``kind`` is one of ``dns``, ``connect``, ``tls``, ``timeout``, ``protocol``,
    ``redirect``, ``too_large``."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown SendError kind {kind!r}")
        super().__init__(message)
        self.kind = kind


class _DeadlineReader(io.RawIOBase):
    """A socket reader whose every read waits at most until the send's deadline: a server that
    trickles bytes would otherwise restart the per-read timeout forever and hold a worker."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._raw, self._deadline = sock, sock.makefile("rb", buffering=0), deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the time allowed for the answer ran out")
        self._sock.settimeout(remaining)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """The socket as http.client's response sees it: it only ever calls ``makefile``."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def makefile(self, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineHTTPResponse(http.client.HTTPResponse):
    """http.client's response, reading through a :class:`_DeadlineReader` during a send."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        deadline = _deadline.get()
        super().__init__(sock if deadline is None else _DeadlineSocket(sock, deadline), *args, **kwargs)


class _CheckedConnectionMixin:
    """Resolves the host through the policy, checks every address and connects to a checked one,
    so no second DNS lookup can swap in another address. TLS (SNI, certificate) still uses the
    hostname because only the socket creation changes."""

    response_class = _DeadlineHTTPResponse
    _dns_host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any

    def __init__(self, *args: Any, policy: AddressPolicy, **kwargs: Any) -> None:
        self._policy = policy
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        host = self._dns_host.strip("[]").rstrip(".")
        error: OSError | None = None
        for family, socktype, proto, _, sockaddr in self._policy.resolve(host, self.port):
            sock = socket.socket(family, socktype, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            sys.audit("http.client.connect", self, host, self.port)
            return sock
        where = f"{host} ({_address(sockaddr)})" if host != sockaddr[0] else _address(sockaddr)
        if isinstance(error, TimeoutError):
            raise SendError("timeout", f"timeout: could not connect to {where} within {self.timeout:g} s")
        if isinstance(error, ConnectionRefusedError):
            raise SendError("connect", f"connection refused by {where}")
        raise SendError("connect", f"could not connect to {where} ({_os_reason(error)})")


class _CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    """requests' adapter with urllib3 pools of policy-checked connections (keep-alive kept)."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        self._policy = policy  # before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # The pool's extra keywords reach each connection's constructor: that is how it gets the policy.
        self.poolmanager.pool_classes_by_scheme = {
            "http": partial(_CheckedHTTPPool, policy=self._policy),
            "https": partial(_CheckedHTTPSPool, policy=self._policy),
        }


class _ClientCertFiles:
    """Client certificates written once to private files (ssl loads them only from paths)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir: str | None = None
        self._paths: dict[str, tuple[str, str]] = {}

    def paths(self, cert_pem: str, key_pem: str) -> tuple[str, str]:
        digest = hashlib.sha256(f"{cert_pem}\0{key_pem}".encode()).hexdigest()
        with self._lock:
            if digest not in self._paths:
                if self._dir is None:
                    self._dir = tempfile.mkdtemp(prefix="hookhub-mtls-")  # mode 0700
                    atexit.register(shutil.rmtree, self._dir, True)
                pair = (os.path.join(self._dir, f"{digest}.crt"), os.path.join(self._dir, f"{digest}.key"))
                for path, text in zip(pair, (cert_pem, key_pem), strict=True):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                    with os.fdopen(fd, "w") as handle:
                        handle.write(text)
                self._paths[digest] = pair
            return self._paths[digest]

    def remove(self) -> None:
        with self._lock:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
            self._dir, self._paths = None, {}


class Sender:
    """The process's one outbound HTTP client, shared by every worker thread.

    One requests session (thread-safe for this use: nothing per-request is stored on it) whose
    connections are checked by ``policy`` at connect time; no proxy or CA bundle is taken from
    the environment. ``ca_bundle`` replaces certifi's CAs (an internal CA, or the test suite's)."""

    def __init__(self, policy: AddressPolicy, pool_maxsize: int = 64, *, ca_bundle: str | None = None) -> None:
        self.policy = policy
        self._verify: str | bool = ca_bundle or True
        self._certs = _ClientCertFiles()
        session = requests.Session()
        session.trust_env = False
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # no state between channels
        session.headers.update({"User-Agent": f"Hookhub/{__version__}", "Accept-Encoding": "gzip, deflate"})
        adapter = _CheckedAdapter(policy, pool_connections=pool_maxsize, pool_maxsize=pool_maxsize, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session

    def close(self) -> None:
        """Close pooled connections and remove the client certificate files."""
        self._session.close()
        self._certs.remove()

    def send(self, request: HttpRequest, *, timeout: float, client_cert: tuple[str, str] | None = None,
             max_body: int = 256 * 1024) -> HttpResponse:
        """Send ``request`` and return the answer, its body cut at ``max_body`` bytes.

        ``timeout`` bounds the whole exchange, redirects included. Only 307 and 308 are followed
        (at most 3 hops, each checked like the first); other answers, 3xx included, are returned.
        Raises :class:`SSRFBlocked` for a refused address and :class:`SendError` for any other
        network problem."""
        started = time.monotonic()
        deadline = started + timeout
        cert = self._certs.paths(*client_cert) if client_cert else None
        token = _deadline.set(deadline)
        try:
            url, headers = request.url, dict(request.headers)
            for hop in range(MAX_REDIRECTS + 1):
                try:
                    status, answer, body = self._exchange(request.method, url, headers, request.body,
                                                          deadline, timeout, cert, max_body)
                except SSRFBlocked as exc:
                    if hop == 0:
                        raise
                    raise SSRFBlocked(f"the redirect target {_host(url)} was refused: {exc.reason}",
                                      exc.address) from exc
                location = answer.get("Location")
                if status not in (307, 308) or not location:
                    return HttpResponse(status, answer, body, round((time.monotonic() - started) * 1000, 1))
                if hop == MAX_REDIRECTS:
                    raise SendError("redirect", f"redirect: {_host(request.url)} redirected more than "
                                                f"{MAX_REDIRECTS} times")
                next_url = urljoin(url, location)
                _check_url(next_url, kind="redirect")
                if urlsplit(next_url)[:2] != urlsplit(url)[:2]:
                    headers = {k: v for k, v in headers.items() if k.lower() in CROSS_ORIGIN_HEADERS}
                url = next_url
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            _deadline.reset(token)

    def _exchange(self, method: str, url: str, headers: dict[str, str], body: bytes, deadline: float,
                  timeout: float, cert: tuple[str, str] | None, max_body: int) -> tuple[int, Headers, bytes]:
        _check_url(url, kind="protocol")
        host = _host(url)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SendError("timeout", f"timeout: {host} gave no complete answer within {timeout:g} s")
        try:
            response = self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False, stream=True,
                timeout=(min(remaining, CONNECT_TIMEOUT), remaining), cert=cert, verify=self._verify)
            try:
                content = _read_at_most(response.raw, max_body)
            finally:
                response.close()  # a body cut short closes the connection; a full one went back to the pool
        except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError,
                ValueError) as exc:
            raise _plain_error(exc, host, timeout) from exc
        return response.status_code, Headers(list(response.raw.headers.iteritems())), content


def _read_at_most(raw: Any, max_body: int) -> bytes:
    body = bytearray()
    if max_body > 0:
        for chunk in raw.stream(min(max_body, 64 * 1024), decode_content=True):
            body += chunk
            if len(body) >= max_body:
                break
    return bytes(body[:max_body])


def _check_url(url: str, kind: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise SendError(kind, f"{kind}: only http and https URLs can be reached (got {parts.scheme or 'none'!r})")
    if not _host(url):
        raise SendError(kind, f"{kind}: the URL has no host")


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return "(an unreadable host)"


def _address(sockaddr: tuple[Any, ...]) -> str:
    return f"[{sockaddr[0]}]:{sockaddr[1]}" if ":" in str(sockaddr[0]) else f"{sockaddr[0]}:{sockaddr[1]}"


def _os_reason(error: BaseException | None) -> str:
    return (getattr(error, "strerror", None) or str(error) or type(error).__name__).lower()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests and urllib3 nest errors in several ways)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([getattr(current, "reason", None), current.__cause__, current.__context__, *current.args])


_PROTOCOL_WORDS = {
    "RemoteDisconnected": "it closed the connection without answering",
    "BadStatusLine": "the answer does not start with an HTTP status line",
    "LineTooLong": "a line of the answer is too long",
    "IncompleteRead": "the answer was cut short",
    "InvalidChunkLength": "the chunked body is malformed",
    "DecodeError": "the compressed body could not be decoded",
    "LocationParseError": "the URL is not valid",
    "InvalidURL": "the URL is not valid",
    "InvalidHeader": "a request header is not valid",
}


def _plain_error(exc: BaseException, host: str, timeout: float) -> Exception:
    """The error to raise for ``exc``: our own errors unwrapped, anything else as a SendError."""
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, SSRFBlocked | SendError):
            return cause
    if any(isinstance(c, TimeoutError | requests.Timeout | urllib3.exceptions.TimeoutError) for c in chain):
        return SendError("timeout", f"timeout: {host} gave no complete answer within {timeout:g} s")
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return SendError("tls", f"TLS: the certificate of {host} could not be verified ({cause.verify_message})")
    for cause in chain:
        if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return SendError("tls", f"TLS: {host} closed the secure connection before answering "
                                    "(it may require a client certificate, or refuse the one sent)")
        if isinstance(cause, ssl.SSLError):
            reason = (cause.reason or "handshake failed").replace("_", " ").lower()
            if "certificate required" in reason:
                return SendError("tls", f"TLS: {host} requires a client certificate ({reason})")
            return SendError("tls", f"TLS: the secure connection to {host} failed ({reason})")
    for cause in chain:
        if type(cause).__name__ in _PROTOCOL_WORDS:
            return SendError("protocol", f"protocol: bad answer from {host}: {_PROTOCOL_WORDS[type(cause).__name__]}")
    for cause in chain:
        if isinstance(cause, ConnectionError):  # reset, aborted, broken pipe
            return SendError("connect", f"the connection to {host} failed ({_os_reason(cause)})")
    return SendError("protocol", f"protocol: the exchange with {host} failed ({type(exc).__name__})")
