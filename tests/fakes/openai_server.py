"""Fake OpenAI Chat Completions server (``POST /v1/chat/completions``, ``GET /v1/models``).

Streams exactly like the real API (see ``tests/fixtures/openai_chat_tool_call.sse``):
role chunk, ``reasoning_content`` chunks (vLLM/DeepSeek style) for thinking, content
chunks, ``tool_calls`` deltas with arguments split mid-token, a finish chunk, a usage
chunk with empty ``choices`` (when ``stream_options.include_usage``), ``data: [DONE]``.

Run standalone for benchmarks::

    python -m tests.fakes.openai_server --port 8101 --tokens 200 --ttft-ms 50 --itl-ms 5
"""

from __future__ import annotations

import itertools
import json
import time
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
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


class FakeOpenAIServer(FakeServer):
    name = "openai"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = {429: "rate_limit_error", 401: "invalid_request_error"}.get(status, "server_error")
        if 400 <= status < 500 and status not in (401, 429):
            kind = "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def check_auth(self, request: RecordedRequest) -> bool:
        if self.api_key is None:
            return True
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def route(self, request: RecordedRequest, conn: Conn) -> None:
        if not self.check_auth(request):
            await conn.send_json(401, self.error_body(401, "Incorrect API key provided"))
            return
        if request.method == "GET" and request.path == "/v1/models":
            await conn.send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                        for m in ("gpt-4o-mini", "gpt-4o")
                    ],
                },
            )
            return
        if request.method == "POST" and request.path == "/v1/chat/completions":
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

    # -- replies ----------------------------------------------------------------------

    def _usage(self, body: Any, reply: FakeReply, completion: int) -> dict[str, Any]:
        prompt = (
            reply.prompt_tokens if reply.prompt_tokens is not None else estimate_prompt_tokens(body)
        )
        completion = reply.completion_tokens if reply.completion_tokens is not None else completion
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        }

    async def _complete(self, body: Any, reply: FakeReply, conn: Conn) -> None:
        text = reply.text if reply.text is not None else f"You said: {last_user_text(body)}"
        if reply.fault == "empty":
            text = ""
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": tc.id or f"call_fake_{next(_ids)}",
                    "type": "function",
                    "function": {"name": tc.name, "arguments": json.dumps(tc.arguments)},
                }
                for tc in reply.tool_calls
            ]
        await conn.sleep(reply.first_token_delay)
        await conn.send_json(
            200,
            {
                "id": f"chatcmpl-fake{next(_ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": reply.model or body.get("model", "gpt-4o-mini"),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": reply.finish_reason
                        or ("tool_calls" if reply.tool_calls else "stop"),
                    }
                ],
                "usage": self._usage(body, reply, len(split_text(text))),
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

        base = {
            "id": f"chatcmpl-fake{next(_ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": reply.model or body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_fake",
        }

        def frame(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"

        fault = reply.fault
        pieces = [] if fault == "empty" else reply.text_pieces(f"You said: {last_user_text(body)}")
        if reply.tool_calls and reply.text is None:
            pieces = []  # a tool-call reply has no default text
        thinking = [] if fault == "empty" else split_text(reply.thinking)

        await conn.sleep(reply.first_token_delay)
        await conn.start_stream()
        await conn.send(frame({"role": "assistant", "content": "", "refusal": None}))
        sent = 0
        for piece in thinking:
            await conn.send(frame({"reasoning_content": piece}))
            await conn.sleep(reply.inter_chunk_delay)
        for i, piece in enumerate(pieces):
            if i:
                await conn.sleep(reply.inter_chunk_delay)
            if await self._mid_stream_fault(reply, conn, sent):
                return
            await conn.send(frame({"content": piece}))
            sent += 1
        if await self._mid_stream_fault(reply, conn, sent, final=True):
            return
        for index, tc in enumerate(reply.tool_calls):
            start = {
                "index": index,
                "id": tc.id or f"call_fake_{next(_ids)}",
                "type": "function",
                "function": {"name": tc.name, "arguments": ""},
            }
            await conn.send(frame({"role": "assistant", "content": None, "tool_calls": [start]}))
            for part in split_json(json.dumps(tc.arguments)):
                await conn.sleep(reply.inter_chunk_delay)
                await conn.send(
                    frame({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
                )
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        await conn.send(frame({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            completion = len(pieces) + len(thinking) + 10 * len(reply.tool_calls)
            usage_chunk: dict[str, Any] = {**base, "choices": [],
                                           "usage": self._usage(body, reply, completion)}
            await conn.send(f"data: {json.dumps(usage_chunk)}\n\n")
        await conn.send("data: [DONE]\n\n")
        await conn.end_stream()

    async def _mid_stream_fault(
        self, reply: FakeReply, conn: Conn, sent: int, final: bool = False
    ) -> bool:
        """Play malformed_chunk / reset / stall once ``fault_after`` chunks were sent."""
        if reply.fault not in ("malformed_chunk", "reset", "stall", "error_event"):
            return False
        if sent < reply.fault_after and not final:
            return False
        if reply.fault == "malformed_chunk":
            await conn.send('data: {"id":"chatcmpl-broken","choices":[{"index":0,"delta":{"con\n\n')
            await conn.sleep(0.05)
            await conn.end_stream()
        elif reply.fault == "error_event":  # the provider's own mid-stream error event
            await conn.send('data: {"error":{"message":"The server had an error while '
                            'processing your request.","type":"server_error","param":null,'
                            '"code":null}}\n\n')
            await conn.end_stream()
        elif reply.fault == "reset":
            conn.reset()
        else:
            await conn.sleep(reply.stall_seconds)
            await conn.end_stream()
        return True


def main() -> None:
    args = benchmark_args("Fake OpenAI chat completions server")
    serve_forever(FakeOpenAIServer(args.host, args.port), args)


if __name__ == "__main__":
    main()
