"""Who is asking: key functions for the middleware.

A key function receives a Starlette ``HTTPConnection`` (a ``Request`` for HTTP,
a ``WebSocket`` for WebSocket scopes) and returns the identity to limit, as a
string; it may be sync or async.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from starlette.requests import HTTPConnection

__all__ = ["ANONYMOUS", "api_key", "client_address", "client_ip", "header"]

#: The key of every request whose client address the server does not know
#: (for example over a Unix socket): they share one limit.
ANONYMOUS = "anonymous"

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(conn: HTTPConnection) -> str:
    """The direct peer's address, from ``scope["client"]``; never a forwarding header."""
    client = conn.scope.get("client")
    return client[0] if client else ANONYMOUS


def client_ip(trusted_proxies: Iterable[str] = ()) -> Callable[[HTTPConnection], str]:
    """The client's address, read through trusted proxies only.

    When the direct peer is one of ``trusted_proxies`` (addresses or CIDR
    networks), ``X-Forwarded-For`` (or, without it, ``Forwarded: for=``) is
    read right to left, skipping trusted hops, and the first untrusted address
    is the client. A request from anyone else is keyed on its peer address: a
    forwarding header it sent is ignored, so it cannot pick its own key.

    Raises:
        ValueError: naming an entry of ``trusted_proxies`` that is not an
            address or network.
    """
    networks: list[_Network] = []
    for entry in trusted_proxies:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: not an address or network: {entry!r}") from None

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    def key(conn: HTTPConnection) -> str:
        peer = client_address(conn)
        if not networks or not trusted(peer):
            return peer
        for hop in reversed(_forwarded_for(conn)):
            if not trusted(hop):
                return hop
        return peer

    return key


def header(name: str, *, fallback: Callable[[HTTPConnection], str] = client_address) -> Callable[[HTTPConnection], str]:
    """The value of request header ``name``; requests without it are keyed by ``fallback``."""
    lowered = name.lower()

    def key(conn: HTTPConnection) -> str:
        value = conn.headers.get(lowered)
        return f"{lowered}:{value}" if value else fallback(conn)

    return key


def api_key(name: str = "X-API-Key") -> Callable[[HTTPConnection], str]:
    """The API key in header ``name``; requests without one are keyed by client address."""
    return header(name)


def _forwarded_for(conn: HTTPConnection) -> list[str]:
    """The addresses of the forwarding chain, client first."""
    values = conn.headers.getlist("x-forwarded-for")
    if values:
        return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
    hops = []
    for value in conn.headers.getlist("forwarded"):
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, address = pair.strip().partition("=")
                if name.lower() == "for" and address:
                    hops.append(_strip_forwarded(address))
    return hops


def _strip_forwarded(address: str) -> str:
    """``"[2001:db8::1]:4711"`` -> ``2001:db8::1``; ``192.0.2.1:80`` -> ``192.0.2.1``."""
    address = address.strip('"')
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address
    host, _, port = address.partition(":")
    return host if port.isdigit() else address
