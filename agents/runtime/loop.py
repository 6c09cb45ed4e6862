"""The agent loop: stream a model, run its tools, repeat, with retries/fallback.

Behaviour (see also the tests in ``tests/runtime/test_loop.py``):

* Text deltas are emitted live as :class:`ContentEvent`; thinking deltas as
  :class:`ThinkingEvent`. Text of a round that ends in tool calls stays part of the
  answer; later text is separated from it by a blank line (emitted as its own
  ``ContentEvent("\\n\\n")``), so ``RunResult.content`` / ``state.content`` always equal
  the concatenation of every ``ContentEvent``.
* Tool budget: when a round requests tool calls that would exceed
  ``budget.max_tool_calls`` in total, none of them run and the run ends
  ``failed`` with ``"tool call budget exhausted ..."`` (partial content kept,
  ``incomplete=True``). ``max_tool_calls <= 0`` means tools are not offered at all.
* Token / cost budgets are checked after each round that wants to continue with tool
  calls: exceeding ``max_total_tokens`` → ``"token budget exhausted ..."``, exceeding
  ``max_cost`` → ``"cost budget exhausted ..."`` (failed, partial kept, incomplete).
  A final answer is never thrown away because of a budget.
* Failures before the first chunk of a call (``ProviderError``, or no chunk for
  ``run.timeout`` seconds — at most 1.5 × that, see :class:`_IdleTimeout`) are retried
  ``max_retries`` times when retryable, with exponential backoff from
  ``retry_base_delay`` (``retry_after`` honoured, capped at 10 s); then the fallback
  model is tried the same way, and once a fallback succeeded it is used for the rest of
  the run. A failure after the first chunk is not retried:
  ``failed``, partial content, ``incomplete=True``.
* A round with no text and no tool calls ends the run ``failed``
  (``"model returned an empty response"``).
* ``asyncio.CancelledError``: the provider stream is closed and the error re-raised;
  ``state`` holds the progress so far.
* Everything a provider or a tool produced is made storable on its way in
  (:func:`_storable_chunk`, :meth:`_Runner._execute`, errors in ``_result``/``_record``):
  NUL characters dropped, unpaired surrogates replaced by U+FFFD (PostgreSQL stores
  neither); tool arguments with NaN/Infinity or nested deeper than
  ``MAX_ARGUMENT_DEPTH`` are invalid arguments (the tool does not run).
* Tools come from the run's registry (:func:`tools.build_registry`): built-in names and
  :class:`tools.Tool` objects (an MCP server's tools) alike; the loop knows no transport.
  Each call has the tool's own ``timeout`` (else ``TOOL_TIMEOUT``); a tool that fails,
  times out or raises is an error result the model sees, never a failed run. A result
  longer than ``TOOL_RESULT_MAX_CHARS`` is cut there with a note saying so.
* A call to a tool in ``run.approval_required`` is not run: the run returns status
  ``parked`` with :class:`Parked` (the messages so far, the calls not run yet; calls of
  the round before it have run). ``run.resume`` continues such a run: the first pending
  call is run (approved) or answered ``"denied by a reviewer: <reason>"``, then the rest
  (the next gated one parks again), then the loop goes on with the state it had.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from promptrails.storable import (
    has_non_finite,
    nests_deeper_than,
    storable_text,
    storable_value,
)

from .pricing import cost_for
from .providers import get_provider
from .providers.base import Provider
from .tools import BUILTIN_TOOLS, Tool, ToolError, build_registry
from .types import (
    INVALID_ARGUMENTS_KEY,
    AgentRun,
    ContentEvent,
    Finish,
    LlmCall,
    Message,
    ModelRequest,
    ModelSpec,
    Parked,
    ProviderChunk,
    ProviderError,
    Resume,
    RunEvent,
    RunResult,
    RunState,
    TextDelta,
    ThinkingDelta,
    ThinkingEvent,
    ToolCall,
    ToolEndEvent,
    ToolRun,
    ToolStartEvent,
    Usage,
)

Emit = Callable[[RunEvent], Awaitable[None]]

MAX_RETRY_DELAY = 10.0
TOOL_TIMEOUT = 30.0
TOOL_RESULT_MAX_CHARS = 20_000  # what a tool result may put in front of the model
SEPARATOR = "\n\n"

ERR_TOOL_BUDGET = "tool call budget exhausted"
ERR_TOKEN_BUDGET = "token budget exhausted"  # noqa: S105
ERR_COST_BUDGET = "cost budget exhausted"
ERR_EMPTY = "model returned an empty response"
DENIED = "denied by a reviewer"
MAX_ARGUMENT_DEPTH = 32


@dataclass
class _Round:
    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    error: str | None = None
    incomplete: bool = False
    candidate_index: int = 0


@dataclass
class _Call:
    """One logical call of one candidate model: its tries fold into one LlmCall."""

    spec: ModelSpec
    index: int
    fallback: bool
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.monotonic)
    attempts: int = 0


@dataclass
class _Attempt:
    """One try of a call: what its stream gave so far."""

    round: _Round
    t0: float = field(default_factory=time.monotonic)
    usage: Usage = field(default_factory=Usage)
    finish: str | None = None
    ttft: float | None = None
    started: bool = False


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


class _IdleTimeout:
    """The model may stay silent ``limit`` seconds before a chunk (at most 1.5 × that).

    One :class:`asyncio.Timeout` for a whole stream, moved forward only when less than
    ``limit`` is left: a timer per chunk (``asyncio.timeout`` around each ``anext``) was
    ~10 % of the server's CPU at 100 streams (bench/RESULTS.md).
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._timeout = asyncio.timeout(limit)
        self._loop = asyncio.get_running_loop()

    async def __aenter__(self) -> _IdleTimeout:
        await self._timeout.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._timeout.__aexit__(*exc)
        except TimeoutError:
            raise ProviderError(
                f"timed out after {self.limit:g}s waiting for the model", retryable=True
            ) from None

    def touch(self) -> None:
        """A chunk arrived: the next one has ``limit`` seconds again (or a little more)."""
        now = self._loop.time()
        when = self._timeout.when()
        if when is not None and when - now < self.limit:
            self._timeout.reschedule(now + self.limit * 1.5)


def _storable_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    if nests_deeper_than(arguments, MAX_ARGUMENT_DEPTH):
        return {INVALID_ARGUMENTS_KEY: f"(nested more than {MAX_ARGUMENT_DEPTH} levels deep)"}
    if has_non_finite(arguments):  # JSON has no NaN or Infinity
        return {INVALID_ARGUMENTS_KEY: storable_text(json.dumps(arguments, ensure_ascii=False))}
    return storable_value(arguments)  # type: ignore[no-any-return]


def _capped(text: str, limit: int = TOOL_RESULT_MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    return (f"{text[:limit]}\n[truncated: the result was {len(text)} characters; only the "
            f"first {limit} are shown]")


def _storable_chunk(chunk: ProviderChunk) -> ProviderChunk:
    """The chunk with its text made storable (the same object when it already is)."""
    if isinstance(chunk, TextDelta | ThinkingDelta):
        text = storable_text(chunk.text)
        return chunk if text is chunk.text else type(chunk)(text=text)
    if isinstance(chunk, ToolCall):
        call = ToolCall(id=storable_text(chunk.id), name=storable_text(chunk.name),
                        arguments=_storable_arguments(chunk.arguments))
        return chunk if call == chunk else call
    if isinstance(chunk, Finish):
        reason = storable_text(chunk.reason)
        return chunk if reason is chunk.reason else Finish(reason=reason)
    return chunk


def _tool_output(result: Any, error: str | None) -> tuple[str, str | None]:
    """A tool's result and error as the model and the log get them: text, storable, cut."""
    if not isinstance(result, str):
        result, error = "", f"tool returned {type(result).__name__}, not text"
    result = storable_text(_capped(result))
    if error is not None:
        error = _capped(storable_text(error), 2000)
    return result, error


def _summary(call: ToolCall, tool: Tool | None, result: str, error: str | None,
             denied: str | None) -> str:
    """The short line a client shows for a finished call (``tool_end.summary``)."""
    if denied is not None:
        return f"{call.name}: {denied}"
    if error is None and tool is not None:
        try:
            return tool.summarize(call.arguments, result)
        except Exception:
            return f"{call.name}: {result[:80]}"
    return f"{call.name} failed: {error}"


async def _next_chunk(
    agen: AsyncGenerator[ProviderChunk, None], idle: _IdleTimeout
) -> ProviderChunk | None:
    """Next chunk (made storable), ``None`` at the end; every failure becomes a
    :class:`ProviderError`."""
    try:
        chunk = await anext(agen)
    except StopAsyncIteration:
        return None
    except ProviderError:
        raise
    except Exception as exc:  # a provider bug must not escape as a random exception
        raise ProviderError(f"provider error: {type(exc).__name__}: {exc}") from exc
    idle.touch()
    return _storable_chunk(chunk)


class _Runner:
    def __init__(self, run: AgentRun, emit: Emit, state: RunState) -> None:
        self.run = run
        self.emit = emit
        self.state = state
        self.tools: dict[str, Tool] = {}
        if run.budget.max_tool_calls > 0:
            self.tools = build_registry(run.tools, BUILTIN_TOOLS)
        self.candidates: list[tuple[ModelSpec, bool]] = [(run.model, False)]
        if run.fallback is not None:
            self.candidates.append((run.fallback, True))
        self.messages: list[Message] = [
            *run.history,
            Message(role="user", content=run.user_message),
        ]
        self.tool_calls_used = 0
        if run.resume is not None:
            resume = run.resume
            self.messages = list(resume.parked.messages)
            self.tool_calls_used = resume.parked.tool_calls_used
            self.state.content = resume.content
            self.state.usage = resume.usage
            self.state.cost = resume.cost
            self.state.model_id = resume.model_id
            self.state.tool_calls = list(resume.tool_calls)
            self.state.tool_runs = list(resume.tool_runs)
            self.state.llm_calls = list(resume.llm_calls)

    # -- helpers -----------------------------------------------------------------

    async def _content(self, text: str) -> None:
        if self.state.first_token_at is None:
            self.state.first_token_at = time.time()
        self.state.content += text
        await self.emit(ContentEvent(content=text))

    def _result(self, status: str, error: str | None = None, incomplete: bool = False) -> RunResult:
        return self.state.result(status, storable_text(error) if error is not None else None,
                                 incomplete)

    def _request(self, spec: ModelSpec) -> ModelRequest:
        tools = tuple(t.spec() for t in self.tools.values()) if spec.supports_tools else ()
        return ModelRequest(
            model=spec,
            system=self.run.system,
            messages=tuple(self.messages),
            tools=tools,
            temperature=self.run.temperature,
            top_p=self.run.top_p,
            max_tokens=self.run.max_tokens,
            timeout=self.run.timeout,
        )

    def _record(self, call: _Call, attempt: _Attempt, error: str | None) -> None:
        """The call's trace record (its tries folded in); its usage and cost count."""
        spec = call.spec
        cost = cost_for(attempt.usage, spec)
        self.state.llm_calls.append(
            LlmCall(
                provider=spec.provider,
                model_id=spec.model_id,
                usage=attempt.usage,
                cost=cost,
                ttft_ms=_ms(attempt.ttft) if attempt.ttft is not None else None,
                duration_ms=_ms(time.monotonic() - call.t0),
                finish_reason=attempt.finish,
                attempts=call.attempts,
                fallback=call.fallback,
                error=storable_text(error) if error is not None else None,
                started_at=call.started_at,
            )
        )
        self.state.usage = self.state.usage + attempt.usage
        self.state.cost = round(self.state.cost + cost, 8)

    # -- one model call (with retries and fallback) --------------------------------

    async def _call_model(self, separate: bool) -> _Round:
        """One round: the candidates in order (the primary, then the fallback) until one
        answers; ``separate``: text of this round follows earlier text after a blank line."""
        errors: list[str] = []
        for index, (spec, is_fallback) in enumerate(self.candidates):
            call = _Call(spec=spec, index=index, fallback=is_fallback)
            try:
                provider = get_provider(spec.provider)
            except ValueError as exc:
                errors.append(f"{spec.model_id}: {exc}")
                continue
            rnd = await self._call_with_retries(provider, call, separate)
            if isinstance(rnd, str):
                errors.append(rnd)
                continue
            if index and rnd.error is None:
                # The primary is down: stick with the fallback for the rest of the run.
                self.candidates = self.candidates[index:]
            return rnd
        return _Round(error="; ".join(errors) or "no model available")

    async def _call_with_retries(self, provider: Provider, call: _Call,
                                 separate: bool) -> _Round | str:
        """Call one model, retrying a failure before its first chunk when it may pass: the
        round (with an error when the stream broke), or why this model failed."""
        request = self._request(call.spec)
        while True:
            call.attempts += 1
            attempt = _Attempt(round=_Round(candidate_index=call.index))
            try:
                await self._stream(provider, request, attempt, separate)
            except ProviderError as exc:
                if attempt.started:
                    # Mid-stream: content already reached the client, never retry.
                    self._record(call, attempt, exc.message)
                    attempt.round.error = f"model stream failed: {exc.message}"
                    attempt.round.incomplete = True
                    return attempt.round
                if exc.retryable and call.attempts <= self.run.max_retries:
                    await asyncio.sleep(self._retry_delay(call.attempts, exc))
                    continue
                self._record(call, attempt, exc.message)  # nothing came: no usage, no ttft
                label = "fallback" if call.fallback else "model"
                return (f"{label} {call.spec.model_id} failed after {call.attempts} "
                        f"attempt(s): {exc.message}")
            self._record(call, attempt, None)
            return attempt.round

    def _retry_delay(self, attempts: int, exc: ProviderError) -> float:
        delay = self.run.retry_base_delay * (2 ** (attempts - 1))
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return min(delay, MAX_RETRY_DELAY)

    async def _stream(self, provider: Provider, request: ModelRequest, attempt: _Attempt,
                      separate: bool) -> None:
        """One try: the provider's chunks into ``attempt`` (text and thinking emitted live)."""
        async with aclosing(provider.stream(request)) as agen, \
                _IdleTimeout(self.run.timeout) as idle:
            while (chunk := await _next_chunk(agen, idle)) is not None:
                if not attempt.started:
                    attempt.started = True
                    attempt.ttft = time.monotonic() - attempt.t0
                    self.state.model_id = request.model.model_id
                await self._take(chunk, attempt, separate)

    async def _take(self, chunk: ProviderChunk, attempt: _Attempt, separate: bool) -> None:
        if isinstance(chunk, TextDelta):
            await self._text(chunk.text, attempt.round, separate)
        elif isinstance(chunk, ThinkingDelta):
            if self.state.first_token_at is None:
                self.state.first_token_at = time.time()
            await self.emit(ThinkingEvent(content=chunk.text))
        elif isinstance(chunk, ToolCall):
            attempt.round.calls.append(chunk)
            self.state.tool_calls.append(chunk)
        elif isinstance(chunk, Usage):
            attempt.usage = attempt.usage + chunk
        elif isinstance(chunk, Finish):
            attempt.finish = chunk.reason

    async def _text(self, text: str, rnd: _Round, separate: bool) -> None:
        if not text:
            return
        if separate and not rnd.text and self.state.content \
                and not self.state.content.endswith(SEPARATOR):
            await self._content(SEPARATOR)
        rnd.text += text
        await self._content(text)

    # -- tools ------------------------------------------------------------------------

    async def _run_tool(self, call: ToolCall) -> tuple[str, str | None]:
        tool = self.tools.get(call.name)
        if tool is None:
            return "", f"unknown tool: {call.name!r}"
        if INVALID_ARGUMENTS_KEY in call.arguments:
            raw = call.arguments[INVALID_ARGUMENTS_KEY]
            return "", f"arguments are not a valid JSON object: {raw!r}"
        limit = tool.timeout or TOOL_TIMEOUT
        try:
            return await asyncio.wait_for(tool.run(dict(call.arguments)), limit), None
        except ToolError as exc:
            return "", str(exc)
        except TimeoutError:
            return "", f"tool timed out after {limit:g}s"
        except Exception as exc:
            return "", f"{type(exc).__name__}: {exc}"

    async def _execute(self, call: ToolCall, denied: str | None = None) -> Message:
        """Run one call (or answer it with ``denied``): events, trace record, tool message."""
        await self.emit(ToolStartEvent(id=call.id, name=call.name, arguments=call.arguments))
        started_at = time.time()
        t0 = time.monotonic()
        if denied is not None:  # a reviewer said no: the model learns why, nothing runs
            raw, error = denied, None
        else:
            raw, error = await self._run_tool(call)
        result, error = _tool_output(raw, error)
        duration = _ms(time.monotonic() - t0)
        tool = self.tools.get(call.name)
        summary = storable_text(_summary(call, tool, result, error, denied))
        self.state.tool_runs.append(
            ToolRun(
                id=call.id,
                name=call.name,
                arguments=call.arguments,
                result=result,
                error=error,
                duration_ms=duration,
                started_at=started_at,
                kind=tool.kind if tool is not None else "unknown",
                attributes=dict(tool.attributes) if tool is not None else {},
            )
        )
        await self.emit(ToolEndEvent(id=call.id, name=call.name, summary=summary,
                                     result=result, error=error, duration_ms=duration))
        content = result if error is None else f"Error: {error}"
        return Message(role="tool", content=content, tool_call_id=call.id, name=call.name)

    # -- main loop -------------------------------------------------------------------

    def _budget_error(self, calls: list[ToolCall]) -> str | None:
        budget = self.run.budget
        used = self.state.usage.total_tokens
        if budget.max_total_tokens is not None and used > budget.max_total_tokens:
            return (
                f"{ERR_TOKEN_BUDGET}: used {self.state.usage.total_tokens} tokens "
                f"(limit {budget.max_total_tokens})"
            )
        if budget.max_cost is not None and self.state.cost > budget.max_cost:
            return f"{ERR_COST_BUDGET}: spent ${self.state.cost:.6f} (limit ${budget.max_cost:.6f})"
        if self.tool_calls_used + len(calls) > budget.max_tool_calls:
            return (
                f"{ERR_TOOL_BUDGET}: the model requested more than {budget.max_tool_calls} "
                "tool call(s)"
            )
        return None

    def _parked(self, pending: list[ToolCall]) -> RunResult:
        parked = Parked(messages=tuple(self.messages), pending=tuple(pending),
                        tool_calls_used=self.tool_calls_used)
        return replace(self._result("parked"), parked=parked)

    async def _execute_all(self, calls: list[ToolCall]) -> RunResult | None:
        """Run the calls in order; parked at the first that needs approval."""
        for index, call in enumerate(calls):
            if call.name in self.run.approval_required and call.name in self.tools \
                    and INVALID_ARGUMENTS_KEY not in call.arguments:
                return self._parked(calls[index:])
            self.messages.append(await self._execute(call))
        return None

    async def _resume(self, resume: Resume) -> RunResult | None:
        first, *rest = resume.parked.pending
        denied = None if resume.approved else (
            f"{DENIED}: {resume.reason}" if resume.reason else DENIED)
        self.messages.append(await self._execute(first, denied=denied))
        return await self._execute_all(rest)

    async def run_loop(self) -> RunResult:
        separate = False
        if self.run.resume is None:
            self.state.model_id = self.run.model.model_id
        else:
            parked = await self._resume(self.run.resume)
            if parked is not None:
                return parked
            separate = True
        while True:
            rnd = await self._call_model(separate)
            if rnd.error is not None:
                return self._result("failed", rnd.error, rnd.incomplete)
            if not rnd.calls:
                if not rnd.text:
                    return self._result("failed", ERR_EMPTY, False)
                return self._result("completed")
            budget_error = self._budget_error(rnd.calls)
            if budget_error is not None:
                return self._result("failed", budget_error, True)
            self.tool_calls_used += len(rnd.calls)
            self.messages.append(
                Message(role="assistant", content=rnd.text, tool_calls=tuple(rnd.calls))
            )
            parked = await self._execute_all(list(rnd.calls))
            if parked is not None:
                return parked
            separate = True


async def run_agent(
    run: AgentRun,
    emit: Callable[[RunEvent], Awaitable[None]],
    state: RunState | None = None,
) -> RunResult:
    """Run one agent turn, streaming events through ``emit``.

    ``state`` (if given) is updated continuously so a cancelled caller can read the
    partial content, usage and traces. Cancellation closes the provider stream and
    re-raises ``asyncio.CancelledError``.
    """
    runner = _Runner(run, emit, state if state is not None else RunState())
    return await runner.run_loop()

