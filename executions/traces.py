"""Traces: the spans of a turn, built from how the run ended and written in one batch.

A turn's trace (under the execution's ``trace_id``) is a root ``agent`` span for the turn,
a child ``llm`` span per model call (retries folded in, one per model tried) and a child
``tool`` span per tool call. The runner calls :func:`spans_record` inside its finishing
transaction — for completed, failed and cancelled turns alike — so the spans are one
``bulk_create`` per turn, never a write per token. When OpenTelemetry export is configured
the same spans are handed to the exporter after the transaction commits (a background
thread sends them; the turn never waits for the collector).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.runtime.tools import BUILTIN_TOOLS
from agents.runtime.types import LlmCall, ToolRun
from executions.models import Execution, Span, SpanKind, SpanStatus
from executions.types import RunResult

logger = logging.getLogger("promptrails.traces")

SUMMARY_CHARS = 500  # a tool result is stored as a summary plus its first characters
ARGUMENT_CHARS = 4000  # arguments beyond this are stored truncated (as a string)
INPUT_CHARS = 4000


def new_span_id() -> str:
    return secrets.token_hex(8)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _tool_summary(run: ToolRun) -> str:
    if run.error is not None:
        return f"{run.name} failed: {run.error}"
    tool = BUILTIN_TOOLS.get(run.name)
    if tool is not None:
        try:
            return _clip(tool.summarize(run.arguments, run.result), SUMMARY_CHARS)
        except Exception:  # noqa: S110 - a summary is best effort
            pass
    return _clip(f"{run.name}: {run.result}", SUMMARY_CHARS)


def _arguments(arguments: dict[str, Any]) -> Any:
    import json

    text = json.dumps(arguments, ensure_ascii=False, default=str)
    return arguments if len(text) <= ARGUMENT_CHARS else _clip(text, ARGUMENT_CHARS)


def _llm_span(execution: Execution, root: Span, call: LlmCall) -> Span:
    started = _at(call.started_at)
    usage = call.usage
    attributes: dict[str, Any] = {
        "finish_reason": call.finish_reason,
        "attempts": call.attempts,
        "retries": max(call.attempts - 1, 0),
        "fallback": call.fallback,
        "ttft_ms": call.ttft_ms,
    }
    if usage.cache_creation_tokens:
        attributes["cache_creation_tokens"] = usage.cache_creation_tokens
    return Span(
        workspace_id=execution.workspace_id, execution_id=execution.id,
        trace_id=root.trace_id, span_id=new_span_id(), parent_span_id=root.span_id,
        session_id=execution.session_id, kind=SpanKind.LLM, name=f"chat {call.model_id}",
        status=SpanStatus.ERROR if call.error else SpanStatus.OK,
        started_at=started, ended_at=started + timedelta(milliseconds=call.duration_ms),
        duration_ms=call.duration_ms, ttft_ms=call.ttft_ms, provider=call.provider,
        model=call.model_id, prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens, cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cache_creation_tokens=usage.cache_creation_tokens, total_tokens=usage.total_tokens,
        cost=call.cost, attributes=attributes, error=call.error,
    )


def _tool_span(execution: Execution, root: Span, run: ToolRun) -> Span:
    started = _at(run.started_at)
    summary = _tool_summary(run)
    arguments = _arguments(run.arguments)
    return Span(
        workspace_id=execution.workspace_id, execution_id=execution.id,
        trace_id=root.trace_id, span_id=new_span_id(), parent_span_id=root.span_id,
        session_id=execution.session_id,
        kind=SpanKind.MCP_CALL if run.kind == "mcp" else SpanKind.TOOL, name=run.name,
        status=SpanStatus.ERROR if run.error else SpanStatus.OK,
        started_at=started, ended_at=started + timedelta(milliseconds=run.duration_ms),
        duration_ms=run.duration_ms,
        input={"arguments": arguments},
        output={"result": _clip(run.result, SUMMARY_CHARS), "summary": summary},
        # run.attributes: an MCP call's server (mcp_tool_id, mcp_server, mcp_tool, transport)
        attributes={**run.attributes, "tool_call_id": run.id,
                    "tool_type": run.kind,
                    "arguments": arguments, "result_summary": summary,
                    "result_chars": len(run.result)},
        error=run.error,
    )


def spans_build(execution: Execution, finished: RunResult,
                ended_at: datetime | None = None) -> list[Span]:
    """The spans of a finished turn: root agent span first, then its children in time order."""
    # The runner measured the turn (monotonic); children carry wall-clock starts. The root
    # is placed to cover its children: it starts at the earlier of "now - duration" and the
    # first child, and lasts the measured duration (longer only if a child ends later).
    now = ended_at or timezone.now()
    measured = timedelta(milliseconds=finished.duration_ms)
    starts = [_at(c.started_at) for c in finished.llm_calls]
    starts += [_at(t.started_at) for t in finished.tool_runs]
    ends = [_at(c.started_at) + timedelta(milliseconds=c.duration_ms)
            for c in finished.llm_calls]
    ends += [_at(t.started_at) + timedelta(milliseconds=t.duration_ms)
             for t in finished.tool_runs]
    started = min([now - measured, *starts])
    ended = max([started + measured, *ends])
    usage = finished.usage
    message = execution.input.get("message") if isinstance(execution.input, dict) else None
    root = Span(
        workspace_id=execution.workspace_id, execution_id=execution.id,
        trace_id=execution.trace_id or secrets.token_hex(16), span_id=new_span_id(),
        parent_span_id="", session_id=execution.session_id, kind=SpanKind.AGENT,
        name=execution.agent_name or "agent",
        status=SpanStatus.OK if finished.status == "completed" else SpanStatus.ERROR,
        started_at=started, ended_at=ended,
        duration_ms=max(finished.duration_ms, _ms(ended - started)),
        model=finished.model_id, prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens, cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cache_creation_tokens=usage.cache_creation_tokens, total_tokens=usage.total_tokens,
        cost=finished.cost,
        input={"message": _clip(message, INPUT_CHARS)} if isinstance(message, str) else None,
        output={"content": _clip(finished.content, INPUT_CHARS),
                "incomplete": finished.incomplete},
        attributes={"execution_status": finished.status, "incomplete": finished.incomplete,
                    "llm_calls": len(finished.llm_calls),
                    "tool_calls": len(finished.tool_runs)},
        error=finished.error,
    )
    children = [_llm_span(execution, root, c) for c in finished.llm_calls]
    children += [_tool_span(execution, root, t) for t in finished.tool_runs]
    children.sort(key=lambda s: s.started_at)
    return [root, *children]


def spans_record(finished: RunResult, *, execution: Execution | None = None) -> list[Span]:
    """Write the turn's spans in one batch (called inside the runner's finishing transaction).

    `execution` is the row as created (its identity, trace id, agent and input do not change
    during the run); without it, it is read. Failure to trace never fails the turn: the
    write runs in a savepoint and is logged.
    """
    try:
        with transaction.atomic():
            if execution is None:
                execution = Execution.objects.filter(pk=finished.execution_id).first()
            if execution is None:
                return []
            spans = Span.objects.bulk_create(spans_build(execution, finished))
    except Exception:
        logger.exception("could not record the spans of execution %s", finished.execution_id)
        return []
    from executions import traces_otel

    if traces_otel.enabled():
        transaction.on_commit(lambda: traces_otel.export(spans, execution))
    return spans


def spans_interrupted(finished: RunResult, execution: Execution) -> None:
    """Recovery of a run whose process died: a root span (error "interrupted") covering the
    time it ran; its model and tool calls died with the process and are not known."""
    from dataclasses import replace

    if Span.objects.filter(execution_id=finished.execution_id).exists():
        return
    since = execution.started_at or execution.created_at
    spans_record(replace(finished, duration_ms=max(_ms(timezone.now() - since), 0)),
                 execution=execution)

