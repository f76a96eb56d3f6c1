"""The address a request really comes from, for the login throttle and the log: `--trusted-proxies`.

`X-Forwarded-For` is whatever the client wrote, so it is believed only when the connection itself comes from a
proxy the operator named. Then the header is read from the right (each proxy appends the address it saw) and the
first address that is not itself a trusted proxy is the client. Without `--trusted-proxies` the header is ignored,
and so is uvicorn's own handling of it (app.py turns that off: uvicorn would trust it from 127.0.0.1 by default).
`X-Forwarded-Proto` from a trusted proxy says whether the browser used https (for the cookie's Secure flag).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str | None) -> tuple[Network, ...]:
    """`--trusted-proxies 127.0.0.1,10.0.0.0/8,::1`; a bad entry raises ValueError naming it."""
    networks = []
    for entry in (part.strip() for part in (text or "").split(",") if part.strip()):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as error:
            raise ValueError(f"--trusted-proxies: {entry!r} is not an IP address or network "
                             f"(e.g. 127.0.0.1 or 10.0.0.0/8)") from error
    return tuple(networks)


def _is_in(address: str, networks: Iterable[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(parsed in network for network in networks)


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    def trusts(self, peer: str) -> bool:
        return _is_in(peer, self.networks)

    def client_of(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address: the peer, unless the peer is a trusted proxy that says who it forwards for."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop if _is_in(hop, (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))) \
                    else peer  # garbage in the header: fall back to the proxy itself
        return hops[0] if hops else peer

    def scheme_of(self, peer: str, scheme: str, forwarded_proto: str | None) -> str:
        if forwarded_proto and self.trusts(peer):
            proto = forwarded_proto.split(",")[0].strip().lower()
            if proto in ("http", "https"):
                return proto
        return scheme
