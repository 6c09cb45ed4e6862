"""OpenAI (and OpenAI-compatible: vLLM, Ollama, DeepSeek, ...) chat completions."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import openai

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
from .base import ClientCache, is_retryable_status, parse_retry_after, parse_tool_arguments


def _make_client(api_key: str | None, base_url: str | None) -> openai.AsyncOpenAI:
    # api_key / base_url fall back to OPENAI_API_KEY / OPENAI_BASE_URL inside the SDK.
    return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)


_clients = ClientCache(_make_client)


def get_client(spec: ModelSpec) -> openai.AsyncOpenAI:
    try:
        # Resolve env fallbacks here so the cache key reflects them.
        api_key = spec.api_key or os.environ.get("OPENAI_API_KEY")
        base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL") or None
        client: openai.AsyncOpenAI = _clients.get(api_key, base_url)
    except openai.OpenAIError as exc:  # e.g. no API key configured
        raise ProviderError(f"openai: {exc}", retryable=False) from None
    return client


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(exc.message)


def map_error(exc: BaseException) -> ProviderError:
    """Translate SDK / transport exceptions to :class:`ProviderError`."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return ProviderError("openai: request timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        detail = str(exc) or type(exc).__name__
        return ProviderError(f"openai: connection error: {detail}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return ProviderError(
            f"openai: HTTP {status}: {_status_message(exc)}",
            status_code=status,
            retryable=is_retryable_status(status),
            retry_after=parse_retry_after(exc.response.headers),
        )
    if isinstance(exc, openai.APIError):  # error event inside the stream
        return ProviderError(f"openai: {exc.message}", retryable=True)
    if isinstance(exc, openai.OpenAIError):
        return ProviderError(f"openai: {exc}", retryable=False)
    if isinstance(exc, ValueError | TypeError | AttributeError | KeyError | IndexError):
        return ProviderError(f"openai: malformed response chunk: {exc}", retryable=True)
    return ProviderError(f"openai: unexpected error: {type(exc).__name__}: {exc}")


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
        "messages": to_openai_messages(request.system, request.messages),
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


def _extra(obj: Any, name: str) -> Any:
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


def _usage_from(raw: Any) -> Usage:
    prompt_details = getattr(raw, "prompt_tokens_details", None)
    completion_details = getattr(raw, "completion_tokens_details", None)
    return Usage(
        prompt_tokens=int(raw.prompt_tokens or 0),
        completion_tokens=int(raw.completion_tokens or 0),
        cached_tokens=int(getattr(prompt_details, "cached_tokens", 0) or 0),
        reasoning_tokens=int(getattr(completion_details, "reasoning_tokens", 0) or 0),
    )


class OpenAIProvider:
    name = "openai"

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ProviderChunk, None]:
        client = get_client(request.model)
        try:
            response = await client.chat.completions.create(**build_params(request))
        except Exception as exc:
            raise map_error(exc) from exc
        calls: dict[int, dict[str, Any]] = {}
        finish: str | None = None
        usage: Usage | None = None
        try:
            async for chunk in response:
                if chunk.usage is not None:
                    usage = _usage_from(chunk.usage)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None:
                        thinking = _extra(delta, "reasoning_content") or _extra(delta, "reasoning")
                        if isinstance(thinking, str) and thinking:
                            yield ThinkingDelta(thinking)
                        if delta.content:
                            yield TextDelta(delta.content)
                        for tc in delta.tool_calls or ():
                            slot = calls.setdefault(
                                tc.index if tc.index is not None else len(calls),
                                {"id": None, "name": "", "args": []},
                            )
                            if tc.id:
                                slot["id"] = tc.id
                            fn = tc.function
                            if fn is not None:
                                if fn.name:
                                    slot["name"] += fn.name
                                if fn.arguments:
                                    slot["args"].append(fn.arguments)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except Exception as exc:
            raise map_error(exc) from exc
        finally:
            await response.close()
        for index in sorted(calls):
            slot = calls[index]
            if not slot["name"]:
                raise ProviderError("openai: malformed tool call (no function name)")
            yield ToolCall(
                id=slot["id"] or f"call_{index}",
                name=slot["name"],
                arguments=parse_tool_arguments("".join(slot["args"])),
            )
        if usage is not None:
            yield usage
        yield Finish(finish or ("tool_calls" if calls else "stop"))


async def check_credentials(spec: ModelSpec) -> tuple[bool, str | None]:
    try:
        client = get_client(spec)
        await client.with_options(timeout=15.0).models.list()
    except ProviderError as exc:
        return False, exc.message
    except Exception as exc:
        return False, map_error(exc).message
    return True, None
