"""Client addresses: networks written as CIDRs, and the client behind trusted proxies.

Only a peer inside a trusted proxy network may say who the client is, through
``X-Forwarded-For``; the client is then the right-most address of that header that is not itself a
trusted proxy (everything to its left was written by the client and proves nothing)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (``203.0.113.0/24``, ``2001:db8::/32``) or single addresses as networks; ValueError
    naming the first value that is neither."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or a network like 203.0.113.0/24") from None
    return tuple(networks)


def within(address: str, networks: Sequence[Network]) -> bool:
    """Whether ``address`` (an IPv4-mapped IPv6 address counts as its IPv4 one) is in one of ``networks``."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in networks)


def client_address(peer: str, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The client's address: ``peer`` itself unless it is a trusted proxy, else the right-most
    ``X-Forwarded-For`` entry (all the header's values, in order) that is not a trusted proxy."""
    if not trusted or not within(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not within(hop, trusted):
            return hop if _is_address(hop) else peer
    return hops[0] if hops and _is_address(hops[0]) else peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
