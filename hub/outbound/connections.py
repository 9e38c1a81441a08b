"""Connections whose every address is checked by the SSRF policy at connect time, and responses
that read under the send's total deadline: the urllib3 pieces :class:`~hub.outbound.transport.Sender`
mounts into its requests session."""

from __future__ import annotations

import contextvars
import http.client
import io
import socket
import sys
import time
from functools import partial
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from hub.outbound.errors import SendError, address_text, os_reason
from hub.outbound.ssrf import AddressPolicy

# The deadline of the send running in this thread, read by the responses our connections create.
deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("hookhub_send_deadline", default=None)


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
        deadline = deadline_var.get()
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
        where = f"{host} ({address_text(sockaddr)})" if host != sockaddr[0] else address_text(sockaddr)
        if isinstance(error, TimeoutError):
            raise SendError("timeout", f"timeout: could not connect to {where} within {self.timeout:g} s")
        if isinstance(error, ConnectionRefusedError):
            raise SendError("connect", f"connection refused by {where}")
        raise SendError("connect", f"could not connect to {where} ({os_reason(error)})")


class _CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
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
