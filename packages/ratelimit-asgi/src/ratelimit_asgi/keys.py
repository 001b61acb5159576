"""Who is asking: key functions for the middleware.

Every helper here is a factory: call it, and pass what it returns
(``key_func=client_ip(trusted_proxies=["10.0.0.0/8"])``). What it returns is a
:class:`KeyFunc` taking a Starlette ``HTTPConnection`` (a ``Request``, or a
``WebSocket``) and returning the identity to limit. Your own key functions may
be any callable of that shape, sync or async.

Addresses become keys the same way everywhere: an IPv4-mapped IPv6 address
(``::ffff:10.0.0.9``) is its IPv4 address, and an IPv6 address is keyed on its
network of ``ipv6_prefix`` bits (``/64`` by default: one subscriber's block,
within which a client can pick new addresses at will).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from functools import lru_cache

from starlette.requests import HTTPConnection

from ratelimit_core.throttled import ThrottledWarning

__all__ = ["ANONYMOUS", "UNIX", "KeyFunc", "api_key", "client_address", "client_ip", "header"]

logger = logging.getLogger("ratelimit_asgi")

#: At most one warning per this many seconds about a proxy's forwarding headers.
_WARN_EVERY = 60.0
_MISMATCH = (
    "rate limit: a trusted proxy's request carries %s naming client %s, while %s (the header %r reads) gives %s; "
    "if your proxy writes %s, set forwarded_header=%r, or a client picks its own key through %s "
    "(%d such requests so far)"
)

#: The key of every request whose peer address the server does not know
#: (over a Unix socket, say) and that no trusted proxy vouches for.
ANONYMOUS = "anonymous"

#: In ``trusted_proxies``: trust connections that have no peer address, as
#: behind a proxy on a Unix socket (``scope["client"]`` is ``None``).
UNIX = "unix"

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class KeyFunc:
    """A key function made by one of this module's helpers: ``key_func(conn) -> str``.

    Attributes:
        description: What it reads, as its ``repr``.
        ipv6_prefix: The IPv6 prefix when the key is the peer address alone, else ``None``.
        mismatches: Requests from a trusted proxy whose other forwarding header
            named another client (``client_ip``; see there).
    """

    __slots__ = ("_key", "_mismatch", "description", "ipv6_prefix")

    def __init__(self, key: Callable[[HTTPConnection], str], description: str, ipv6_prefix: int | None) -> None:
        self._key = key
        self.description = description
        self.ipv6_prefix = ipv6_prefix  # set when the key is the peer address alone
        self._mismatch = ThrottledWarning(logger, _MISMATCH, _WARN_EVERY)

    @property
    def mismatches(self) -> int:
        return self._mismatch.count

    def mismatched(self, read: str, other: str, client: object, named: object) -> None:
        """A trusted proxy's request whose ``other`` forwarding header names ``named``, not ``client``."""
        self._mismatch(other, named, read, self, client, other, other, read)

    def __call__(self, conn: HTTPConnection) -> str:
        return self._key(conn)

    def __repr__(self) -> str:
        return self.description


def _prefix(ipv6_prefix: int) -> int:
    if isinstance(ipv6_prefix, bool) or not isinstance(ipv6_prefix, int) or not 1 <= ipv6_prefix <= 128:
        raise ValueError(f"ipv6_prefix must be an int from 1 to 128, got {ipv6_prefix!r}")
    return ipv6_prefix


@lru_cache(maxsize=4096)
def _ipv6_key(host: str, prefix: int) -> str:
    """The key of an address written with a colon: IPv4 if mapped, else its network; the text if not an address."""
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if prefix == 128:
        return str(address)
    return str(ipaddress.IPv6Network((address, prefix), strict=False))


def address_key(host: str, ipv6_prefix: int = 64) -> str:
    """How an address becomes a key: see the module's docstring. IPv4 text is kept as it is."""
    return host if ":" not in host else _ipv6_key(host, ipv6_prefix)


def client_address(*, ipv6_prefix: int = 64) -> KeyFunc:
    """The direct peer's address, from ``scope["client"]``; never a forwarding header.

    Requests without a peer address (a Unix socket) share :data:`ANONYMOUS`.
    """
    prefix = _prefix(ipv6_prefix)

    def key(conn: HTTPConnection) -> str:
        client = conn.scope.get("client")
        return address_key(client[0], prefix) if client else ANONYMOUS

    return KeyFunc(key, f"client_address(ipv6_prefix={prefix})", prefix)


def client_ip(
    trusted_proxies: Iterable[str] = (), *, forwarded_header: str = "x-forwarded-for", ipv6_prefix: int = 64
) -> KeyFunc:
    """The client's address, read through trusted proxies only, as uvicorn reads it.

    When the direct peer is one of ``trusted_proxies``, the forwarding chain in
    ``forwarded_header`` (the one your proxy writes: ``X-Forwarded-For`` by default, or
    ``Forwarded``; a request's other forwarding header is never read) is walked
    right to left: each hop is parsed as an address (with or without a port,
    brackets, quotes), trusted hops are passed over, and the first untrusted
    one is the client. When every hop is trusted, the left-most is the client.
    A hop that is not an address ends the walk, and the client is then the
    last address the walk reached (a trusted proxy's). A request from anyone
    not trusted is keyed on its peer: a forwarding header it sent is ignored,
    so it cannot pick its own key.

    A proxy that writes the *other* standard header (``Forwarded`` where
    ``X-Forwarded-For`` is read, or the reverse) would leave the key to
    whatever the client sent in the one that is read. That is reported: when a
    trusted proxy's request carries the other header and it names another
    client than the header read (or the header read is missing), a warning is
    logged, at most once a minute, with a count (:attr:`KeyFunc.mismatches`).
    The key stays what the configured header gives: set ``forwarded_header``
    to the header your proxy writes.

    Args:
        trusted_proxies: Addresses and CIDR networks of your proxies, and
            :data:`UNIX` to trust connections without a peer address (a proxy
            on a Unix socket). IPv4-mapped peers (``::ffff:10.0.0.9``) match
            their IPv4 entries.
        forwarded_header: The forwarding header your proxy writes: ``"x-forwarded-for"``,
            ``"forwarded"`` (RFC 7239 ``for=``), or another header holding a
            comma-separated list of addresses in the same order (``"x-real-ip"``).
        ipv6_prefix: The IPv6 network size keys are made of (see the module).

    Raises:
        TypeError: ``trusted_proxies`` is a string, not a collection of them.
        ValueError: naming an entry that is not an address, a network or
            :data:`UNIX`, or a bad ``forwarded_header`` or ``ipv6_prefix``.
    """
    if isinstance(trusted_proxies, str | bytes):
        raise TypeError(
            f"trusted_proxies must be a list of addresses and networks, not one string: {trusted_proxies!r}"
        )
    prefix = _prefix(ipv6_prefix)
    if not isinstance(forwarded_header, str) or not forwarded_header.strip():
        raise ValueError(f"forwarded_header must name the header your proxy writes, got {forwarded_header!r}")
    name = forwarded_header.strip().lower()
    networks: list[_Network] = []
    unix = False
    for entry in trusted_proxies:
        if entry == UNIX:
            unix = True
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except (TypeError, ValueError):
            raise ValueError(f"trusted_proxies: not an address, a network or {UNIX!r}: {entry!r}") from None
        networks.append(network)
    chain = _forwarded_for if name == "forwarded" else _listed
    other = {"forwarded": "x-forwarded-for", "x-forwarded-for": "forwarded"}.get(name)

    def trusted(address: _Address) -> bool:
        return any(address in network for network in networks)

    def walk(peer: _Address | None, hops: list[str]) -> _Address | None:
        """The client: hops read right to left, trusted ones passed over."""
        current = peer
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                break
            current = address
            if not trusted(address):
                break
        return current

    def key(conn: HTTPConnection) -> str:
        client = conn.scope.get("client")
        if client:
            peer = _parse(client[0])
            if peer is None or not trusted(peer):
                return address_key(client[0], prefix)
        elif not unix:
            return ANONYMOUS
        else:
            peer = None  # a trusted proxy on a Unix socket
        hops = chain(conn, name)
        current = walk(peer, hops)
        if other is not None and other in conn.headers:  # did the proxy write the other header?
            found = walk(peer, _forwarded_for(conn, other) if other == "forwarded" else _listed(conn, other))
            if not hops or found != current:
                result.mismatched(name, other, current, found)
        return ANONYMOUS if current is None else address_key(str(current), prefix)

    proxies = sorted(map(str, networks)) + [UNIX] * unix
    result = KeyFunc(key, f"client_ip({proxies!r}, forwarded_header={name!r}, ipv6_prefix={prefix})", None)
    return result


def header(name: str, *, fallback: KeyFunc | None = None) -> KeyFunc:
    """The value of request header ``name``; requests without it are keyed by ``fallback``.

    ``fallback`` defaults to :func:`client_address`. Long values are held as a
    fixed-size digest by the stores.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"header name must be a non-empty string, got {name!r}")
    if fallback is not None and not callable(fallback):
        raise TypeError(f"fallback must be a key function, got {fallback!r}")
    lowered = name.strip().lower()
    otherwise = fallback or client_address()

    def key(conn: HTTPConnection) -> str:
        value = conn.headers.get(lowered)
        return f"{lowered}:{value}" if value else otherwise(conn)

    return KeyFunc(key, f"header({lowered!r}, fallback={otherwise!r})", None)


def api_key(name: str = "X-API-Key") -> KeyFunc:
    """The API key in header ``name``; requests without one are keyed by client address."""
    return header(name)


#: The helpers themselves: passing one uncalled as a key function is a mistake
#: the middleware refuses (``key_func=client_ip`` instead of ``client_ip(...)``).
FACTORIES = frozenset({client_address, client_ip, header, api_key})


def _parse(text: str) -> _Address | None:
    """A hop as an address: ``203.0.113.7``, ``203.0.113.7:50001``, ``[2001:db8::7]:443``, ``2001:db8::7``."""
    text = text.strip().strip('"')
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (end + 1 < len(text) and not (text[end + 1] == ":" and text[end + 2 :].isdigit())):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _listed(conn: HTTPConnection, name: str) -> list[str]:
    """The hops of a comma-separated header, client first, over all its lines (an empty hop is kept: not an address)."""
    return [hop for value in conn.headers.getlist(name) for hop in value.split(",")]


def _forwarded_for(conn: HTTPConnection, name: str) -> list[str]:
    """The ``for=`` of each element of ``Forwarded`` (RFC 7239), client first; none counts as unknown."""
    hops = []
    for value in conn.headers.getlist(name):
        for element in value.split(","):
            found = "unknown"
            for pair in element.split(";"):
                key, _, address = pair.strip().partition("=")
                if key.lower() == "for":
                    found = address
            hops.append(found)
    return hops
