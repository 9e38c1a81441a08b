"""Why an outbound send did not get an answer, in plain words: refused by the SSRF policy, or a
network failure of a named kind. Messages name the host, never the URL (chat webhook URLs carry
tokens)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

KINDS = frozenset({"dns", "connect", "tls", "timeout", "protocol", "redirect", "too_large"})


class SSRFBlocked(Exception):
    """An outbound request was refused because of the address it would reach.

    ``reason`` says why in plain words (shown to the admin); ``address`` is the refused IP,
    or ``None`` when the refusal is not about one address."""

    def __init__(self, reason: str, address: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.address = address


class SendError(Exception):
    """A network failure, in plain words naming the host (never the URL: chat webhook URLs carry
    tokens). ``kind`` is one of ``dns``, ``connect``, ``tls``, ``timeout``, ``protocol``,
    ``redirect``, ``too_large``."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown SendError kind {kind!r}")
        super().__init__(message)
        self.kind = kind


def host_of(url: str) -> str:
    """The host of ``url`` for a message (never the whole URL)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return "(an unreadable host)"


def address_text(sockaddr: tuple[Any, ...]) -> str:
    return f"[{sockaddr[0]}]:{sockaddr[1]}" if ":" in str(sockaddr[0]) else f"{sockaddr[0]}:{sockaddr[1]}"


def os_reason(error: BaseException | None) -> str:
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


def plain_error(exc: BaseException, host: str, timeout: float) -> Exception:
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
            return SendError("connect", f"the connection to {host} failed ({os_reason(cause)})")
    return SendError("protocol", f"protocol: the exchange with {host} failed ({type(exc).__name__})")
