"""A small HTTP/1.1 server on asyncio + httptools: keep-alive, pipelining in order, body limits, Expect: 100-continue.

The HTTP layer is the hot path of a small-model server (the model runs in microseconds per row), so it is kept
to parsing bytes and writing bytes; routing and everything else is the handler's job.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import httptools

log = logging.getLogger(__name__)


@dataclass
class HttpRequest:
    """One parsed request."""

    method: str
    """GET, POST, ..."""
    path: str
    """Decoded path without the query string."""
    query: str
    """Raw query string ('' if none)."""
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes
    """The whole body."""
    received: float = 0.0
    """Loop time when the last byte arrived."""


@dataclass
class HttpResponse:
    """One response; the protocol adds content-length and connection headers."""

    status: int
    """HTTP status code."""
    body: bytes = b""
    """Response body."""
    content_type: str = "application/json"
    """Content-Type header."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Extra headers (e.g. Retry-After)."""


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}


def encode_response(response: HttpResponse, keep_alive: bool) -> bytes:
    head = _STATUS_LINES.get(response.status) or f"HTTP/1.1 {response.status} Unknown\r\n".encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in response.headers)
    connection = "" if keep_alive else "connection: close\r\n"
    return (
        head
        + f"content-type: {response.content_type}\r\ncontent-length: {len(response.body)}\r\n".encode()
        + f"{extra}{connection}\r\n".encode()
        + response.body
    )


@dataclass(frozen=True)
class HttpLimits:
    """Limits that keep one client from taking the server's memory."""

    max_body_bytes: int = 4 * 1024 * 1024
    """Larger bodies are answered 413 and the connection closed."""
    max_pipelined: int = 64
    """Requests parsed ahead on one connection before reading pauses."""
    max_header_bytes: int = 64 * 1024
    """Total header size tolerated."""
    max_drain_bytes: int = 64 * 1024 * 1024
    """After a 413, up to this much of the refused body is read and dropped before closing, so the client reads the
    413 instead of a connection reset (closing a socket with unread data resets it)."""
    drain_seconds: float = 5.0
    """Longest wait for the rest of a refused body before the connection is closed anyway."""


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing a connection we are closing."""


def _error_body(message: str) -> bytes:
    return ('{"error": "' + message.replace('"', "'") + '"}').encode()


class HttpProtocol(asyncio.Protocol):
    """One connection: parse requests, hand them to the handler in order, write responses."""

    def __init__(
        self, handler: Handler, limits: HttpLimits, on_error: Callable[[HttpRequest, Exception], HttpResponse]
    ):
        self._handler = handler
        self._limits = limits
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._pending: collections.deque[tuple[HttpRequest, bool]] = collections.deque()
        self._busy = False
        self._paused = False
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._drain_left: int | None = None
        """Bytes of a refused body still to read and drop before closing (None: not draining)."""
        self._drain_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        self._transport = None
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        if self._drain_left is not None:
            self._drain_left -= len(data)
            if self._drain_left <= 0:
                self._close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported")
        except httptools.HttpParserCallbackError:
            pass  # a callback already answered and closed
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed HTTP request: {exc}")

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._header_bytes = 0
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self._limits.max_header_bytes:
            self._reject(431, "request headers are too large")
            raise _Stop
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        length = self._headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._limits.max_body_bytes:
            message = f"request body of {length} bytes exceeds the limit of {self._limits.max_body_bytes}"
            self._reject(413, message, drain_bytes=int(length))
            raise _Stop
        if self._headers.get("expect", "").lower() == "100-continue" and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._limits.max_body_bytes:
            self._reject(
                413,
                f"request body exceeds the limit of {self._limits.max_body_bytes} bytes",
                drain_bytes=self._limits.max_drain_bytes,
            )
            raise _Stop
        self._body.append(body)

    def on_message_complete(self) -> None:
        try:
            url = httptools.parse_url(self._url)
            path = url.path.decode("utf-8")
            query = (url.query or b"").decode("latin-1")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            self._reject(400, "malformed request URL")
            raise _Stop from None
        request = HttpRequest(
            method=self._parser.get_method().decode("latin-1"),
            path=path,
            query=query,
            headers=self._headers,
            body=b"".join(self._body) if len(self._body) != 1 else self._body[0],
            received=self._loop.time(),
        )
        self._pending.append((request, self._parser.should_keep_alive()))
        if len(self._pending) >= self._limits.max_pipelined and not self._paused and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True
        if not self._busy:
            self._busy = True
            self._loop.create_task(self._serve_pending())

    # responses
    async def _serve_pending(self) -> None:
        try:
            while self._pending:
                request, keep_alive = self._pending.popleft()
                try:
                    response = await self._handler(request)
                except Exception as exc:  # noqa: BLE001 - a handler bug answers 500, the connection lives on
                    response = self._on_error(request, exc)
                if self._transport is None:
                    return
                self._transport.write(encode_response(response, keep_alive))
                if not keep_alive:
                    self._transport.close()
                    self._transport = None
                    return
                if self._paused and len(self._pending) < self._limits.max_pipelined // 2:
                    self._transport.resume_reading()
                    self._paused = False
        finally:
            self._busy = False

    def _reject(self, status: int, message: str, drain_bytes: int = 0) -> None:
        """Answers a request we will not parse further, then closes the connection.

        With `drain_bytes`, the rest of the refused body (at most max_drain_bytes, for at most drain_seconds) is
        read and dropped first, so that the client, still sending, gets to read the answer.
        """
        if self._transport is None:
            return
        self._pending.clear()
        self._transport.write(encode_response(HttpResponse(status, _error_body(message)), keep_alive=False))
        left = min(drain_bytes - self._body_size, self._limits.max_drain_bytes) if drain_bytes else 0
        if left <= 0:
            self._close()
            return
        self._drain_left = left
        self._drain_timer = self._loop.call_later(self._limits.drain_seconds, self._close)

    def _close(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        self._drain_left = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def reuse_port_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket with SO_REUSEPORT, so several worker processes can accept on one port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock
