"""OpenAI (and OpenAI-compatible: vLLM, Ollama, DeepSeek, ...) chat completions."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

import openai

from promptrails import outbound_aiohttp

from ..types import (
    Finish,
    Message,
    ModelRequest,
    ModelSpec,
    ProviderChunk,
    ProviderError,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    Usage,
)
from .base import (
    ClientCache,
    SdkErrors,
    check_failure,
    map_sdk_error,
    parse_tool_arguments,
    short,
)

DRAIN_SECONDS = 1.0


def _make_client(api_key: str | None, base_url: str | None,
                 checked: bool) -> openai.AsyncOpenAI:
    # api_key / base_url fall back to OPENAI_API_KEY / OPENAI_BASE_URL inside the SDK;
    # `checked`: a URL a workspace chose, every connection through the outbound policy.
    # HTTP over aiohttp either way (promptrails/outbound_aiohttp.py: its per-chunk cost).
    http_client = outbound_aiohttp.async_client(openai.DefaultAsyncHttpxClient,
                                                checked=checked)
    return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0,
                              http_client=http_client)


SDK = SdkErrors(name="openai", timeout=openai.APITimeoutError,
                connection=openai.APIConnectionError, status=openai.APIStatusError,
                api=openai.APIError, base=openai.OpenAIError)
_clients = ClientCache(_make_client, sdk=SDK, key_env="OPENAI_API_KEY",
                       url_env="OPENAI_BASE_URL")


def get_client(spec: ModelSpec) -> openai.AsyncOpenAI:
    client: openai.AsyncOpenAI = _clients.for_spec(spec)
    return client


def map_error(exc: BaseException) -> ProviderError:
    """Translate SDK / transport exceptions to :class:`ProviderError`."""
    return map_sdk_error(exc, SDK)


def to_openai_messages(system: str, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": system})
    for m in messages:
        if m.role == "assistant":
            item: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {
                            "name": c.name,
                            "arguments": json.dumps(c.arguments, ensure_ascii=False),
                        },
                    }
                    for c in m.tool_calls
                ]
            elif not m.content:
                item["content"] = ""
            out.append(item)
        elif m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def build_params(request: ModelRequest) -> dict[str, Any]:
    spec = request.model
    params: dict[str, Any] = {
        "model": spec.model_id,
        # The messages travel in extra_body (merged into the JSON body as they are): passed
        # as `messages`, the SDK walks every one through its TypedDict transform on the
        # event loop, a cost per message that grows with the history (measured in
        # bench/RESULTS.md, second round). They are plain JSON.
        "messages": [],
        "extra_body": {"messages": to_openai_messages(request.system, request.messages)},
        "stream": True,
        "stream_options": {"include_usage": True},
        "timeout": request.timeout,
    }
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.max_tokens is not None:
        # api.openai.com deprecated max_tokens (o-series reject it); compatible servers
        # (vLLM, Ollama, ...) reliably understand max_tokens.
        key = "max_tokens" if spec.base_url else "max_completion_tokens"
        params[key] = request.max_tokens
    return params


def _usage_from(raw: dict[str, Any]) -> Usage:
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
    )


def _data_field(line: bytes) -> bytes | None:
    """The value of a ``data:`` line (one optional space after the colon); None otherwise."""
    if not line.startswith(b"data:"):
        return None
    return line[6:] if line.startswith(b"data: ") else line[5:]


async def sse_data(chunks: AsyncIterator[bytes]) -> AsyncGenerator[str, None]:
    """The data of each Server-Sent Event (multi-line data joined; comments and other
    fields skipped), up to the end of the stream, from the body's bytes as they arrive.

    Lines are split here rather than by httpx's text and line iterators: a token that
    arrives alone passes through two generators instead of five (bench/RESULTS.md)."""
    data: list[bytes] = []
    rest = b""
    async for chunk in chunks:
        rest += chunk
        if rest.endswith(b"\r"):  # its "\n" may be in the next chunk: one line end
            continue
        lines = rest.splitlines(keepends=True)
        # an unfinished last line waits for the next chunk
        rest = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                if data:
                    yield b"\n".join(data).decode()
                    data = []
            elif (value := _data_field(line)) is not None:
                data.append(value)
    if (value := _data_field(rest.rstrip(b"\r\n"))) is not None:
        data.append(value)
    if data:
        yield b"\n".join(data).decode()


async def _drain(events: AsyncIterator[str]) -> None:
    """Read what follows `[DONE]` (normally only the end of the chunked body), so that the
    connection goes back to the client's pool instead of being closed unread; a server that
    keeps the body open gets a second, then the connection is dropped."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in events:
                pass


def _chunk(payload: str) -> dict[str, Any]:
    chunk = json.loads(payload)
    if not isinstance(chunk, dict):
        raise ValueError(f"expected a JSON object, got {type(chunk).__name__}")
    error = chunk.get("error")
    if error:  # an error event inside the stream
        message = error.get("message") if isinstance(error, dict) else None
        raise ProviderError(f"openai: {short(message or error)}", retryable=True)
    return chunk


def _collect_tool_call(calls: dict[int, dict[str, Any]], tc: dict[str, Any]) -> None:
    """Add one streamed tool-call fragment to the call it belongs to (by index)."""
    index = tc.get("index")
    slot = calls.setdefault(index if isinstance(index, int) else len(calls),
                            {"id": None, "name": "", "args": []})
    if tc.get("id"):
        slot["id"] = tc["id"]
    fn = tc.get("function") or {}
    if fn.get("name"):
        slot["name"] += fn["name"]
    if fn.get("arguments"):
        slot["args"].append(fn["arguments"])


class _ChunkReader:
    """What one streamed completion has said so far: its tool calls being built (by
    index), its finish reason, its usage. ``take`` gives a chunk's text and thinking."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.usage: Usage | None = None

    def take(self, chunk: dict[str, Any]) -> list[ProviderChunk]:
        if chunk.get("usage"):
            self.usage = _usage_from(chunk["usage"])
        out: list[ProviderChunk] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta:
                self._delta(delta, out)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def _delta(self, delta: dict[str, Any], out: list[ProviderChunk]) -> None:
        thinking = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(thinking, str) and thinking:
            out.append(ThinkingDelta(thinking))
        content = delta.get("content")
        if content:
            out.append(TextDelta(content))
        for tc in delta.get("tool_calls") or ():
            _collect_tool_call(self.calls, tc)

    def ending(self) -> Iterator[ProviderChunk]:
        """The tool calls (now whole, in order: one without a name fails the stream
        there), the usage and the finish."""
        for index in sorted(self.calls):
            slot = self.calls[index]
            if not slot["name"]:
                raise ProviderError("openai: malformed tool call (no function name)")
            yield ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"],
                           arguments=parse_tool_arguments("".join(slot["args"])))
        if self.usage is not None:
            yield self.usage
        yield Finish(self.finish or ("tool_calls" if self.calls else "stop"))


class OpenAIProvider:
    name = "openai"

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ProviderChunk, None]:
        # The request goes through the official client (auth, base URL, headers, HTTP
        # errors as SDK exceptions); its streamed body is read as raw Server-Sent Events
        # and each chunk decoded with json.loads, because the SDK's typed chunks cost a
        # large share of the event loop's time per token under load (bench/RESULTS.md).
        # Depth 5 on purpose: another generator layer to flatten it would cost per token.
        client = get_client(request.model)
        reader = _ChunkReader()
        try:
            async with client.chat.completions.with_streaming_response.create(
                **build_params(request)
            ) as response:
                events = sse_data(response.http_response.aiter_bytes())
                async for payload in events:
                    if payload.startswith("[DONE]"):
                        await _drain(events)
                        break
                    for item in reader.take(_chunk(payload)):
                        yield item
        except Exception as exc:
            raise map_error(exc) from exc
        for item in reader.ending():
            yield item


async def check_credentials(spec: ModelSpec) -> tuple[bool, str | None]:
    try:
        client = get_client(spec)
        await client.with_options(timeout=15.0).models.list()
    except Exception as exc:
        return False, check_failure(exc, SDK)
    return True, None
