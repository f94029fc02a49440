"""Answering together the requests that arrive together at a worker.

A worker's connections do not call the application themselves: a connection that completes a
request queues it and hands itself to the worker's `RequestBatcher`. The batcher lets the event
loop run further turns (each turn reads whatever the clients have sent meanwhile) for as long as
each turn brings a request on another connection, at most `MAX_TURNS` turns, then answers every
queued request with one application call and lets each connection write its answers in order.
Nothing waits on a clock: a lone request is answered two loop turns after it is read (a few
microseconds: no measurable change in the latency of a single client), and under load the
requests that arrive together share one call. Measured with `make bench` (8 clients, 1-row
requests, one worker): 5 requests per call with one extra turn, 6.6 with up to four.

An application that implements `call_many(requests, answer_one) -> responses` (such as
`inference.InferenceApp`, which then predicts once for all of them) is given the whole batch, and
`answer_one` for what it does not batch; any other application is called once per request.
`answer_one` is the one place where a request's failure becomes its answer (`HttpError`: its 4xx;
anything else: logged, 500). If `call_many` fails as a whole, each request is answered on its
own, so a request that makes the model fail cannot fail the others with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from http_serving.app import App, HttpError, Request, Response

MAX_TURNS = 4  # loop turns a batch may wait for more requests (see the module's documentation)


@dataclass(slots=True)
class Pending:
    """A complete request waiting for its answer, and how to write it."""

    request: Request
    keep_alive: bool
    with_body: bool
    response: Response | None = None


class Queueing(Protocol):
    """What the batcher needs of a connection."""

    def waiting(self) -> list[Pending]:
        """The connection's requests that have no answer yet, in order."""
        ...

    def drain(self) -> None:
        """Write the answers that are ready, in order."""
        ...


class RequestBatcher:
    """Answers the requests that arrive together with one application call."""

    def __init__(self, app: App, log: logging.Logger):
        self.app = app
        self.call_many: Callable[[Sequence[Request], Callable[[Request], Response]], list[Response]] | None = getattr(
            app, "call_many", None
        )
        self.log = log
        self.loop = asyncio.get_running_loop()  # looked up once: the lookup makes a system call (getpid)
        self._queued: dict[Queueing, None] = {}  # the connections of the batch being gathered, in order

    def add(self, connection: Queueing) -> None:
        """Answer `connection`'s waiting requests with the batch being gathered (or a new one)."""
        if not self._queued:
            self.loop.call_soon(self._next_turn, 0, 1)
        self._queued[connection] = None

    def _next_turn(self, seen: int, turn: int) -> None:
        """Wait one more turn if the last one queued another connection's request, else answer."""
        if len(self._queued) > seen and turn < MAX_TURNS:
            self.loop.call_soon(self._next_turn, len(self._queued), turn + 1)
        else:
            self.flush()

    def flush(self) -> None:
        """Answer every queued request, then let each connection write its answers."""
        connections, self._queued = list(self._queued), {}
        pending = [item for connection in connections for item in connection.waiting()]
        for item, response in zip(pending, self.answer([item.request for item in pending]), strict=True):
            item.response = response
        for connection in connections:
            connection.drain()

    def answer(self, requests: list[Request]) -> list[Response]:
        """The application's answers to `requests`, one per request."""
        if self.call_many is not None and len(requests) > 1:
            try:
                return self.call_many(requests, self.answer_one)
            except Exception:  # noqa: BLE001 - answered one by one below, where the failing request is logged
                self.log.warning("a batch of %d requests failed; answering them one by one", len(requests))
        return [self.answer_one(request) for request in requests]

    def answer_one(self, request: Request) -> Response:
        """The application's answer to one request: its `HttpError` as a 4xx, any other failure as 500."""
        try:
            return self.app(request)
        except HttpError as error:
            return error.response()
        except Exception:  # noqa: BLE001 - the application failed: answer 500, keep the worker
            self.log.exception("error handling %s %s", request.method, request.path[:200])
            return Response.text(500, "internal server error; see the server log")
