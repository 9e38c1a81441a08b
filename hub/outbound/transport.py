"""The sender every channel's requests go through: SSRF-checked at connect time, bounded in time
and size, redirects followed by hand, and every network failure turned into a plain-words error.
One per process (:func:`get_sender`), shared by every worker thread."""

from __future__ import annotations

import http.client
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from flask import Flask
from requests.structures import CaseInsensitiveDict

from hub import __version__
from hub.outbound.connections import CheckedAdapter, deadline_var
from hub.outbound.errors import SendError, SSRFBlocked, host_of, plain_error
from hub.outbound.mtls import ClientCertFiles
from hub.outbound.ssrf import AddressPolicy
from hub.plugin import Headers, HttpRequest, HttpResponse
from hub.storage.extensions import app_object

MAX_REDIRECTS = 3
CONNECT_TIMEOUT = 5.0
# Only these headers follow a redirect to another origin: any other (an admin's auth header can
# have any name) may carry a credential meant for the first origin alone.
CROSS_ORIGIN_HEADERS = frozenset({"content-type", "user-agent", "accept", "webhook-id", "webhook-timestamp",
                                  "webhook-signature"})


class Sender:
    """The process's one outbound HTTP client, shared by every worker thread.

    One requests transport adapter (thread-safe for this use: nothing per-request is stored on
    it) whose connections are checked by ``policy`` at connect time; no proxy, CA bundle or netrc
    is taken from the environment, and no cookie is kept between requests. ``ca_bundle`` replaces
    certifi's CAs (an internal CA, or the test suite's).

    Requests go to the adapter as requests' ``Session.send`` would send them, without a session:
    a session merges its cookie jar into every request and extracts the answer's cookies into it
    (a jar that keeps none, here), resolves proxies and runs hooks — ~10 % of a worker's time
    delivering to a fast endpoint (py-spy), for nothing this sender uses."""

    def __init__(self, policy: AddressPolicy, pool_maxsize: int = 64, *, ca_bundle: str | None = None) -> None:
        self.policy = policy
        self._verify: str | bool = ca_bundle or True
        self._certs = ClientCertFiles()
        self._defaults = {"User-Agent": f"Hookhub/{__version__}", "Accept-Encoding": "gzip, deflate"}
        self._adapter = CheckedAdapter(policy, pool_connections=pool_maxsize, pool_maxsize=pool_maxsize,
                                       max_retries=0)

    def close(self) -> None:
        """Close pooled connections and remove the client certificate files."""
        self._adapter.close()
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
        token = deadline_var.set(deadline)
        try:
            url, headers = request.url, dict(request.headers)
            for hop in range(MAX_REDIRECTS + 1):
                try:
                    status, answer, body = self._exchange(request.method, url, headers, request.body,
                                                          deadline, timeout, cert, max_body)
                except SSRFBlocked as exc:
                    if hop == 0:
                        raise
                    raise SSRFBlocked(f"the redirect target {host_of(url)} was refused: {exc.reason}",
                                      exc.address) from exc
                location = answer.get("Location")
                if status not in (307, 308) or not location:
                    return HttpResponse(status, answer, body, round((time.monotonic() - started) * 1000, 1))
                if hop == MAX_REDIRECTS:
                    raise SendError("redirect", f"redirect: {host_of(request.url)} redirected more than "
                                                f"{MAX_REDIRECTS} times")
                next_url = urljoin(url, location)
                _check_url(next_url, kind="redirect")
                if urlsplit(next_url)[:2] != urlsplit(url)[:2]:
                    headers = {k: v for k, v in headers.items() if k.lower() in CROSS_ORIGIN_HEADERS}
                url = next_url
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            deadline_var.reset(token)

    def _exchange(self, method: str, url: str, headers: dict[str, str], body: bytes, deadline: float,
                  timeout: float, cert: tuple[str, str] | None, max_body: int) -> tuple[int, Headers, bytes]:
        _check_url(url, kind="protocol")
        host = host_of(url)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SendError("timeout", f"timeout: {host} gave no complete answer within {timeout:g} s")
        try:
            response = self._adapter.send(self._prepared(method, url, headers, body), stream=True,
                                          timeout=(min(remaining, CONNECT_TIMEOUT), remaining), verify=self._verify,
                                          cert=cert, proxies={})
            try:
                content = _read_at_most(response.raw, max_body)
            finally:
                response.close()  # a body cut short closes the connection; a full one went back to the pool
        except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError,
                ValueError) as exc:
            raise plain_error(exc, host, timeout) from exc
        return response.status_code, Headers(list(response.raw.headers.iteritems())), content

    def _prepared(self, method: str, url: str, headers: dict[str, str], body: bytes) -> requests.PreparedRequest:
        """The request as ``requests.Session`` prepares it with this sender's settings: its default
        headers under the request's own (a header of the request wins whatever its case; one set to
        None is left out), credentials in the URL as basic authentication; no cookies, no hooks."""
        merged = CaseInsensitiveDict(self._defaults)
        merged.update(headers)
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url, None)
        prepared.prepare_headers({name: value for name, value in merged.items() if value is not None})
        prepared.prepare_body(body, None)
        prepared.prepare_auth(None, url)
        return prepared


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
    if not host_of(url):
        raise SendError(kind, f"{kind}: the URL has no host")


def get_sender(app: Flask) -> Sender:
    """The process's one Sender, built from the app's settings on first use."""
    return app_object(app, "hookhub.sender", lambda: Sender(
        AddressPolicy(allow=app.config["HOOKHUB_ALLOW_PRIVATE_NETWORKS"]),
        pool_maxsize=int(app.config.get("HOOKHUB_SEND_CONCURRENCY", 64)),
        ca_bundle=app.config.get("HOOKHUB_CA_BUNDLE")))
