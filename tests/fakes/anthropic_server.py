"""Fake Anthropic Messages server (``POST /v1/messages``, ``GET /v1/models``).

Streams ``event:``/``data:`` frames like the real API (see
``tests/fixtures/anthropic_messages_*.sse``): message_start (with usage incl. cache
fields), optional thinking block (``thinking_delta`` + ``signature_delta``), ping, text
block (``text_delta``), tool_use blocks (``input_json_delta`` split mid-token),
message_delta (stop_reason + output usage), message_stop.

``base_url`` is the server root (the SDK appends ``/v1/messages``). Standalone::

    python -m tests.fakes.anthropic_server --port 8102 --tokens 200 --ttft-ms 50 --itl-ms 5
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from .server import (
    Conn,
    FakeReply,
    FakeServer,
    RecordedRequest,
    benchmark_args,
    estimate_prompt_tokens,
    serve_forever,
    split_json,
    split_text,
)

_ids = itertools.count(1)


def last_user_text(body: Any) -> str:
    for message in reversed((body or {}).get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content or [] if b.get("type") == "text"]
        if texts:
            return " ".join(texts)
    return ""


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


class FakeAnthropicServer(FakeServer):
    name = "anthropic"

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def check_auth(self, request: RecordedRequest) -> bool:
        return self.api_key is None or request.headers.get("x-api-key") == self.api_key

    async def route(self, request: RecordedRequest, conn: Conn) -> None:
        if not self.check_auth(request):
            await conn.send_json(401, self.error_body(401, "invalid x-api-key"))
            return
        if request.method == "GET" and request.path == "/v1/models":
            models = ["claude-sonnet-4-20250514", "claude-3-5-haiku-latest"]
            await conn.send_json(
                200,
                {
                    "data": [
                        {
                            "type": "model",
                            "id": m,
                            "display_name": m,
                            "created_at": "2025-01-01T00:00:00Z",
                        }
                        for m in models
                    ],
                    "has_more": False,
                    "first_id": models[0],
                    "last_id": models[-1],
                },
            )
            return
        if request.method == "POST" and request.path == "/v1/messages":
            body = request.json or {}
            reply = self.next_reply(body)
            if await self.play_http_fault(reply, conn):
                return
            if body.get("stream"):
                await self._stream(body, reply, conn)
            else:
                await self._complete(body, reply, conn)
            return
        await conn.send_json(404, self.error_body(404, f"no route {request.path}"))

    def _text(self, body: Any, reply: FakeReply) -> str:
        if reply.fault == "empty":
            return ""
        if reply.text is not None:
            return reply.text
        return "" if reply.tool_calls else f"You said: {last_user_text(body)}"

    def _input_usage(self, body: Any, reply: FakeReply) -> dict[str, Any]:
        prompt = (
            reply.prompt_tokens if reply.prompt_tokens is not None else estimate_prompt_tokens(body)
        )
        return {
            "input_tokens": prompt,
            "cache_creation_input_tokens": reply.cache_creation_tokens,
            "cache_read_input_tokens": reply.cached_tokens,
        }

    async def _complete(self, body: Any, reply: FakeReply, conn: Conn) -> None:
        text = self._text(body, reply)
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content += [
            {
                "type": "tool_use",
                "id": tc.id or f"toolu_fake{next(_ids)}",
                "name": tc.name,
                "input": tc.arguments,
            }
            for tc in reply.tool_calls
        ]
        completion = reply.completion_tokens
        if completion is None:
            completion = len(split_text(text)) + 10 * len(reply.tool_calls)
        await conn.sleep(reply.first_token_delay)
        await conn.send_json(
            200,
            {
                "id": f"msg_fake{next(_ids)}",
                "type": "message",
                "role": "assistant",
                "model": reply.model or body.get("model", "claude-sonnet-4-20250514"),
                "content": content,
                "stop_reason": reply.finish_reason
                or ("tool_use" if reply.tool_calls else "end_turn"),
                "stop_sequence": None,
                "usage": {**self._input_usage(body, reply), "output_tokens": completion},
            },
        )

    async def _stream(self, body: Any, reply: FakeReply, conn: Conn) -> None:
        if reply.raw is not None:
            await conn.start_stream()
            raw, size = reply.raw, max(1, reply.raw_piece_size)
            for pos in range(0, len(raw), size):
                await conn.send(raw[pos : pos + size])
            await conn.end_stream()
            return

        pieces = split_text(self._text(body, reply), reply.chunks)
        thinking = [] if reply.fault == "empty" else split_text(reply.thinking)
        completion = reply.completion_tokens
        if completion is None:
            completion = len(pieces) + len(thinking) + 10 * len(reply.tool_calls)

        await conn.sleep(reply.first_token_delay)
        await conn.start_stream()
        message: dict[str, Any] = {
            "id": f"msg_fake{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": reply.model or body.get("model", "claude-sonnet-4-20250514"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**self._input_usage(body, reply), "output_tokens": 1},
        }
        await conn.send(sse("message_start", {"type": "message_start", "message": message}))
        index = 0
        if thinking:
            await conn.send(
                sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
            )
            for piece in thinking:
                await conn.send(
                    sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "thinking_delta", "thinking": piece},
                        },
                    )
                )
                await conn.sleep(reply.inter_chunk_delay)
            await conn.send(
                sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": "ZmFrZS1zaWduYXR1cmU="},
                    },
                )
            )
            await conn.send(
                sse("content_block_stop", {"type": "content_block_stop", "index": index})
            )
            index += 1
        await conn.send(sse("ping", {"type": "ping"}))
        sent = 0
        if pieces or reply.fault in ("malformed_chunk", "reset", "stall"):
            await conn.send(
                sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            for i, piece in enumerate(pieces):
                if i:
                    await conn.sleep(reply.inter_chunk_delay)
                if await self._mid_stream_fault(reply, conn, sent):
                    return
                await conn.send(
                    sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
                )
                sent += 1
            if await self._mid_stream_fault(reply, conn, sent, final=True):
                return
            await conn.send(
                sse("content_block_stop", {"type": "content_block_stop", "index": index})
            )
            index += 1
        for tc in reply.tool_calls:
            await conn.send(
                sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": tc.id or f"toolu_fake{next(_ids)}",
                            "name": tc.name,
                            "input": {},
                        },
                    },
                )
            )
            for part in ["", *split_json(json.dumps(tc.arguments))]:
                await conn.sleep(reply.inter_chunk_delay)
                await conn.send(
                    sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": part},
                        },
                    )
                )
            await conn.send(
                sse("content_block_stop", {"type": "content_block_stop", "index": index})
            )
            index += 1
        stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
        await conn.send(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": completion},
                },
            )
        )
        await conn.send(sse("message_stop", {"type": "message_stop"}))
        await conn.end_stream()

    async def _mid_stream_fault(
        self, reply: FakeReply, conn: Conn, sent: int, final: bool = False
    ) -> bool:
        if reply.fault not in ("malformed_chunk", "reset", "stall", "error_event"):
            return False
        if sent < reply.fault_after and not final:
            return False
        if reply.fault == "malformed_chunk":
            await conn.send(
                'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"del\n\n'
            )
            await conn.sleep(0.05)
            await conn.end_stream()
        elif reply.fault == "error_event":  # the provider's own mid-stream error event
            await conn.send('event: error\ndata: {"type":"error","error":{"type":'
                            '"overloaded_error","message":"Overloaded"}}\n\n')
            await conn.end_stream()
        elif reply.fault == "reset":
            conn.reset()
        else:
            await conn.sleep(reply.stall_seconds)
            await conn.end_stream()
        return True


def main() -> None:
    args = benchmark_args("Fake Anthropic messages server")
    serve_forever(FakeAnthropicServer(args.host, args.port), args)


if __name__ == "__main__":
    main()
