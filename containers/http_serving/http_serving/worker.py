"""The gunicorn worker class: an asyncio event loop serving `HttpConnection`s.

gunicorn's master process forks, supervises, restarts and stops the workers (signals, heartbeat,
graceful timeout); this worker accepts connections and runs the application in its event loop,
for the requests that arrive together in one call (`batching.RequestBatcher`). The application is
the object the gunicorn application's `load()` returns (an `App`), and the limits are the gunicorn
application's `limits`.

Connections are spread over the workers: with keep-alive a connection stays with the worker that
accepted it, so a worker that holds k connections waits k ms before accepting another, leaving it
to a worker that holds fewer (measured: without this, 8 keep-alive clients on 2 workers often all
landed on one worker, which then did all the work while the other idled). A worker holding
`max_connections` stops accepting; further clients wait in the listen backlog until one closes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

from gunicorn.workers.base import Worker

from http_serving.batching import RequestBatcher
from http_serving.protocol import Clock, HttpConnection
from http_serving.settings import Limits

ACCEPT_DEFER_S = 0.001  # per connection a worker already holds, see AsyncioWorker._accept


class AsyncioWorker(Worker):  # type: ignore[misc]  # gunicorn has no type information
    """gunicorn worker serving the application with `HttpConnection` on an asyncio loop."""

    def run(self) -> None:
        """The worker's main loop (gunicorn calls it after the fork)."""
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        limits: Limits = self.app.limits
        self.max_connections = limits.max_connections
        self.connections: set[HttpConnection] = set()
        self.listeners = [listener.sock for listener in self.sockets]
        self.accepting = False
        self.deferred = False
        self.pending = 0  # accepted, transport not set up yet
        clock = Clock()
        batcher = RequestBatcher(self.wsgi, self.log)
        self.factory = lambda: HttpConnection(batcher, limits, clock=clock, on_close=self._closed, log=self.log)
        self._accept_on(loop)
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("parent changed, shutting down: %s", self)
                break
            await asyncio.sleep(1.0)
        await self._shut_down(loop)

    @property
    def held(self) -> int:
        """Connections this worker serves (or is setting up)."""
        return len(self.connections) + self.pending

    def _accept_on(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.alive and not self.accepting and self.held < self.max_connections:
            for listener in self.listeners:
                loop.add_reader(listener.fileno(), self._accept, loop, listener)
            self.accepting = True

    def _accept_off(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.accepting:
            for listener in self.listeners:
                loop.remove_reader(listener.fileno())
            self.accepting = False

    def _accept(self, loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
        """Accept one connection, after a pause proportional to the connections this worker holds."""
        if self.held and not self.deferred:
            self._accept_off(loop)
            self.deferred = True
            loop.call_later(ACCEPT_DEFER_S * self.held, self._accept_on, loop)
            return
        self.deferred = False
        try:
            client, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it
        client.setblocking(False)
        self.pending += 1
        loop.create_task(self._connect(loop, client))
        if self.held >= self.max_connections:
            self._accept_off(loop)

    async def _connect(self, loop: asyncio.AbstractEventLoop, client: socket.socket) -> None:
        try:
            _, protocol = await loop.connect_accepted_socket(self.factory, client)
        except OSError as error:  # the client went away while the connection was being set up
            self.log.debug("connection setup failed: %s", error)
            client.close()
            return
        finally:
            self.pending -= 1
        self.connections.add(protocol)

    def _closed(self, connection: HttpConnection) -> None:
        self.connections.discard(connection)
        if not self.deferred:
            self._accept_on(asyncio.get_running_loop())

    async def _shut_down(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop accepting, close idle connections, give busy ones `graceful_timeout` to finish."""
        self._accept_off(loop)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.connections and time.monotonic() < deadline:
            for connection in list(self.connections):
                if connection.idle:
                    connection.close()
            self.notify()
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.close()


def worker_class_path() -> str:
    """The dotted path gunicorn's `worker_class` setting takes for `AsyncioWorker`."""
    return f"{AsyncioWorker.__module__}.{AsyncioWorker.__qualname__}"
