"""Anthropic Messages API (streaming)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anthropic

from promptrails import outbound

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
    parse_retry_after,
    parse_tool_arguments,
    sdk_error_message,
    status_error,
)

DEFAULT_MAX_TOKENS = 1024
_TRANSIENT_STREAM_ERRORS = ("overloaded_error", "api_error", "rate_limit_error")


def _make_client(api_key: str | None, base_url: str | None,
                 checked: bool) -> anthropic.AsyncAnthropic:
    # api_key / base_url fall back to ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL in the SDK;
    # `checked`: a URL a workspace chose, every connection through the outbound policy.
    http_client = (outbound.async_client(anthropic.DefaultAsyncHttpxClient) if checked
                   else None)
    return anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0,
                                    http_client=http_client)


SDK = SdkErrors(name="anthropic", timeout=anthropic.APITimeoutError,
                connection=anthropic.APIConnectionError, status=anthropic.APIStatusError,
                api=anthropic.APIError, base=anthropic.AnthropicError)
_clients = ClientCache(_make_client, sdk=SDK, key_env="ANTHROPIC_API_KEY",
                       url_env="ANTHROPIC_BASE_URL")


def get_client(spec: ModelSpec) -> anthropic.AsyncAnthropic:
    client: anthropic.AsyncAnthropic = _clients.for_spec(spec)
    return client


def _status_error(exc: anthropic.APIStatusError) -> ProviderError:
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    kind = error.get("type") if isinstance(error, dict) else None
    # An ``error`` event inside a 200 stream (e.g. overloaded_error) is transient.
    if status == 200 and kind in _TRANSIENT_STREAM_ERRORS:
        return ProviderError(f"anthropic: {kind}: {sdk_error_message(exc)}", status_code=status,
                             retryable=True, retry_after=parse_retry_after(exc.response.headers))
    return status_error(exc, SDK)


def map_error(exc: BaseException) -> ProviderError:
    """Translate SDK / transport exceptions to :class:`ProviderError`."""
    return map_sdk_error(exc, SDK, _status_error)


def to_anthropic_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Map history to Anthropic content blocks.

    Tool results become ``tool_result`` blocks in a ``user`` message, assistant tool
    calls ``tool_use`` blocks; consecutive same-role messages are merged; system
    messages inside the history are sent as user text (the API has one system slot).
    """
    out: list[dict[str, Any]] = []
    for m in messages:
        blocks: list[dict[str, Any]]
        if m.role == "tool":
            role = "user"
            blocks = [
                {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
            ]
        elif m.role == "assistant":
            role = "assistant"
            blocks = [{"type": "text", "text": m.content}] if m.content else []
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in m.tool_calls
            ]
        else:
            role = "user"
            blocks = [{"type": "text", "text": m.content}] if m.content else []
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if out and out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continued)"}]})
    return out


def build_params(request: ModelRequest) -> dict[str, Any]:
    spec = request.model
    params: dict[str, Any] = {
        "model": spec.model_id,
        # In extra_body (merged into the JSON as is): as `messages` the SDK's TypedDict
        # transform walks each one on the event loop, a cost per message that grows with the
        # history (measured in bench/RESULTS.md, second round).
        "messages": [],
        "extra_body": {"messages": to_anthropic_messages(request.messages)},
        "max_tokens": request.max_tokens or spec.max_output_tokens or DEFAULT_MAX_TOKENS,
        "stream": True,
        "timeout": request.timeout,
    }
    if request.system:
        params["system"] = request.system
    if request.tools:
        params["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    return params


class _EventReader:
    """What one streamed message has said so far: its tool-use blocks being built, its
    usage, its stop reason. ``take`` turns each SDK event into at most one chunk."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.input_tokens = self.cache_read = self.cache_creation = self.output_tokens = 0
        self.stop_reason: str | None = None

    def take(self, event: Any) -> ProviderChunk | None:
        kind = event.type
        if kind == "content_block_delta":  # first: nearly every event is one
            return self._delta(event)
        if kind == "message_start":
            self._usage_start(event.message.usage)
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.blocks[event.index] = {"id": block.id, "name": block.name, "json": []}
        elif kind == "content_block_stop":
            slot = self.blocks.pop(event.index, None)
            if slot is not None:
                return ToolCall(id=slot["id"], name=slot["name"],
                                arguments=parse_tool_arguments("".join(slot["json"])))
        elif kind == "message_delta":
            if event.delta.stop_reason:
                self.stop_reason = event.delta.stop_reason
            if event.usage is not None:
                self._usage_delta(event.usage)
        return None

    def _delta(self, event: Any) -> ProviderChunk | None:
        delta = event.delta
        if delta.type == "text_delta":
            return TextDelta(delta.text) if delta.text else None
        if delta.type == "thinking_delta":
            return ThinkingDelta(delta.thinking) if delta.thinking else None
        if delta.type == "input_json_delta":
            slot = self.blocks.get(event.index)
            if slot is None:
                raise ProviderError("anthropic: input_json_delta outside tool_use")
            slot["json"].append(delta.partial_json or "")
        return None

    def _usage_start(self, u: Any) -> None:
        self.input_tokens = int(u.input_tokens or 0)
        self.cache_read = int(getattr(u, "cache_read_input_tokens", 0) or 0)
        self.cache_creation = int(getattr(u, "cache_creation_input_tokens", 0) or 0)
        self.output_tokens = int(u.output_tokens or 0)

    def _usage_delta(self, u: Any) -> None:
        if u.output_tokens is not None:
            self.output_tokens = int(u.output_tokens)
        if getattr(u, "input_tokens", None):
            self.input_tokens = int(u.input_tokens)
        if getattr(u, "cache_read_input_tokens", None):
            self.cache_read = int(u.cache_read_input_tokens)
        if getattr(u, "cache_creation_input_tokens", None):
            self.cache_creation = int(u.cache_creation_input_tokens)

    def usage(self) -> Usage:
        # Normalise to OpenAI semantics: prompt_tokens includes cache reads / writes.
        return Usage(
            prompt_tokens=self.input_tokens + self.cache_read + self.cache_creation,
            completion_tokens=self.output_tokens,
            cached_tokens=self.cache_read,
            cache_creation_tokens=self.cache_creation,
        )


class AnthropicProvider:
    name = "anthropic"

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ProviderChunk, None]:
        client = get_client(request.model)
        try:
            response = await client.messages.create(**build_params(request))
        except Exception as exc:
            raise map_error(exc) from exc
        reader = _EventReader()
        try:
            async for event in response:
                chunk = reader.take(event)
                if chunk is not None:
                    yield chunk
        except Exception as exc:
            raise map_error(exc) from exc
        finally:
            await response.close()
        yield reader.usage()
        yield Finish(reader.stop_reason or "end_turn")


async def check_credentials(spec: ModelSpec) -> tuple[bool, str | None]:
    try:
        client = get_client(spec)
        await client.with_options(timeout=15.0).models.list(limit=1)
    except Exception as exc:
        return False, check_failure(exc, SDK)
    return True, None
