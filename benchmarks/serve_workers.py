"""uvicorn with N workers on a TCP socket that has ``TCP_NODELAY``: ``python serve_workers.py PORT WORKERS``.

``uvicorn --workers N`` binds a socket made without ``IPPROTO_TCP``, so asyncio
does not set ``TCP_NODELAY`` on the connections it accepts; with h11 writing
the head and the body of a response apart, Nagle's algorithm and delayed ACKs
then hold every request about 40 ms, which hides every other cost. This
starts the same supervisor on a socket asyncio recognises as TCP.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    sys.path.insert(0, str(Path(__file__).parent))  # http_apps, for every worker too
    config = uvicorn.Config("http_apps:app", workers=workers, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if workers == 1:
        server.run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main()
