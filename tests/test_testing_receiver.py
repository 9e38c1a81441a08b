"""hub.testing.Receiver, the HTTP receiver plugin authors and our own tests deliver to."""

import socket

import requests

from hub.testing import Receiver, Reply
from tests.waiting import wait_until


def test_it_records_requests_and_answers_in_script_order():
    with Receiver() as rx:
        rx.reply(Reply(503), Reply(200, "ok"))
        assert requests.post(rx.url + "/a", json={"n": 1}, timeout=5).status_code == 503
        second = requests.post(rx.url + "/b?x=1", data=b"raw", timeout=5)
        assert (second.status_code, second.text) == (200, "ok")
        first, other = rx.wait_for(2)
        assert (first.path, first.json(), other.query, other.body) == ("/a", {"n": 1}, {"x": ["1"]}, b"raw")


def test_a_request_cut_off_mid_body_is_not_recorded():
    """A sender killed while writing the body delivered nothing: a real server would drop it too."""
    with Receiver() as rx:
        host, port = rx.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"id\": ")
        wait_until(lambda: rx.cut_off == 1, "the receiver to read the cut-off request to its end")
        assert len(rx) == 0
        requests.post(rx.url + "/hook", json={"id": "whole"}, timeout=5)
        [only] = rx.wait_for(1)
        assert only.json() == {"id": "whole"}
        assert len(rx) == 1


def test_a_raw_reply_writes_its_bytes_and_closes_the_connection():
    with Receiver() as rx:
        rx.reply(Reply(raw=lambda out: out.write(b"not http at all")))
        with socket.create_connection(("127.0.0.1", rx.port), timeout=5) as s:
            s.sendall(b"GET /raw HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := s.recv(1024):                 # until the receiver closes the connection
                answer += chunk
        assert answer == b"not http at all"
        assert [got.path for got in rx.wait_for(1)] == ["/raw"]


def test_it_counts_connections_and_records_the_client_of_each_request():
    with Receiver() as rx, requests.Session() as session:
        for _ in range(2):
            session.get(rx.url + "/kept-alive", timeout=5)
        requests.get(rx.url + "/another", timeout=5)
        first, second, third = rx.wait_for(3)
        assert rx.connections == 2
        assert first.client == second.client != third.client and first.client[0] == "127.0.0.1"
        assert first.peer_cert is None                   # plain HTTP: no client certificate
