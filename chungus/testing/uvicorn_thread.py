"""A uvicorn server on a thread of its own, for tests that talk to it with blocking sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


@contextmanager
def in_a_thread(config: uvicorn.Config) -> Iterator[uvicorn.Server]:
    """Serve `config` until the block ends; the server is listening when it starts."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(10)
