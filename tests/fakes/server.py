"""Tiny asyncio HTTP/1.1 server base for the fake provider servers.

Each server runs its own event loop in a daemon thread, so sync tests, async tests (on
another loop) and subprocesses can all talk to it. Responses always use
``Connection: close``; streams use chunked transfer encoding, so a dropped connection
is a protocol error for the client (not a clean end of body).

Script replies with :meth:`FakeServer.enqueue`; when the queue is empty the server's
default reply is used (echo of the last user message, or ``server.default`` if set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FAULTS = ("http_<status>", "malformed_chunk", "reset", "stall", "empty")


@dataclass
class FakeToolCall:
    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass
class FakeReply:
    """One scripted reply.

    ``text`` is split into ``chunks`` pieces (default: one per word). ``fault`` is one of
    ``http_500`` / ``http_429`` / ``http_<status>`` (error JSON; 429 gets
    ``Retry-After: retry_after``), ``malformed_chunk`` / ``reset`` / ``stall`` (after
    ``fault_after`` text chunks; ``error_event``: the provider's mid-stream error event
    after ``fault_after`` chunks; ``stall`` with ``fault_after=0`` stalls before any byte
    is sent), or ``empty`` (a valid stream with no content). ``raw`` serves bytes
    verbatim as the SSE body (recorded fixtures), written in ``raw_piece_size`` pieces.
    """

    text: str | None = None
    chunks: int | None = None
    thinking: str = ""
    tool_calls: list[FakeToolCall] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_creation_tokens: int = 0
    first_token_delay: float = 0.0
    inter_chunk_delay: float = 0.0
    fault: str | None = None
    fault_after: int = 1
    retry_after: float | str = 1
    stall_seconds: float = 30.0
    raw: bytes | None = None
    raw_piece_size: int = 17
    finish_reason: str | None = None
    model: str | None = None

    def text_pieces(self, default_text: str) -> list[str]:
        text = self.text if self.text is not None else default_text
        return split_text(text, self.chunks)


def split_text(text: str, chunks: int | None = None) -> list[str]:
    if not text:
        return []
    if chunks is None:
        return re.findall(r"\s*\S+", text) or [text]
    chunks = max(1, min(chunks, len(text)))
    size, extra = divmod(len(text), chunks)
    out, pos = [], 0
    for i in range(chunks):
        n = size + (1 if i < extra else 0)
        out.append(text[pos : pos + n])
        pos += n
    return out


def split_json(value: str) -> list[str]:
    """Split a JSON string into uneven pieces that cut through tokens."""
    pieces, pos, sizes, i = [], 0, (1, 5, 3, 7, 2), 0
    while pos < len(value):
        n = sizes[i % len(sizes)]
        pieces.append(value[pos : pos + n])
        pos += n
        i += 1
    return pieces


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float = field(default_factory=time.time)
    disconnected: threading.Event = field(default_factory=threading.Event)
    completed: bool = False  # the full response was written


class ClientGone(Exception):
    pass


class Conn:
    """Response writer for one connection, aware of client disconnects."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: RecordedRequest,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.record = record
        self._watch: asyncio.Task[bytes] | None = None
        self.streaming = False

    def watch(self) -> None:
        if self._watch is None:
            self._watch = asyncio.ensure_future(self.reader.read(1))

    def _gone(self) -> bool:
        return self._watch is not None and self._watch.done()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
        else:
            self.watch()
            assert self._watch is not None
            await asyncio.wait({self._watch}, timeout=seconds)
        if self._gone():
            raise ClientGone

    async def _write(self, data: bytes) -> None:
        if self._gone() or self.writer.is_closing():
            raise ClientGone
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            raise ClientGone from None

    async def send_response(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        head += ["Connection: close", "", ""]
        await self._write_final("\r\n".join(head).encode() + body)

    async def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        await self.send_response(status, json.dumps(obj).encode(), "application/json", headers)

    async def start_stream(self, headers: dict[str, str] | None = None) -> None:
        head = ["HTTP/1.1 200 OK", "Content-Type: text/event-stream; charset=utf-8"]
        head += ["Cache-Control: no-cache", "Transfer-Encoding: chunked"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        head += ["Connection: close", "", ""]
        self.watch()
        self.streaming = True
        await self._write("\r\n".join(head).encode())

    async def send(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        if raw:
            await self._write(b"%x\r\n%s\r\n" % (len(raw), raw))

    async def end_stream(self) -> None:
        await self._write_final(b"0\r\n\r\n")

    async def _write_final(self, data: bytes) -> None:
        # Mark before writing: the client may see the bytes before drain() returns.
        self.record.completed = True
        try:
            await self._write(data)
        except ClientGone:
            self.record.completed = False
            raise

    def reset(self) -> None:
        """Drop the TCP connection abruptly (RST)."""
        sock = self.writer.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def wait_closed(self, timeout: float = 0.2) -> None:
        """After the response, wait briefly for the client to close (for disconnect
        bookkeeping)."""
        self.watch()
        assert self._watch is not None
        await asyncio.wait({self._watch}, timeout=timeout)

    def finish(self) -> None:
        if self._watch is not None:
            if self._watch.done():
                self.record.disconnected.set()
            else:
                self._watch.cancel()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    529: "Overloaded",
}


class FakeServer:
    """Base class: subclasses implement :meth:`route`."""

    name = "fake"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.default: FakeReply | None = None  # template for the default reply
        self.api_key: str | None = None  # when set, other keys get HTTP 401
        self._queue: deque[FakeReply] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()

    # -- public API ----------------------------------------------------------------

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url

    def enqueue(self, *replies: FakeReply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
        self.requests.clear()
        self.default = None
        self.api_key = None
        self.__dict__.pop("next_reply", None)  # a test's own responder, set on the instance

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    def start(self) -> FakeServer:
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        with contextlib.suppress(Exception):
            fut.result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------

    def next_reply(self, body: Any) -> FakeReply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default is not None:
            return self.default
        return FakeReply()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._on_connection, self.host, self.port, backlog=512)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ClientGone):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = RecordedRequest(
            method=method, path=target.split("?", 1)[0], headers=headers, body=body, json=parsed
        )
        self.requests.append(record)
        conn = Conn(reader, writer, record)
        try:
            await self.route(record, conn)
        except ClientGone:
            pass
        finally:
            conn.finish()

    async def route(self, request: RecordedRequest, conn: Conn) -> None:
        raise NotImplementedError

    # -- helpers for subclasses -----------------------------------------------------

    async def play_http_fault(self, reply: FakeReply, conn: Conn) -> bool:
        """Handle ``http_<status>`` and pre-byte ``stall`` faults; True if handled."""
        fault = reply.fault or ""
        if fault == "stall" and reply.fault_after <= 0:
            await conn.sleep(reply.stall_seconds)
            await conn.send_json(500, self.error_body(500, "stalled"))
            return True
        m = re.fullmatch(r"http_(\d{3})", fault)
        if m:
            status = int(m.group(1))
            headers = {"Retry-After": str(reply.retry_after)} if status == 429 else {}
            await conn.send_json(status, self.error_body(status, f"fake {status}"), headers)
            return True
        return False

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def check_auth(self, request: RecordedRequest) -> bool:
        raise NotImplementedError


def estimate_prompt_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4) if body is not None else 1


def benchmark_args(description: str) -> Any:
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=None, help="tokens per default reply")
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--itl-ms", type=float, default=0.0)
    return parser.parse_args()


def serve_forever(server: FakeServer, args: Any) -> None:
    if args.tokens is not None or args.ttft_ms or args.itl_ms:
        text = None
        if args.tokens is not None:
            text = " ".join(f"tok{i}" for i in range(args.tokens))
        server.default = FakeReply(
            text=text,
            first_token_delay=args.ttft_ms / 1000,
            inter_chunk_delay=args.itl_ms / 1000,
        )
    server.start()
    print(f"{server.name} fake server listening on {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
