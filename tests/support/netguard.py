"""Fail loudly on any attempt to reach a non-loopback address.

An audit hook sees every `socket.connect` and `socket.getaddrinfo` before anything leaves the machine. Loopback
and local (AF_UNIX) traffic is allowed; anything else raises inside the caller and is recorded, so a test session
(or a server started by a test) can report every attempt even if the caller swallowed the exception.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", None}
MARKER = "NETGUARD-BLOCKED"


def _is_loopback(host: object) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host).endswith(".localhost")


class NetworkGuard:
    def __init__(self) -> None:
        self.blocked: list[str] = []

    def _block(self, what: str) -> None:
        self.blocked.append(what)
        print(f"{MARKER}: {what}", file=sys.stderr, flush=True)
        raise ConnectionRefusedError(f"{MARKER}: tests may not reach {what}")

    def __call__(self, event: str, args: tuple) -> None:
        if event == "socket.getaddrinfo":
            if not _is_loopback(args[0]):
                self._block(f"getaddrinfo {args[0]}:{args[1]}")
        elif event == "socket.connect":
            sock, address = args
            is_ip = getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
            if is_ip and not _is_loopback(address[0]):
                self._block(f"connect {address[0]}:{address[1]}")


def install() -> NetworkGuard:
    """Install the guard for the rest of this process (audit hooks cannot be removed)."""
    guard = NetworkGuard()
    sys.addaudithook(guard)
    return guard
