"""The outbound Sender against real HTTP(S) servers on loopback: answers, redirects, every kind of
failure, mTLS, size and time bounds, and many threads at once."""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from hub.outbound.ssrf import AddressPolicy, SSRFBlocked
from hub.outbound.transport import Sender, SendError
from hub.plugin import HttpRequest
from hub.testing import Captured, Receiver, Reply
from tests.tls import Pki, issue, key_pem, pem

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


# --------------------------------------------------------------------------- helpers

def resolver_for(names: dict[str, list[str]], calls: list[str] | None = None) -> Callable[..., list[tuple]]:
    """A getaddrinfo stand-in for made-up names (DNS is outside the project)."""

    def resolve(host: str, port: int, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list[tuple]:
        if calls is not None:
            calls.append(host)
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)) if ":" in ip
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in names[host]]

    return resolve


OK = Reply(200, b"ok")


def by_path(routes: dict[str, Reply]) -> Callable[[Captured], Reply]:
    """A receiver's ``default``: the reply for the request's path, 200 "ok" for any other path."""
    return lambda got: routes.get(got.path, OK)


def url_at(receiver: Receiver, host: str, path: str = "/") -> str:
    """The receiver's URL under another host name (one the test's resolver maps to 127.0.0.1)."""
    return receiver.url.replace(receiver.host, host, 1) + path


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """hub.testing's receiver, answering 200 "ok"."""
    with Receiver(default=OK) as rx:
        yield rx


@pytest.fixture
def sender() -> Iterator[Sender]:
    """A Sender allowed to reach the loopback receivers."""
    client = Sender(AddressPolicy(allow=LOOPBACK))
    yield client
    client.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- certificates

@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    """A test CA, a server certificate for hooks.test, a client certificate, a self-signed server."""
    folder: Path = tmp_path_factory.mktemp("pki")
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("ca", "server", "client", "self")}
    ca = issue("Hookhub Test CA", keys["ca"], None, keys["ca"], ca=True)
    files = {
        "ca.crt": pem(ca),
        "server.crt": pem(issue("hooks.test", keys["server"], ca, keys["ca"], dns="hooks.test")),
        "server.key": key_pem(keys["server"]),
        "self.crt": pem(issue("hooks.test", keys["self"], None, keys["self"], dns="hooks.test")),
        "self.key": key_pem(keys["self"]),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    client = issue("hookhub-client", keys["client"], ca, keys["ca"], client=True)
    return Pki(str(folder / "ca.crt"), str(folder / "server.crt"), str(folder / "server.key"), pem(client),
               key_pem(keys["client"]), str(folder / "self.crt"), str(folder / "self.key"))


def tls_receiver(cert: str, key: str, client_ca: str | None = None) -> tuple[Receiver, list[str]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server_names: list[str] = []
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)
    return Receiver(default=OK, ssl_context=context).start(), server_names


def hooks_test_sender(pki: Pki) -> Sender:
    """A sender that resolves hooks.test to the loopback receivers and trusts the test CA."""
    return Sender(AddressPolicy(allow=LOOPBACK, resolver=resolver_for({"hooks.test": ["127.0.0.1"]})),
                  ca_bundle=pki.ca_path)


# --------------------------------------------------------------------------- answers

def test_an_allowed_receiver_gets_the_request_and_its_answer_comes_back_whole(receiver, sender):
    receiver.default = by_path({"/hook": Reply(201, b"created", {
        "X-Multi": "a", "x-multi": "b", "Content-Type": "text/plain"})})
    response = sender.send(HttpRequest("POST", receiver.url + "/hook", {"X-Custom": "1", "Content-Type": "text/plain"},
                                       b"payload"), timeout=3)
    assert (response.status, response.body) == (201, b"created")
    assert response.headers.getlist("X-MULTI") == ["a", "b"]
    assert response.headers["content-type"] == "text/plain"
    assert 0 < response.elapsed_ms < 2000
    [seen] = receiver.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/hook", b"payload")
    assert seen.headers["X-Custom"] == "1"
    assert seen.headers["User-Agent"].startswith("Hookhub/")


def test_connections_are_kept_alive_between_sends(receiver, sender):
    for _ in range(3):
        assert sender.send(HttpRequest("GET", receiver.url + "/"), timeout=3).status == 200
    assert receiver.connections == 1
    assert len({seen.client for seen in receiver.requests}) == 1


def test_connects_to_the_address_the_policy_checked_without_a_second_lookup(receiver):
    calls: list[str] = []
    sender = Sender(AddressPolicy(allow=LOOPBACK, resolver=resolver_for({"hooks.test": ["127.0.0.1"]}, calls)))
    # hooks.test exists only in our resolver: a lookup by urllib3 itself would fail.
    assert sender.send(HttpRequest("GET", url_at(receiver, "hooks.test")), timeout=3).status == 200
    assert calls == ["hooks.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.test:{receiver.port}"


def test_cookies_are_neither_kept_nor_sent(receiver, sender):
    receiver.default = by_path({"/set": Reply(200, b"", {"Set-Cookie": "session=abc; Path=/"})})
    sender.send(HttpRequest("GET", receiver.url + "/set"), timeout=3)
    sender.send(HttpRequest("GET", receiver.url + "/again"), timeout=3)
    assert receiver.requests[1].headers.get("Cookie") is None


def test_the_request_as_sent_default_headers_under_its_own_and_url_credentials_as_basic_auth(receiver, sender):
    """What requests' session did for each send, the sender does without one: its default headers
    give way to the request's own whatever their case, the body's length is declared, and the
    credentials of a URL become basic authentication."""
    with_credentials = receiver.url.replace("http://", "http://ann:s3cret@")
    sender.send(HttpRequest("POST", with_credentials + "/a?x=1", headers={"user-agent": "mine/1"}, body=b"hello"),
                timeout=3)
    sender.send(HttpRequest("GET", receiver.url + "/b"), timeout=3)
    first, second = receiver.requests
    assert (first.method, first.path, first.query, first.body) == ("POST", "/a", {"x": ["1"]}, b"hello")
    assert first.headers["User-Agent"] == "mine/1" and first.headers["Content-Length"] == "5"
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(b"ann:s3cret").decode()
    assert second.headers["User-Agent"].startswith("Hookhub/") and second.headers["Accept-Encoding"] == "gzip, deflate"
    assert "Authorization" not in second.headers and "Content-Length" not in second.headers


def test_a_body_over_max_body_is_cut_and_the_sender_stays_usable(receiver, sender):
    big = bytes(range(256)) * 4096  # 1 MiB
    receiver.default = by_path({"/big": Reply(200, big)})
    response = sender.send(HttpRequest("GET", receiver.url + "/big"), timeout=3, max_body=1000)
    assert response.body == big[:1000]
    assert sender.send(HttpRequest("GET", receiver.url + "/small"), timeout=3).body == b"ok"


def test_fifty_concurrent_sends_from_sixteen_threads_all_succeed(receiver, sender):
    receiver.default = lambda got: Reply(200, got.body[::-1]) if got.path.startswith("/n/") else OK

    def send(i: int) -> bytes:
        return sender.send(HttpRequest("POST", receiver.url + f"/n/{i}", {}, f"body-{i}".encode()), timeout=5).body

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(50)))
    assert answers == [f"body-{i}".encode()[::-1] for i in range(50)]
    assert sorted(seen.body for seen in receiver.requests) == sorted(f"body-{i}".encode() for i in range(50))


# --------------------------------------------------------------------------- redirects

def redirect(status: int, location: str) -> Reply:
    return Reply(status, b"moved", {"Location": location})


@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_are_followed_with_method_and_body_kept(receiver, sender, status):
    receiver.default = by_path({"/old": redirect(status, "/new"), "/new": Reply(200, b"landed")})
    response = sender.send(HttpRequest("PUT", receiver.url + "/old", {"X-Sig": "v1,abc"}, b"{}"), timeout=3)
    assert (response.status, response.body) == (200, b"landed")
    assert [(s.method, s.path, s.body, s.headers["X-Sig"]) for s in receiver.requests] == [
        ("PUT", "/old", b"{}", "v1,abc"), ("PUT", "/new", b"{}", "v1,abc")]


def test_a_redirect_to_another_origin_keeps_only_the_headers_that_carry_no_credential(receiver, sender):
    with Receiver(default=OK) as other:
        receiver.default = by_path({"/old": redirect(307, other.url + "/new")})
        sent = {"Authorization": "Bearer s3cret", "X-Api-Key": "k", "Content-Type": "application/json",
                "webhook-id": "msg_1", "webhook-signature": "v1,abc"}
        sender.send(HttpRequest("POST", receiver.url + "/old", sent, b"x"), timeout=3)
        [seen] = other.requests
        assert seen.headers.get("Authorization") is None and seen.headers.get("X-Api-Key") is None
        assert seen.headers["webhook-id"] == "msg_1" and seen.headers["webhook-signature"] == "v1,abc"
        assert seen.headers["Content-Type"] == "application/json"
        assert receiver.requests[0].headers["Authorization"] == "Bearer s3cret"
        assert receiver.requests[0].headers["X-Api-Key"] == "k"


def test_a_redirect_to_a_blocked_address_is_refused_and_the_target_gets_nothing():
    sender = Sender(AddressPolicy(allow=(ipaddress.ip_network("127.0.0.1/32"),)))
    with Receiver(host="127.0.0.2") as target, Receiver() as first:
        first.default = by_path({"/go": redirect(307, target.url + "/internal")})
        with pytest.raises(SSRFBlocked) as caught:
            sender.send(HttpRequest("POST", first.url + "/go", {}, b"secret"), timeout=3)
        assert caught.value.reason.startswith("the redirect target 127.0.0.2 was refused: 127.0.0.2 is a loopback")
        assert caught.value.address == "127.0.0.2"
        assert (target.connections, target.requests) == (0, [])


def test_a_302_is_returned_as_it_is_and_not_followed(receiver, sender):
    receiver.default = by_path({"/old": redirect(302, "/new")})
    response = sender.send(HttpRequest("POST", receiver.url + "/old", {}, b"x"), timeout=3)
    assert (response.status, response.headers["Location"]) == (302, "/new")
    assert [s.path for s in receiver.requests] == ["/old"]


def test_three_redirects_are_followed_and_a_fourth_is_an_error(receiver, sender):
    routes = {f"/r{i}": redirect(307, f"/r{i + 1}") for i in range(1, 5)}
    receiver.default = by_path({**routes, "/r5": Reply(200, b"end")})
    assert sender.send(HttpRequest("GET", receiver.url + "/r2"), timeout=3).body == b"end"
    receiver.requests.clear()
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("GET", receiver.url + "/r1"), timeout=3)
    assert caught.value.kind == "redirect"
    assert str(caught.value) == "redirect: 127.0.0.1 redirected more than 3 times"
    assert [s.path for s in receiver.requests] == ["/r1", "/r2", "/r3", "/r4"]


def test_a_redirect_to_a_non_http_url_is_an_error(receiver, sender):
    receiver.default = by_path({"/old": redirect(307, "file:///etc/passwd")})
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("GET", receiver.url + "/old"), timeout=3)
    assert (caught.value.kind, str(caught.value)) == (
        "redirect", "redirect: only http and https URLs can be reached (got 'file')")


# --------------------------------------------------------------------------- failures

def test_an_unresolvable_host_is_a_dns_error():
    sender = Sender(AddressPolicy(resolver=resolver_for({})))
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("POST", "https://hooks.test/services/T000/B000/XXXXSECRET"), timeout=3)
    assert caught.value.kind == "dns"
    assert str(caught.value) == "DNS: the host hooks.test could not be resolved (Name or service not known)"


def test_a_closed_port_is_a_connect_error(sender):
    port = closed_port()
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("POST", f"http://127.0.0.1:{port}/secret-token"), timeout=3)
    assert (caught.value.kind, str(caught.value)) == ("connect", f"connection refused by 127.0.0.1:{port}")


def test_a_receiver_slower_than_the_timeout_is_a_timeout(receiver, sender):
    receiver.default = by_path({"/slow": Reply(200, b"late", delay=2)})
    started = time.monotonic()
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("GET", receiver.url + "/slow"), timeout=0.5)
    assert caught.value.kind == "timeout"
    assert str(caught.value) == "timeout: 127.0.0.1 gave no complete answer within 0.5 s"
    assert time.monotonic() - started < 1.5


def trickle_body(out: BinaryIO) -> None:
    out.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        out.write(b"x")
        time.sleep(0.05)


def trickle_headers(out: BinaryIO) -> None:
    out.write(b"HTTP/1.1 200 OK\r\n")
    for i in range(100):
        out.write(f"X-Slow-{i}: 1\r\n".encode())
        time.sleep(0.05)


@pytest.mark.parametrize("route", [trickle_body, trickle_headers], ids=["body", "headers"])
def test_a_receiver_trickling_bytes_is_stopped_by_the_total_deadline(receiver, sender, route):
    # each byte is within the per-read timeout; only the deadline stops it
    receiver.default = by_path({"/trickle": Reply(raw=route)})
    started = time.monotonic()
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("GET", receiver.url + "/trickle"), timeout=1)
    assert caught.value.kind == "timeout"
    assert str(caught.value) == "timeout: 127.0.0.1 gave no complete answer within 1 s"
    assert 0.9 < time.monotonic() - started < 1.8


def test_a_server_writing_garbage_is_a_protocol_error(receiver, sender):
    receiver.reply(Reply(raw=lambda out: out.write(b"this is not http\r\n\r\n")))
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("GET", receiver.url + "/"), timeout=3)
    assert caught.value.kind == "protocol"
    assert str(caught.value) == ("protocol: bad answer from 127.0.0.1: "
                                 "the answer does not start with an HTTP status line")


def test_a_server_closing_without_answering_is_a_protocol_error(receiver, sender):
    receiver.reply(Reply(raw=lambda out: None))
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("GET", receiver.url + "/"), timeout=3)
    assert (caught.value.kind, str(caught.value)) == (
        "protocol", "protocol: bad answer from 127.0.0.1: it closed the connection without answering")


def test_a_url_that_is_not_http_is_refused_in_plain_words(sender):
    with pytest.raises(SendError) as caught:
        sender.send(HttpRequest("GET", "file:///etc/passwd"), timeout=3)
    assert (caught.value.kind, str(caught.value)) == (
        "protocol", "protocol: only http and https URLs can be reached (got 'file')")


# --------------------------------------------------------------------------- TLS

def test_tls_uses_the_hostname_for_sni_and_verification_while_connecting_to_the_checked_address(pki):
    server, server_names = tls_receiver(pki.server_cert, pki.server_key)
    sender = hooks_test_sender(pki)
    try:
        response = sender.send(HttpRequest("GET", url_at(server, "hooks.test")), timeout=3)
        assert (response.status, response.body) == (200, b"ok")
        assert server_names == ["hooks.test"]
    finally:
        sender.close()
        server.stop()


def test_a_self_signed_server_is_a_tls_error(pki):
    server, _ = tls_receiver(pki.self_signed_cert, pki.self_signed_key)
    sender = hooks_test_sender(pki)
    try:
        with pytest.raises(SendError) as caught:
            sender.send(HttpRequest("GET", url_at(server, "hooks.test")), timeout=3)
        assert caught.value.kind == "tls"
        assert str(caught.value) == "TLS: the certificate of hooks.test could not be verified (self-signed certificate)"
        assert server.requests == []
    finally:
        sender.close()
        server.stop()


def test_a_certificate_for_another_name_is_a_tls_error(pki):
    server, _ = tls_receiver(pki.server_cert, pki.server_key)
    sender = Sender(AddressPolicy(allow=LOOPBACK, resolver=resolver_for({"other.test": ["127.0.0.1"]})),
                    ca_bundle=pki.ca_path)
    try:
        with pytest.raises(SendError) as caught:
            sender.send(HttpRequest("GET", url_at(server, "other.test")), timeout=3)
        assert caught.value.kind == "tls"
        assert str(caught.value).startswith(
            "TLS: the certificate of other.test could not be verified (Hostname mismatch")
    finally:
        sender.close()
        server.stop()


def test_mtls_reaches_a_server_that_requires_a_client_certificate(pki, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # to find the certificate files
    server, _ = tls_receiver(pki.server_cert, pki.server_key, client_ca=pki.ca_path)
    sender = hooks_test_sender(pki)
    try:
        for _ in range(2):
            response = sender.send(HttpRequest("GET", url_at(server, "hooks.test")), timeout=3,
                                   client_cert=(pki.client_cert_pem, pki.client_key_pem))
            assert response.status == 200
        subject = dict(pair for rdn in server.requests[0].peer_cert["subject"] for pair in rdn)
        assert subject["commonName"] == "hookhub-client"
        [folder] = tmp_path.glob("hookhub-mtls-*")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        files = sorted(folder.iterdir())
        assert len(files) == 2  # written once, reused by the second send
        assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
        sender.close()
        assert not folder.exists()
    finally:
        sender.close()
        server.stop()


def test_mtls_without_a_client_certificate_is_refused_in_plain_words(pki):
    server, _ = tls_receiver(pki.server_cert, pki.server_key, client_ca=pki.ca_path)
    sender = hooks_test_sender(pki)
    try:
        with pytest.raises(SendError) as caught:
            sender.send(HttpRequest("GET", url_at(server, "hooks.test")), timeout=3)
        # Under TLS 1.3 the server refuses after the client's handshake is over: the client then
        # reads either the server's alert or only the closed connection, depending on timing.
        assert (caught.value.kind, str(caught.value)) in {
            ("tls", "TLS: hooks.test requires a client certificate (tlsv13 alert certificate required)"),
            ("tls", "TLS: hooks.test closed the secure connection before answering "
                    "(it may require a client certificate, or refuse the one sent)"),
            ("connect", "the connection to hooks.test failed (connection reset by peer)"),
        }
        assert server.requests == []
    finally:
        sender.close()
        server.stop()


def test_no_proxy_from_the_environment_is_used(receiver, sender, monkeypatch):
    port = closed_port()
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")  # a proxy would answer "connection refused"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert sender.send(HttpRequest("GET", receiver.url + "/"), timeout=3).status == 200
