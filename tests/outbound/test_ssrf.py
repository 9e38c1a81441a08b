"""The SSRF policy, through the real Sender: every blocked form is refused before a byte leaves,
in plain words, and the allow-list opens exactly what it names."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from hub.outbound.ssrf import AddressPolicy, SSRFBlocked
from hub.outbound.transport import Sender
from hub.plugin import HttpRequest
from hub.testing import Receiver
from tests.outbound.test_sender import LOOPBACK, OK, resolver_for, url_at

LOOPBACK_WORDS = "a loopback address (this machine)"
ALLOW_HINT = "outbound requests may not reach it. Allow it with HOOKHUB_ALLOW_PRIVATE_NETWORKS if it is intended."


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(default=OK) as rx:
        yield rx


# Spellings of this machine in a URL. Numeric forms (decimal, octal, hex, short) reach our resolver
# as written and glibc's getaddrinfo turns them into 127.0.0.1: the connect-time check sees that.
LOOPBACK_SPELLINGS = [
    ("127.0.0.1", "127.0.0.1 is a loopback address (this machine)"),
    ("2130706433", "2130706433 resolves to 127.0.0.1, a loopback address (this machine)"),
    ("0177.0.0.1", "0177.0.0.1 resolves to 127.0.0.1, a loopback address (this machine)"),
    ("017700000001", "017700000001 resolves to 127.0.0.1, a loopback address (this machine)"),
    ("0x7f.0.0.1", "0x7f.0.0.1 resolves to 127.0.0.1, a loopback address (this machine)"),
    ("0x7f000001", "0x7f000001 resolves to 127.0.0.1, a loopback address (this machine)"),
    ("127.1", "127.1 resolves to 127.0.0.1, a loopback address (this machine)"),
    ("127.0.0.1.", "127.0.0.1 is a loopback address (this machine)"),
    ("localhost", "localhost resolves to 127.0.0.1, a loopback address (this machine)"),
    ("LOCALHOST", "localhost resolves to 127.0.0.1, a loopback address (this machine)"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 is an IPv4-mapped IPv6 address of 127.0.0.1, which is " + LOOPBACK_WORDS),
    ("[::ffff:7f00:1]", "::ffff:127.0.0.1 is an IPv4-mapped IPv6 address of 127.0.0.1"),
    ("[::127.0.0.1]", "::127.0.0.1 is an IPv4-compatible IPv6 address of 127.0.0.1, which is " + LOOPBACK_WORDS),
    ("[2002:7f00:0001::]", "2002:7f00:1:: is a 6to4 IPv6 address of 127.0.0.1, which is " + LOOPBACK_WORDS),
    ("[64:ff9b::127.0.0.1]", "64:ff9b::7f00:1 is a NAT64 IPv6 address of 127.0.0.1, which is " + LOOPBACK_WORDS),
    ("[::1]", "::1 is a loopback address (this machine)"),
    ("0.0.0.0", "0.0.0.0 is a 'this network' address (Linux connects it to this machine)"),
    ("0", "0 resolves to 0.0.0.0, a 'this network' address (Linux connects it to this machine)"),
]


@pytest.mark.parametrize(("host", "reason"), LOOPBACK_SPELLINGS, ids=[h for h, _ in LOOPBACK_SPELLINGS])
def test_every_spelling_of_this_machine_is_refused_and_the_receiver_gets_nothing(receiver, host, reason):
    sender = Sender(AddressPolicy())
    with pytest.raises(SSRFBlocked) as caught:
        sender.send(HttpRequest("POST", url_at(receiver, host, "/hook"), {}, b"secret"), timeout=2)
    assert caught.value.reason.startswith(reason)
    assert caught.value.reason.endswith(ALLOW_HINT)
    assert (receiver.connections, receiver.requests) == (0, [])


REACHABLE_SPELLINGS = ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "localhost",
                       "[::ffff:127.0.0.1]"]


@pytest.mark.parametrize("host", REACHABLE_SPELLINGS)
def test_urllib3_accepts_the_numeric_spellings_so_the_refusal_above_is_the_policys(receiver, host):
    sender = Sender(AddressPolicy(allow=LOOPBACK))
    response = sender.send(HttpRequest("POST", url_at(receiver, host, "/hook"), {}, b"hello"), timeout=2)
    assert response.status == 200
    assert [(seen.method, seen.body) for seen in receiver.requests] == [("POST", b"hello")]


# Addresses a made-up name resolves to (through the injected resolver), with the words the admin reads.
BLOCKED_ADDRESSES = [
    ("127.0.0.53", "a loopback address (this machine)"),
    ("::1", "a loopback address (this machine)"),
    ("10.1.2.3", "a private network address"),
    ("172.16.0.1", "a private network address"),
    ("172.31.255.254", "a private network address"),
    ("192.168.1.1", "a private network address"),
    ("169.254.169.254", "a link-local address (cloud metadata)"),
    ("169.254.10.10", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("100.64.0.1", "a carrier-grade NAT (shared) address"),
    ("100.127.255.254", "a carrier-grade NAT (shared) address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("0.0.0.0", "a 'this network' address (Linux connects it to this machine)"),
    ("0.1.2.3", "a 'this network' address (Linux connects it to this machine)"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "the broadcast address"),
    ("::", "the unspecified address"),
    ("fc00::1", "a unique-local IPv6 address (private network)"),
    ("fd12:3456:789a::1", "a unique-local IPv6 address (private network)"),
    ("fd00:ec2::254", "a unique-local IPv6 address (private network)"),
    ("fec0::1", "a site-local IPv6 address (an old form of private network)"),
    ("192.0.2.10", "a documentation address"),
    ("198.51.100.7", "a documentation address"),
    ("203.0.113.5", "a documentation address"),
    ("2001:db8::1", "a documentation address"),
    ("198.18.0.1", "a benchmarking address"),
    ("198.19.255.254", "a benchmarking address"),
    ("192.0.0.1", "an IETF protocol assignment address"),
    ("192.0.0.9", "an IETF protocol assignment address"),
    ("::ffff:10.0.0.1", "an IPv4-mapped IPv6 address of 10.0.0.1, which is a private network address"),
    ("::ffff:169.254.169.254",
     "an IPv4-mapped IPv6 address of 169.254.169.254, which is a link-local address (cloud metadata)"),
    ("::10.0.0.1", "an IPv4-compatible IPv6 address of 10.0.0.1, which is a private network address"),
    ("64:ff9b::a9fe:a9fe", "a NAT64 IPv6 address of 169.254.169.254, which is a link-local address (cloud metadata)"),
    ("2002:a00:1::", "a 6to4 IPv6 address of 10.0.0.1, which is a private network address"),
    ("2002:7f00:1::", "a 6to4 IPv6 address of 127.0.0.1, which is a loopback address (this machine)"),
    ("2001::1", "not a public internet address"),  # Teredo: caught by the is_global backstop
]


@pytest.mark.parametrize(("address", "category"), BLOCKED_ADDRESSES, ids=[a for a, _ in BLOCKED_ADDRESSES])
def test_a_name_resolving_to_a_blocked_address_is_refused_with_its_category(address, category):
    calls: list[str] = []
    sender = Sender(AddressPolicy(resolver=resolver_for({"internal.test": [address]}, calls)))
    with pytest.raises(SSRFBlocked) as caught:
        sender.send(HttpRequest("POST", "http://internal.test:8080/hook", {}, b"x"), timeout=2)
    assert caught.value.reason == f"internal.test resolves to {address}, {category}; {ALLOW_HINT}"
    assert caught.value.address == address
    assert calls == ["internal.test"]  # refused at connect time, through the policy's resolver


@pytest.mark.parametrize(("address", "category"), BLOCKED_ADDRESSES, ids=[a for a, _ in BLOCKED_ADDRESSES])
def test_check_ip_refuses_the_same_addresses(address, category):
    with pytest.raises(SSRFBlocked) as caught:
        AddressPolicy().check_ip(address)
    assert caught.value.reason == f"{address} is {category}; {ALLOW_HINT}"


PUBLIC_ADDRESSES = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1", "192.0.3.1", "2606:4700::1111",
                    "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_pass(address):
    AddressPolicy().check_ip(address)  # raises if wrongly blocked


@pytest.mark.parametrize("answers", [["93.184.215.14", "10.0.0.7"], ["10.0.0.7", "93.184.215.14"]])
def test_a_name_resolving_to_a_public_and_a_private_address_is_refused(answers):
    sender = Sender(AddressPolicy(resolver=resolver_for({"mixed.test": answers})))
    with pytest.raises(SSRFBlocked) as caught:
        sender.send(HttpRequest("POST", "http://mixed.test/hook", {}, b"x"), timeout=2)
    assert caught.value.address == "10.0.0.7"
    assert caught.value.reason.startswith("mixed.test resolves to 10.0.0.7, a private network address;")


def test_the_allow_list_opens_exactly_the_networks_it_names():
    policy = AddressPolicy(allow=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")))
    for address in ("10.1.2.3", "::ffff:10.1.2.3", "fd00:ec2::254"):
        policy.check_ip(address)
    for address in ("192.168.1.1", "127.0.0.1", "169.254.169.254", "fc00::1"):
        with pytest.raises(SSRFBlocked):
            policy.check_ip(address)


def test_the_allow_list_lets_a_request_reach_the_local_receiver(receiver):
    sender = Sender(AddressPolicy(allow=LOOPBACK))
    assert sender.send(HttpRequest("GET", receiver.url + "/ok"), timeout=2).body == b"ok"
    assert [seen.path for seen in receiver.requests] == ["/ok"]


def test_resolve_returns_the_checked_getaddrinfo_tuples():
    policy = AddressPolicy(resolver=resolver_for({"public.test": ["93.184.215.14", "2606:4700::1111"]}))
    infos = policy.resolve("public.test", 443)
    assert [info[4][:2] for info in infos] == [("93.184.215.14", 443), ("2606:4700::1111", 443)]
