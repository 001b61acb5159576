"""Concurrency caps over real HTTP through uvicorn: clients that leave, and endpoints that fail, free their slots."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from http_load import uvicorn
from servers import free_port

pytestmark = pytest.mark.timeout(60)


def _open_stream(port: int, client: str) -> socket.socket:
    """A request for ``/stream`` whose response has begun (its first chunk read)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET /stream HTTP/1.1\r\nHost: t\r\nX-Client: {client}\r\n\r\n".encode())
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def _get(port: int, path: str, client: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nX-Client: {client}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def _free_after_leaving(port: int, client: str) -> float:
    """Seconds until the client's slots are free again (``/free`` is admitted and says 1: its own slot taken)."""
    started = time.monotonic()
    while time.monotonic() - started < 10:
        status, body = _get(port, "/free", client)
        if status == 200 and body == b"1":
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("the slots were never freed")


def test_clients_that_leave_mid_stream_free_their_slots(tmp_path: Path) -> None:
    port = free_port()
    with uvicorn(port, 1, {}, tmp_path / "uvicorn.log", app="capped_app:app"):
        streams = [_open_stream(port, "a") for _ in range(2)]
        assert _get(port, "/free", "a")[0] == 429, "two streams hold both slots"
        assert _get(port, "/free", "b")[0] == 200, "another client has its own"
        for sock in streams:  # the client goes away mid-response
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
        waited = _free_after_leaving(port, "a")
        assert waited < 2, f"freed {waited:.2f} s after the clients left"


def test_an_endpoint_that_raises_frees_its_slot(tmp_path: Path) -> None:
    port = free_port()
    with uvicorn(port, 1, {}, tmp_path / "uvicorn.log", app="capped_app:app"):
        for _ in range(5):  # more failures than slots: each one gave its slot back
            assert _get(port, "/fails", "a")[0] == 500
        assert _get(port, "/free", "a") == (200, b"1")
