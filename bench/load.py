"""The load driver: one measured request per call, timed at the client.

Every call returns a :class:`Sample` (time to the first content token, time to the end,
content tokens received, and an error string or None). Streams are parsed incrementally
from raw bytes; nothing here retries.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import websockets


@dataclass
class Sample:
    ttft: float | None = None  # seconds from the request to the first content token
    total: float | None = None  # seconds from the request to the end of the reply
    tokens: int = 0
    error: str | None = None
    text: str = ""  # the content deltas received, joined (sse_send with keep_text)
    user_message_id: str | None = None  # from the `execution` frame (sse_send with keep_text)


def client(connections: int = 2000) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(300.0, connect=60.0),
    )


def _frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    parts = buffer.split(b"\n\n")
    return parts[:-1], parts[-1]


async def sse_send(http: httpx.AsyncClient, base: str, key: str, session_id: str,
                   content: str = "hello", keep_text: bool = False) -> Sample:
    """Our streaming send: POST …/messages/stream, frames `event: content` … `event: done`.
    With `keep_text`, the sample also carries the text received and the user message's id
    (the frames are decoded after the stream, outside the timed part)."""
    sample = Sample()
    kept: list[bytes] = []
    start = time.perf_counter()
    try:
        async with http.stream(
            "POST", f"{base}/api/v1/chat/sessions/{session_id}/messages/stream",
            json={"content": content},
            headers={"X-API-Key": key, "Accept": "text/event-stream"},
        ) as response:
            if response.status_code != 200:
                body = await response.aread()
                sample.error = f"HTTP {response.status_code}: {body[:120]!r}"
                return sample
            buffer = b""
            ended = False
            async for chunk in response.aiter_raw():
                frames, buffer = _frames(buffer + chunk)
                for frame in frames:
                    if b"\nevent: content\n" in frame:
                        if sample.ttft is None:
                            sample.ttft = time.perf_counter() - start
                        sample.tokens += 1
                        if keep_text:
                            kept.append(frame)
                    elif b"\nevent: done\n" in frame:
                        ended = True
                    elif b"\nevent: error\n" in frame:
                        data = frame.split(b"data: ", 1)[-1][:120]
                        sample.error = "error event: " + data.decode(errors="replace")
                        ended = True
                    elif keep_text and b"\nevent: execution\n" in frame:
                        kept.append(frame)
            if not ended and sample.error is None:
                sample.error = "stream ended without a terminal event"
    except Exception as exc:  # noqa: BLE001 - every failure is a counted error
        sample.error = f"{type(exc).__name__}: {exc}"[:160]
    sample.total = time.perf_counter() - start
    _decode_kept(sample, kept)
    return sample


def _decode_kept(sample: Sample, frames: list[bytes]) -> None:
    """The text of the content frames, and the user message id of the execution frame."""
    parts: list[str] = []
    for frame in frames:
        event = json.loads(frame.split(b"\ndata: ", 1)[1])
        if event.get("type") == "content":
            parts.append(event.get("content") or "")
        elif event.get("type") == "execution":
            sample.user_message_id = event.get("user_message_id")
    sample.text = "".join(parts)


async def post_send(http: httpx.AsyncClient, base: str, key: str, session_id: str,
                    content: str = "hello") -> Sample:
    """Our non-streaming send: POST …/messages, waits for the stored reply (201)."""
    sample = Sample()
    start = time.perf_counter()
    try:
        response = await http.post(f"{base}/api/v1/chat/sessions/{session_id}/messages",
                                   json={"content": content}, headers={"X-API-Key": key})
        if response.status_code != 201:
            sample.error = f"HTTP {response.status_code}: {response.text[:120]}"
        else:
            sample.tokens = 1
    except Exception as exc:  # noqa: BLE001
        sample.error = f"{type(exc).__name__}: {exc}"[:160]
    sample.total = time.perf_counter() - start
    sample.ttft = sample.total
    return sample


async def stored_reply(http: httpx.AsyncClient, base: str, key: str, session_id: str,
                       user_message_id: str) -> str | None:
    """The stored content of the message right after `user_message_id` (its reply), or None
    when there is no assistant message there."""
    response = await http.get(f"{base}/api/v1/chat/sessions/{session_id}/messages",
                              params={"after": user_message_id, "limit": 1},
                              headers={"X-API-Key": key})
    response.raise_for_status()
    data = response.json()["data"]
    if not data or data[0]["role"] != "assistant":
        return None
    return str(data[0]["content"])


async def openai_stream(http: httpx.AsyncClient, base_v1: str, model: str = "bench-model",
                        key: str = "x", content: str = "hello") -> Sample:
    """A Chat Completions stream (the fake model directly, or a proxy in front of it)."""
    sample = Sample()
    start = time.perf_counter()
    try:
        async with http.stream(
            "POST", f"{base_v1}/chat/completions",
            json={"model": model, "stream": True, "messages": [
                {"role": "system", "content": "You are a benchmark assistant."},
                {"role": "user", "content": content}]},
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            if response.status_code != 200:
                body = await response.aread()
                sample.error = f"HTTP {response.status_code}: {body[:120]!r}"
                return sample
            buffer = b""
            done = False
            async for chunk in response.aiter_raw():
                frames, buffer = _frames(buffer.replace(b"\r\n", b"\n") + chunk)
                for frame in frames:
                    for line in frame.split(b"\n"):
                        if not line.startswith(b"data:"):
                            continue
                        data = line[5:].strip()
                        if data == b"[DONE]":
                            done = True
                            continue
                        event = json.loads(data)
                        for choice in event.get("choices") or ():
                            if (choice.get("delta") or {}).get("content"):
                                if sample.ttft is None:
                                    sample.ttft = time.perf_counter() - start
                                sample.tokens += 1
            if not done:
                sample.error = "stream ended without [DONE]"
    except Exception as exc:  # noqa: BLE001
        sample.error = f"{type(exc).__name__}: {exc}"[:160]
    sample.total = time.perf_counter() - start
    return sample


async def ws_open(ws_base: str, key: str, session_id: str) -> Any:
    return await websockets.connect(
        f"{ws_base}/api/v1/chat/sessions/{session_id}/ws",
        additional_headers={"X-API-Key": key}, max_size=None, open_timeout=120,
        ping_interval=None, close_timeout=2,
    )


async def ws_open_many(ws_base: str, key: str, session_ids: list[str],
                       batch: int = 100) -> tuple[list[Any], list[str]]:
    """Sockets on `session_ids`, opened `batch` at a time; and the failures, as text."""
    sockets: list[Any] = []
    failures: list[str] = []
    for offset in range(0, len(session_ids), batch):
        opened = await asyncio.gather(
            *(ws_open(ws_base, key, sid) for sid in session_ids[offset:offset + batch]),
            return_exceptions=True)
        for item in opened:
            if isinstance(item, BaseException):
                failures.append(f"{type(item).__name__}: {item}"[:160])
            else:
                sockets.append(item)
    return sockets, failures


async def ws_turn(socket: Any, content: str = "hello") -> Sample:
    """One turn over an open chat WebSocket: send a message frame, read events until done."""
    sample = Sample()
    start = time.perf_counter()
    try:
        await socket.send(json.dumps({"type": "message", "content": content}))
        while True:
            event = json.loads(await asyncio.wait_for(socket.recv(), 60))  # stuck turn = error
            kind = event.get("type")
            if kind == "content":
                if sample.ttft is None:
                    sample.ttft = time.perf_counter() - start
                sample.tokens += 1
            elif kind == "done":
                break
            elif kind == "error":
                sample.error = f"error: {event.get('message') or event.get('code')}"[:160]
                break
    except Exception as exc:  # noqa: BLE001
        sample.error = f"{type(exc).__name__}: {exc}"[:160]
    sample.total = time.perf_counter() - start
    return sample


async def sequential(calls: Iterable[Callable[[], Awaitable[Sample]]]) -> list[Sample]:
    return [await call() for call in calls]


async def alternating(first: Callable[[], Awaitable[Sample]],
                      second: Callable[[int], Awaitable[Sample]],
                      count: int) -> tuple[list[Sample], list[Sample]]:
    """`count` rounds of one `first()` then one `second(i)`, one request at a time: the two
    series see the same machine (a shared VM drifts within seconds)."""
    firsts: list[Sample] = []
    seconds: list[Sample] = []
    for i in range(count):
        firsts.append(await first())
        seconds.append(await second(i))
    return firsts, seconds


async def concurrent(calls: Iterable[Callable[[], Awaitable[Sample]]]) -> tuple[list[Sample],
                                                                                float]:
    """Start all calls at once; returns the samples and the wall time of the batch."""
    start = time.perf_counter()
    samples = await asyncio.gather(*(call() for call in calls))
    return list(samples), time.perf_counter() - start


# --- statistics -------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def errors(samples: list[Sample]) -> int:
    return sum(1 for s in samples if s.error)


def first_errors(samples: list[Sample], n: int = 3) -> list[str]:
    seen: list[str] = []
    for s in samples:
        if s.error and s.error not in seen:
            seen.append(s.error)
        if len(seen) >= n:
            break
    return seen
