"""Keeps the HTTP server answering when clients open connections and never finish a request (slow loris).

aiohttp's server limits the size of a request line and its headers and closes idle keep-alive connections, but it
waits for headers or a body that arrive a byte at a time for as long as the client likes, and it accepts
connections until `accept()` fails for want of file descriptors; from then on the health check is not answered and
a model file cannot be opened for hashing. So every connection goes through a guard here:

- a connection has `request_timeout` seconds from the first byte of a request to deliver all its headers, and
  may wait no longer than that for its next request either (from when it opens or its last answer was sent);
  a body has that long again, plus one second per `MIN_BODY_RATE` bytes that have actually arrived (what it
  declares buys nothing: a body that trickles in falls behind);
  one that does not make it is answered 408 and closed (silently when it sent nothing at all: an idle
  keep-alive connection);
- at most `limit` connections are open, well below the descriptor limit; when one more arrives, one is closed to
  make room: a connection waiting for its request (half-sent requests first, the longest waiting first), else the
  oldest event stream (the page's EventSource connects again by itself), else the request whose body arrives the
  slowest; only when every connection is a handler at work is the newcomer refused with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

MIN_BODY_RATE = 64 * 1024  # bytes a second a body must average, after the timeout's grace
SWEEPS_PER_TIMEOUT = 4
MIN_LIMIT = 8
DEFAULT_BACKLOG = 100  # asyncio's own
MIN_BACKLOG = 4
try:
    import resource
except ImportError:  # pragma: no cover - Windows has no descriptor limit of this kind
    resource = None  # type: ignore[assignment]


def raise_open_files_limit() -> int | None:
    """The soft RLIMIT_NOFILE raised to the hard one (the soft one is often a mere 1024, set for old `select`
    users); the limit now in force, or None where there is none to read."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as e:
            log.warning("could not raise the open files limit from %d to %d: %s", soft, hard, e,
                        extra={"event": "daemon.nofile"})
    return None if soft == resource.RLIM_INFINITY else soft


def connection_limits(max_connections: int, open_files: int | None) -> tuple[int, int]:
    """How many connections may be open, and the listening backlog. Connections get half the descriptors at most;
    the rest stay for the database, hashing, watches, images and logs. asyncio accepts up to `backlog`
    connections in one go before any of them is counted, and a connection closed to make room gives its
    descriptor back only a moment later, so two backlogs' worth of that half are kept free."""
    if open_files is None:
        return max_connections, DEFAULT_BACKLOG
    budget = open_files // 2
    backlog = max(MIN_BACKLOG, min(DEFAULT_BACKLOG, budget // 8))
    return max(MIN_LIMIT, min(max_connections, budget - 2 * backlog)), backlog


def _answer(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class _Connection(asyncio.Protocol):
    """One client connection: passes everything to aiohttp's protocol and keeps the times the guard checks."""

    def __init__(self, guard: ConnectionGuard, inner: Any):
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.waiting_since: float | None = None  # None while a handler runs
        self.first_byte: float | None = None  # when the first byte of the next request came, while waiting
        self.request: web.BaseRequest | None = None
        self.stream = False  # the request is an event stream: open for as long as the client listens
        self.body_started = 0.0
        self.body_bytes = 0  # what arrived since the request's headers were in
        self.body_deadline = 0.0  # once cut: how long its handler has to answer
        self.cut = False
        self.refused = False

    # -- asyncio.Protocol -------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.waiting_since = self.guard.now()
        if not self.guard.admit(self):
            self.refused = True
            transport.write(_answer(503, "Service Unavailable", "too many open connections; try again shortly"))
            transport.close()
            return
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.refused:
            if self.waiting_since is None:
                self.body_bytes += len(data)
            elif self.first_byte is None:
                self.first_byte = self.guard.now()
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.refused else self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        if not self.refused:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- the guard's view -------------------------------------------------------------------------------------
    def begin(self, request: web.BaseRequest) -> None:
        self.waiting_since = None
        self.request = request
        self.stream = request.path in self.guard.streams
        self.body_started, self.body_bytes = self.guard.now(), 0

    def end(self) -> None:
        self.request = None
        self.stream = False
        self.first_byte = None
        self.waiting_since = self.guard.now()

    def overdue(self, now: float) -> str | None:
        """What this connection has not delivered in time (`idle`: nothing at all), or None."""
        if self.waiting_since is not None:
            if now - (self.first_byte or self.waiting_since) > self.guard.timeout:
                return self.waiting_for()
            return None
        request, transport = self.request, self.transport
        if request is None or transport is None or request.content.is_eof():
            return None
        # A transport that is not reading was paused by aiohttp because the handler has not read yet: that
        # wait is ours, not the client's.
        grace = self.guard.timeout + self.body_bytes / MIN_BODY_RATE
        due = self.body_deadline if self.cut else self.body_started + grace
        if transport.is_reading() and now > due:
            return "request body"
        return None

    def receiving(self) -> bool:
        """A request whose body is still to come."""
        return self.request is not None and not self.stream and not self.request.content.is_eof()

    def body_rate(self, now: float) -> float:
        return self.body_bytes / max(now - self.body_started, 1e-3)

    def waiting_for(self) -> str:
        return "idle" if self.first_byte is None else "request headers"

    def close(self, what: str) -> bool:
        """Cut the connection off; whether it is closing now (a handler waiting for its body answers first)."""
        if self.transport is None or self.transport.is_closing():
            return True
        if what == "request body" and self.request is not None and not self.cut:
            # First the handler's read fails, with an error it answers like any other (no traceback for a client
            # that is merely slow); once it has, the middleware closes the connection with the 408 below rather
            # than let aiohttp wait for the rest of the body. A handler that does not get there within the
            # timeout is cut all the same.
            self.cut = True
            self.body_deadline = self.guard.now() + self.guard.timeout
            self.request.content.set_exception(web.HTTPRequestTimeout(reason=f"the {what} did not arrive in time"))
            return False
        self.cut = True
        # An idle connection is closed without a word: a client about to reuse it takes the close for what it is
        # and connects again, where an answer would be read as the answer to its next request.
        if what != "idle":
            self.transport.write(_answer(408, "Request Timeout", f"the {what} did not arrive in time"))
        self.transport.close()
        return True


class ConnectionGuard:
    """The protocol factory for the listening socket, wrapped around aiohttp's; see the module's docstring."""

    def __init__(self, limits: tuple[int, int], timeout: float, streams: frozenset[str] = frozenset()):
        """`streams`: the paths whose answer is a stream a client keeps open and reopens by itself."""
        self.limit, self.backlog = limits
        self.timeout = timeout
        self.streams = streams
        self.now = asyncio.get_running_loop().time
        self._open: set[_Connection] = set()
        self._by_transport: dict[asyncio.BaseTransport, _Connection] = {}
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def install(self, app: web.Application) -> None:
        """Before the app is set up (it freezes its middlewares then). Outermost, so that it sees every request,
        also those the other middlewares answer themselves."""
        app.middlewares.insert(0, self.middleware)

    async def listen(self, factory: Callable[[], Any], sock: socket.socket) -> None:
        """Serve `factory`'s protocol (aiohttp's server, `runner.server`) on `sock`, each connection guarded."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self, factory()), sock=sock,
                                                 backlog=self.backlog)
        self._sweeper = asyncio.create_task(self._sweep(), name="connection-guard")

    async def close(self) -> None:
        """Stop listening; the open connections are aiohttp's to close (`runner.cleanup()`)."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    def admit(self, conn: _Connection) -> bool:
        if len(self._open) >= self.limit and not self._make_room():
            log.warning("refused a connection: all %d are inside a request", self.limit,
                        extra={"event": "http.refused", "limit": self.limit})
            return False
        self._open.add(conn)
        assert conn.transport is not None
        self._by_transport[conn.transport] = conn
        return True

    def _make_room(self) -> bool:
        """Close one connection for a newcomer; whether there was one to close. Half-sent requests go first (slow
        loris), the one begun longest ago first (a request that has just come in whole is the youngest); then idle
        ones, the longest idle first."""
        waiting = [c for c in self._open if c.waiting_since is not None]
        if waiting:
            oldest = min(waiting, key=lambda c: (c.first_byte is None, c.first_byte or c.waiting_since or 0.0))
            self._cut(oldest, oldest.waiting_for())
            return True
        streams = [c for c in self._open if c.stream and c.transport is not None]
        if streams:
            oldest = min(streams, key=lambda c: c.body_started)
            log.info("closed the oldest event stream to make room", extra={"event": "http.evicted"})
            assert oldest.transport is not None
            oldest.transport.close()
            self._open.discard(oldest)
            return True
        receiving = [c for c in self._open if c.receiving()]
        if receiving:
            now = self.now()
            self._cut(min(receiving, key=lambda c: c.body_rate(now)), "request body")
            return True
        return False

    def forget(self, conn: _Connection) -> None:
        self._open.discard(conn)
        if conn.transport is not None:
            self._by_transport.pop(conn.transport, None)

    def _cut(self, conn: _Connection, what: str) -> None:
        if what != "idle":
            log.info("closed a connection whose %s did not arrive in time", what,
                     extra={"event": "http.timeout", "what": what.replace(" ", "_")})
        if conn.close(what):
            self._open.discard(conn)  # no longer counted, though its descriptor goes only once it is closed

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.timeout / SWEEPS_PER_TIMEOUT)
            now = self.now()
            for conn in list(self._open):
                what = conn.overdue(now)
                if what is not None:
                    self._cut(conn, what)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        """Marks the time a request is being answered on its connection: from when its headers are in."""
        conn = self._by_transport.get(request.transport) if request.transport is not None else None
        if conn is None:
            return await handler(request)
        conn.begin(request)
        try:
            response = await handler(request)
        finally:
            conn.end()
        if conn.cut and conn.close("request body"):
            self._open.discard(conn)  # aiohttp finds the connection closing and drops its own answer quietly
        return response
