"""The transport's unit tests start scripted RESP servers (scripted_redis.py) through one fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from scripted_redis import Answer, RespServer, Start, ok


@pytest.fixture
async def resp_server() -> AsyncIterator[Start]:
    """Starts scripted servers (as many as a test asks for) and closes them after it."""
    started: list[RespServer] = []

    async def start(answer: Answer = ok) -> RespServer:
        server = await RespServer(answer).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()
