"""Optional OpenTelemetry export of the stored spans (OTLP over HTTP, protobuf).

Enabled when ``settings.OTEL_EXPORTER_OTLP_ENDPOINT`` (env ``OTEL_EXPORTER_OTLP_ENDPOINT``)
is set; spans go to ``<endpoint>/v1/traces`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
as given). Every stored span is exported with the same trace id, span id, parent link,
timestamps, status and attributes, through the official ``opentelemetry-sdk``: a
``BatchSpanProcessor`` queues them and a background thread sends them, so a turn never
waits for the collector (and a collector that is down only costs log lines).
Headers come from the standard ``OTEL_EXPORTER_OTLP_HEADERS`` env variable.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any

from django.conf import settings

from executions.models import Execution, Span

logger = logging.getLogger("promptrails.traces")

_lock = threading.Lock()
_processor: Any = None
_processor_key: tuple[str, str, float | None] | None = None
SCOPE = "promptrails.executions"


def endpoint() -> str:
    """The OTLP traces URL, or "" when export is off."""
    traces_url = getattr(settings, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "") or ""
    if traces_url:
        return str(traces_url)
    base = getattr(settings, "OTEL_EXPORTER_OTLP_ENDPOINT", "") or ""
    return f"{str(base).rstrip('/')}/v1/traces" if base else ""


def enabled() -> bool:
    return bool(endpoint())


def service_name() -> str:
    return str(getattr(settings, "OTEL_SERVICE_NAME", "") or "promptrails-server")


def _get_processor() -> Any:
    """The process-wide batch processor for the configured endpoint (rebuilt if it changes)."""
    global _processor, _processor_key
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    timeout = getattr(settings, "OTEL_EXPORTER_OTLP_TIMEOUT", None)  # None: env or 10 s
    key = (endpoint(), service_name(), float(timeout) if timeout else None)
    with _lock:
        if _processor is None or _processor_key != key:
            old = _processor
            _processor = BatchSpanProcessor(
                OTLPSpanExporter(endpoint=key[0], timeout=key[2]), schedule_delay_millis=500
            )
            _processor_key = key
            if old is not None:
                threading.Thread(target=old.shutdown, daemon=True).start()
        return _processor


def _value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def span_attributes(span: Span, execution: Execution) -> dict[str, Any]:
    """OTel attributes: GenAI semantic conventions where they exist, promptrails.* otherwise."""
    attrs: dict[str, Any] = {
        "promptrails.span.kind": span.kind,
        "promptrails.span.id": span.id,
        "promptrails.workspace_id": span.workspace_id,
        "promptrails.execution_id": span.execution_id,
        "promptrails.agent_name": execution.agent_name,
        "promptrails.duration_ms": span.duration_ms,
    }
    if execution.agent_id:
        attrs["gen_ai.agent.id"] = execution.agent_id
        attrs["gen_ai.agent.name"] = execution.agent_name
    if span.session_id:
        attrs["session.id"] = span.session_id
        attrs["gen_ai.conversation.id"] = span.session_id
    if span.kind in ("agent", "llm"):
        attrs.update({
            "gen_ai.usage.input_tokens": span.prompt_tokens,
            "gen_ai.usage.output_tokens": span.completion_tokens,
            "promptrails.usage.cached_tokens": span.cached_tokens,
            "promptrails.usage.reasoning_tokens": span.reasoning_tokens,
            "promptrails.usage.total_tokens": span.total_tokens,
            "promptrails.cost_usd": float(span.cost),
        })
        if span.model:
            attrs["gen_ai.request.model"] = span.model
    if span.kind == "agent":
        attrs["gen_ai.operation.name"] = "invoke_agent"
    if span.kind == "llm":
        attrs["gen_ai.operation.name"] = "chat"
        attrs["gen_ai.system"] = span.provider
        if span.ttft_ms is not None:
            attrs["promptrails.ttft_ms"] = span.ttft_ms
    if span.kind == "tool":
        attrs["gen_ai.operation.name"] = "execute_tool"
        attrs["gen_ai.tool.name"] = span.name
    if span.error:
        attrs["error.type"] = "error"
    for key, value in (span.attributes or {}).items():
        if value is not None:
            attrs[f"promptrails.{span.kind}.{key}"] = _value(value)
    return attrs


def _ns(value: Any) -> int:
    return int(value.timestamp() * 1_000_000) * 1000


def to_otel(spans: Iterable[Span], execution: Execution) -> list[Any]:
    """The stored spans as OpenTelemetry ReadableSpans with the same ids and links."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    resource = Resource.create({"service.name": service_name()})
    scope = InstrumentationScope(SCOPE)
    flags = TraceFlags(TraceFlags.SAMPLED)
    result = []
    for span in spans:
        trace_id = int(span.trace_id, 16)
        context = SpanContext(trace_id=trace_id, span_id=int(span.span_id, 16),
                              is_remote=False, trace_flags=flags)
        parent = None
        if span.parent_span_id:
            parent = SpanContext(trace_id=trace_id, span_id=int(span.parent_span_id, 16),
                                 is_remote=False, trace_flags=flags)
        status = (Status(StatusCode.ERROR, span.error or "error") if span.status == "error"
                  else Status(StatusCode.OK))
        end = span.ended_at or span.started_at
        result.append(ReadableSpan(
            name=span.name, context=context, parent=parent, resource=resource,
            attributes=span_attributes(span, execution),
            kind=SpanKind.CLIENT if span.kind == "llm" else SpanKind.INTERNAL,
            status=status, start_time=_ns(span.started_at), end_time=_ns(end),
            instrumentation_scope=scope,
        ))
    return result


def export(spans: list[Span], execution: Execution) -> None:
    """Queue the spans for export (returns at once; a background thread sends them)."""
    try:
        processor = _get_processor()
        for otel_span in to_otel(spans, execution):
            processor.on_end(otel_span)
    except Exception:
        logger.exception("could not queue spans of %s for OpenTelemetry export", execution.id)


def force_flush(timeout_millis: int = 10_000) -> bool:
    """Send everything queued now (tests, shutdown)."""
    processor = _processor
    if processor is None:
        return True
    return bool(processor.force_flush(timeout_millis))


def shutdown() -> None:
    """Flush what can be sent, stop the exporter (it stops retrying) and forget it."""
    global _processor, _processor_key
    with _lock:
        processor, _processor, _processor_key = _processor, None, None
    if processor is not None:
        processor.shutdown()


atexit.register(shutdown)
