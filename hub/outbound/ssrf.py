"""The SSRF address policy: which IP addresses outbound requests may reach.

Channel URLs are typed in by users, so a webhook could be pointed at the hub's own network
(Redis, the database, a cloud metadata service). Every address a host resolves to is judged
here, at connect time, by :class:`hub.outbound.transport.Sender`'s connections; the admin opens
exceptions with ``HOOKHUB_ALLOW_PRIVATE_NETWORKS``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

from hub.outbound.errors import SendError, SSRFBlocked

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list[tuple[Any, ...]]]

ALLOW_SETTING = "HOOKHUB_ALLOW_PRIVATE_NETWORKS"
CLOUD_METADATA = ipaddress.ip_address("169.254.169.254")  # AWS, GCP, Azure… (their IPv6 ones are unique-local)

# Explicit networks where the ipaddress properties are not right for us: ``is_private`` lumps
# RFC 1918, documentation, benchmarking and more into one word, its exact set changed between
# Python patch releases (CVE-2024-4032), and CGNAT 100.64/10 is neither private nor global to it.
# 0.0.0.0/8 comes first because Linux connects 0.x.x.x to this machine.
_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), category) for net, category in (
        ("0.0.0.0/8", "a 'this network' address (Linux connects it to this machine)"),
        ("10.0.0.0/8", "a private network address"),
        ("172.16.0.0/12", "a private network address"),
        ("192.168.0.0/16", "a private network address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
        ("192.0.0.0/24", "an IETF protocol assignment address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("2001:db8::/32", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("fc00::/7", "a unique-local IPv6 address (private network)"),
    )
)
# IPv6 forms that carry an IPv4 address in their low 32 bits (RFC 6052 NAT64, RFC 4291 compatible).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address stands for, with the name of the form, or ``None``.

    Connecting to ``::ffff:127.0.0.1`` reaches 127.0.0.1, so these forms are judged by the
    IPv4 address they embed, not by the IPv6 ranges they sit in."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "an IPv4-mapped IPv6 address"
    if ip.sixtofour is not None:
        return ip.sixtofour, "a 6to4 IPv6 address"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "a NAT64 IPv6 address"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves, not 0.0.0.0 / 0.0.0.1
        return ipaddress.IPv4Address(int(ip)), "an IPv4-compatible IPv6 address"
    return None


def blocked_category(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be reached, as a phrase ("a loopback address (this machine)"), or
    ``None`` for a public internet address. Ignores the allow-list: see :class:`AddressPolicy`."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        category = blocked_category(inner[0])
        return None if category is None else f"{inner[1]} of {inner[0]}, which is {category}"
    for network, category in _NETWORKS:
        if ip in network:
            return category
    # The properties below mean exactly one thing each, for both IP versions.
    if ip.is_loopback:
        return "a loopback address (this machine)"
    if ip.is_link_local:
        extra = " (cloud metadata)" if ip == CLOUD_METADATA else ""
        return f"a link-local address{extra}"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local IPv6 address (an old form of private network)"
    if ip.is_reserved:
        return "a reserved address"
    # Anything else the IANA special-purpose registries keep off the internet (Teredo, discard-only…).
    if not ip.is_global:
        return "not a public internet address"
    return None


class AddressPolicy:
    """Decides which addresses outbound requests may connect to.

    ``allow`` holds the networks of ``HOOKHUB_ALLOW_PRIVATE_NETWORKS`` (already parsed):
    addresses inside them are allowed even when they would be blocked. ``resolver`` is
    called like ``socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)``; tests inject one to
    resolve made-up names."""

    def __init__(self, allow: Iterable[IPNetwork] = (), resolver: Resolver = socket.getaddrinfo) -> None:
        self.allow: tuple[IPNetwork, ...] = tuple(allow)
        self._resolver = resolver

    def is_allowed(self, ip: IPAddress) -> bool:
        """Whether ``ip`` (or the IPv4 address it embeds) is inside an allowed network."""
        inner = embedded_ipv4(ip)
        candidates = (ip,) if inner is None else (ip, inner[0])
        return any(candidate in network for candidate in candidates for network in self.allow)

    def check_ip(self, ip: str) -> None:
        """Raise :class:`SSRFBlocked` unless ``ip`` may be reached."""
        self._check(ip, host=None)

    def resolve(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """Resolve ``host`` and return the ``getaddrinfo`` tuples to connect to.

        Every address is checked: if any one is blocked the host is refused, because which of
        them a client connects to is not ours to choose (and DNS answers can be mixed on purpose).
        A DNS failure raises ``SendError(kind="dns")``."""
        try:
            infos = self._resolver(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise SendError("dns", f"DNS: the host {host} could not be resolved ({detail})") from exc
        if not infos:
            raise SendError("dns", f"DNS: the host {host} could not be resolved (no address)")
        for info in infos:
            self._check(str(info[4][0]), host=host)
        return list(infos)

    def _check(self, ip_text: str, host: str | None) -> None:
        try:
            ip = ipaddress.ip_address(ip_text)
        except ValueError:
            raise SSRFBlocked(f"{ip_text} is not an IP address; outbound requests may only reach IP addresses.",
                              ip_text)
        category = blocked_category(ip)
        if category is None or self.is_allowed(ip):
            return
        literal = host is None or _same_ip(host, ip)
        subject = f"{ip_text} is {category}" if literal else f"{host} resolves to {ip_text}, {category}"
        raise SSRFBlocked(f"{subject}; outbound requests may not reach it. "
                          f"Allow it with {ALLOW_SETTING} if it is intended.", ip_text)


def _same_ip(host: str, ip: IPAddress) -> bool:
    """Whether ``host`` is ``ip`` written as an IP literal (then "resolves to" would be noise)."""
    try:
        return ipaddress.ip_address(host.strip("[]")) == ip
    except ValueError:
        return False
