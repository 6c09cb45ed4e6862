"""A lean fake OpenAI Chat Completions server for benchmarks (same wire format as the real API).

``tests/fakes/openai_server.py`` is built for fidelity and fault injection (one connection
per request, a watcher task per stream); this one is built to carry hundreds of concurrent
streams from one process: asyncio protocols on uvloop, HTTP/1.1 keep-alive, chunked
``text/event-stream`` bodies, frames pre-encoded once. ``--procs N`` forks N processes on one
port (SO_REUSEPORT) if one process is not enough.

Stream: after ``--ttft-ms`` a role chunk and the first content chunk, then one content chunk
every ``--itl-ms``, a finish chunk, a usage chunk (``stream_options.include_usage``) and
``data: [DONE]``. A model name ending in ``-t<N>`` asks for N tokens instead of ``--tokens``.

    python -m bench.fake_model --port 8101 --tokens 200 --ttft-ms 50 --itl-ms 5 [--procs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from typing import Any

_MODEL_TOKENS = re.compile(r"-t(\d+)$")


class Config:
    def __init__(self, tokens: int, ttft: float, itl: float) -> None:
        self.tokens = tokens
        self.ttft = ttft
        self.itl = itl
        self.connections = 0  # accepted so far (tests check that clients keep them alive)
        self._frames: dict[tuple[str, int], list[bytes]] = {}

    def frames(self, model: str, n: int) -> list[bytes]:
        """Chunked-encoded SSE frames: [role+first token, token 2..n, finish, usage, DONE]."""
        key = (model, n)
        cached = self._frames.get(key)
        if cached is not None:
            return cached
        base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                "model": model, "system_fingerprint": "fp_bench"}

        def chunk(delta: dict[str, Any], finish: str | None = None,
                  usage: dict[str, Any] | None = None) -> bytes:
            body: dict[str, Any] = {**base, "choices": [] if usage else [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if usage:
                body["usage"] = usage
            return f"data: {json.dumps(body)}\n\n".encode()

        tokens = [chunk({"content": f"tok{i} "}) for i in range(n)]
        first = chunk({"role": "assistant", "content": "", "refusal": None}) + tokens[0]
        usage = {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}
        tail = [chunk({}, "stop"), chunk({}, usage=usage) + b"data: [DONE]\n\n"]
        out = [_chunked(first)] + [_chunked(t) for t in tokens[1:]] + [_chunked(b"".join(tail))]
        self._frames[key] = out
        return out


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_STREAM_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
_END = b"0\r\n\r\n"


class Protocol(asyncio.Protocol):
    def __init__(self, config: Config) -> None:
        self.config = config
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.config.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.task is not None:
            self.task.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def _next(self) -> None:
        if self.busy:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4:end + 4 + length]
        self.buffer = self.buffer[end + 4 + length:]
        method, path = (head.split(" ", 2) + ["", ""])[:2]
        self.busy = True
        self.task = asyncio.get_running_loop().create_task(self._serve(method, path, body))

    def _write(self, data: bytes) -> None:
        if self.transport is None:
            raise ConnectionError
        self.transport.write(data)

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self._write(b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                    b"\r\n%s" % (status, len(body), body))

    async def _serve(self, method: str, path: str, raw: bytes) -> None:
        try:
            if method == "GET" and path.startswith("/v1/models"):
                self._json(200, {"object": "list", "data": [
                    {"id": "bench-model", "object": "model", "created": 0, "owned_by": "bench"}]})
            elif method == "POST" and path.startswith("/v1/chat/completions"):
                body = json.loads(raw or b"{}")
                model = str(body.get("model") or "bench-model")
                match = _MODEL_TOKENS.search(model)
                n = max(1, int(match.group(1)) if match else self.config.tokens)
                frames = self.config.frames(model, n)
                if body.get("stream"):
                    await self._stream(frames)
                else:
                    await asyncio.sleep(self.config.ttft + self.config.itl * (n - 1))
                    text = "".join(f"tok{i} " for i in range(n))
                    self._json(200, {"id": "chatcmpl-bench", "object": "chat.completion",
                                     "created": 0, "model": model, "choices": [
                                         {"index": 0, "message": {"role": "assistant",
                                                                  "content": text},
                                          "finish_reason": "stop"}],
                                     "usage": {"prompt_tokens": 10, "completion_tokens": n,
                                               "total_tokens": 10 + n}})
            else:
                self._json(404, {"error": {"message": f"no route {path}",
                                           "type": "invalid_request_error"}})
        except (ConnectionError, asyncio.CancelledError):
            return
        self.busy = False
        if self.transport is not None:
            self._next()

    async def _stream(self, frames: list[bytes]) -> None:
        config = self.config
        await asyncio.sleep(config.ttft)
        self._write(_STREAM_HEAD + frames[0])
        # Sleep to absolute deadlines so the pace does not drift under load.
        start = time.monotonic()
        for i, frame in enumerate(frames[1:-1], 1):
            delay = start + i * config.itl - time.monotonic()
            await asyncio.sleep(delay if delay > 0 else 0)
            self._write(frame)
        self._write(frames[-1] + _END)


async def _serve(sock: socket.socket, config: Config) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Protocol(config), sock=sock, backlog=4096)
    async with server:
        await server.serve_forever()


def _listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(4096)
    return sock


def _run(sock: socket.socket, config: Config) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(sock, config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=5.0)
    parser.add_argument("--procs", type=int, default=1)
    args = parser.parse_args()
    config = Config(args.tokens, args.ttft_ms / 1000, args.itl_ms / 1000)
    first = _listener(args.host, args.port)
    port = first.getsockname()[1]
    children: list[int] = []
    for _ in range(max(1, args.procs) - 1):
        sock = _listener(args.host, port)
        pid = os.fork()
        if pid == 0:
            first.close()
            _run(sock, config)
            os._exit(0)
        sock.close()
        children.append(pid)

    def stop(*_: Any) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"bench fake model listening on http://{args.host}:{port}/v1", flush=True)
    try:
        _run(first, config)
    finally:
        stop()


if __name__ == "__main__":
    main()
