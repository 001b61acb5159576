"""An upstream for the 429-storm test: it refuses the first request of process 0 with ``Retry-After: 2``.

Every request names its process (``X-Process``); the app records who asked
when (Unix time), and ``GET /log`` gives the record: what the test checks.
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

seen: list[tuple[str, float]] = []  # (process, Unix time) of each request received
refused: list[float] = []  # when the one 429 was sent


async def api(request: Request) -> Response:
    process = request.headers["x-process"]
    now = time.time()
    seen.append((process, now))
    if process == "0" and not refused:
        refused.append(now)
        return PlainTextResponse("slow down", status_code=429, headers={"retry-after": "2"})
    return PlainTextResponse("ok")


async def log(request: Request) -> JSONResponse:
    return JSONResponse({"seen": seen, "refused": refused})


app = Starlette(routes=[Route("/", api), Route("/log", log)])
