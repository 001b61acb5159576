"""Key functions: what a client can and cannot choose, through proxies, over IPv6 and Unix sockets."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import HTTPConnection

from ratelimit_asgi import ANONYMOUS, UNIX, KeyFunc, api_key, client_address, client_ip, header


def conn(peer: str | None, headers: dict[str, str] | list[tuple[str, str]] | None = None) -> HTTPConnection:
    items = headers.items() if isinstance(headers, dict) else headers or []
    scope: dict[str, Any] = {
        "type": "http",
        "client": None if peer is None else (peer, 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in items],
    }
    return HTTPConnection(scope)


PROXY = ["10.0.0.0/8"]


def test_every_helper_is_a_factory_of_the_same_kind() -> None:
    for made in (client_address(), client_ip(PROXY), header("X-User"), api_key()):
        assert isinstance(made, KeyFunc)
        assert callable(made)
        assert repr(made)


@pytest.mark.parametrize(
    ("xff", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:50001", "203.0.113.7"),
        ("[2001:db8::7]:443", "2001:db8::/64"),
        ("[2001:db8::7]", "2001:db8::/64"),
        ("2001:db8::7", "2001:db8::/64"),
        ('"203.0.113.7"', "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 , 10.0.0.3", "203.0.113.7"),
    ],
)
def test_hops_are_parsed_as_addresses_never_with_a_port(xff: str, key: str) -> None:
    assert client_ip(PROXY)(conn("10.0.0.9", {"X-Forwarded-For": xff})) == key


def test_a_port_never_makes_a_fresh_key_per_connection() -> None:
    key = client_ip(PROXY)
    keys = {key(conn("10.0.0.9", {"X-Forwarded-For": f"203.0.113.7:{port}"})) for port in range(50000, 50050)}
    assert keys == {"203.0.113.7"}


def test_the_other_forwarding_header_never_changes_the_key() -> None:
    """Behind a proxy that writes Forwarded, a client's own X-Forwarded-For is ignored, and the other way round."""
    forwarded = client_ip(PROXY, forwarded_header="Forwarded")
    written = {"Forwarded": "for=198.51.100.4"}
    assert forwarded(conn("10.0.0.9", written)) == "198.51.100.4"
    assert forwarded(conn("10.0.0.9", {**written, "X-Forwarded-For": "6.6.6.6"})) == "198.51.100.4"
    assert forwarded(conn("10.0.0.9", {"X-Forwarded-For": "6.6.6.6"})) == "10.0.0.9", "only the other one: the proxy"
    xff = client_ip(PROXY)
    assert xff(conn("10.0.0.9", {"Forwarded": "for=6.6.6.6"})) == "10.0.0.9"


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ('for="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::/64"),
        ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
        ("for=192.0.2.43, for=10.0.0.4", "192.0.2.43"),
        ("for=unknown, for=10.0.0.4", "10.0.0.4"),
        ("for=_hidden, for=198.51.100.1", "198.51.100.1"),
    ],
)
def test_forwarded_elements_are_read_right_to_left(value: str, key: str) -> None:
    assert client_ip(PROXY, forwarded_header="forwarded")(conn("10.0.0.9", {"Forwarded": value})) == key


@pytest.mark.parametrize("garbage", ["not-an-address", "1.2.3.4.5", "[::1", "203.0.113.7:http", ""])
def test_a_hop_that_is_not_an_address_ends_the_walk_at_the_last_trusted_hop(garbage: str) -> None:
    key = client_ip(PROXY)(conn("10.0.0.9", {"X-Forwarded-For": f"198.51.100.1, {garbage}, 10.0.0.4"}))
    assert key == "10.0.0.4", "never the address to the left of the garbage, which anyone can write"


def test_every_hop_trusted_takes_the_left_most() -> None:
    key = client_ip(PROXY)
    assert key(conn("10.0.0.9", {"X-Forwarded-For": "10.1.1.1, 10.2.2.2"})) == "10.1.1.1"
    assert key(conn("10.0.0.9", {"X-Forwarded-For": "10.3.3.3, 10.2.2.2"})) == "10.3.3.3", "internal callers apart"


def test_an_ipv4_mapped_peer_matches_its_network() -> None:
    key = client_ip(PROXY)
    assert key(conn("::ffff:10.0.0.9", {"X-Forwarded-For": "198.51.100.1"})) == "198.51.100.1"
    assert client_address()(conn("::ffff:198.51.100.1")) == "198.51.100.1"


def test_an_untrusted_peer_is_keyed_on_itself_whatever_it_sends() -> None:
    key = client_ip(PROXY)
    assert key(conn("203.0.113.9", {"X-Forwarded-For": "1.1.1.1"})) == "203.0.113.9"


def test_unix_socket_proxies_can_be_trusted() -> None:
    """Behind nginx on a Unix socket, scope["client"] is None: trust it only when told to."""
    assert client_ip(PROXY)(conn(None, {"X-Forwarded-For": "198.51.100.1"})) == ANONYMOUS
    trusting = client_ip([UNIX])
    assert trusting(conn(None, {"X-Forwarded-For": "198.51.100.1"})) == "198.51.100.1"
    assert trusting(conn(None, {"X-Forwarded-For": "198.51.100.2"})) == "198.51.100.2"
    assert trusting(conn(None)) == ANONYMOUS


@pytest.mark.parametrize(
    ("prefix", "key"),
    [(64, "2001:db8:1:2::/64"), (48, "2001:db8:1::/48"), (128, "2001:db8:1:2:aaaa::1")],
)
def test_ipv6_clients_are_keyed_on_their_network(prefix: int, key: str) -> None:
    assert client_address(ipv6_prefix=prefix)(conn("2001:db8:1:2:aaaa::1")) == key
    rotated = {client_address()(conn(f"2001:db8:1:2::{i:x}")) for i in range(1, 100)}
    assert rotated == {"2001:db8:1:2::/64"}, "a client rotating within its /64 stays one client"
    hop = client_ip(PROXY, ipv6_prefix=prefix)(conn("10.0.0.9", {"X-Forwarded-For": "2001:db8:1:2:aaaa::1"}))
    assert hop == key


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: client_ip("10.0.0.0/8"), TypeError),
        (lambda: client_ip(["not-a-network"]), ValueError),
        (lambda: client_ip(PROXY, forwarded_header=""), ValueError),
        (lambda: client_ip(PROXY, ipv6_prefix=0), ValueError),
        (lambda: client_address(ipv6_prefix=129), ValueError),
        (lambda: header(""), ValueError),
        (lambda: header("X-User", fallback="client"), TypeError),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_are_refused_at_construction(make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()
