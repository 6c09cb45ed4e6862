"""OpenTelemetry export: the same spans reach an OTLP/HTTP receiver started by the test."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from executions import traces_otel
from executions.models import Span
from tests.support.wait import wait_for
from tests.traces.support import Chat


class Receiver:
    """A tiny OTLP/HTTP collector: accepts POST /v1/traces (protobuf) and keeps the spans."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.paths.append(self.path)
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append(request)
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[tuple[Any, Any, Any]]:
        """(resource, scope, span) for every span received."""
        out = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append((resource_spans.resource, scope_spans.scope, span))
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def fresh_exporter() -> Iterator[None]:
    traces_otel.shutdown()
    yield
    traces_otel.shutdown()  # stops retries to a dead collector too


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


def _attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


def _wait_for(receiver: Receiver, count: int, timeout: float = 15.0) -> None:
    def received() -> bool:
        if len(receiver.spans()) >= count:
            return True
        traces_otel.force_flush(2000)
        return False

    wait_for(received, timeout, what=f"{count} spans at the receiver")


def test_spans_are_exported_with_the_same_ids(chat: Chat, receiver: Receiver) -> None:
    with override_settings(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                           OTEL_SERVICE_NAME="pr-test"):
        assert traces_otel.enabled()
        execution = chat.send(chat.session())
        _wait_for(receiver, 4)
    stored = {s.span_id: s for s in Span.objects.filter(execution=execution)}
    received = receiver.spans()
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    assert all(ct == "application/x-protobuf" for ct in receiver.content_types)
    assert len(received) == 4
    for resource, scope, span in received:
        assert span.trace_id.hex() == execution.trace_id
        ours = stored[span.span_id.hex()]
        assert span.parent_span_id.hex() == ours.parent_span_id  # "" for the root
        assert span.name == ours.name
        assert span.start_time_unix_nano == int(ours.started_at.timestamp() * 1e6) * 1000
        assert ours.ended_at is not None
        assert span.end_time_unix_nano == int(ours.ended_at.timestamp() * 1e6) * 1000
        assert span.status.code == 1  # STATUS_CODE_OK
        resource_attrs = {kv.key: kv.value.string_value for kv in resource.attributes}
        assert resource_attrs["service.name"] == "pr-test"
        assert scope.name == "promptrails.executions"
        attrs = _attrs(span)
        assert attrs["promptrails.span.kind"] == ours.kind
        assert attrs["promptrails.execution_id"] == execution.id
        assert attrs["session.id"] == execution.session_id
        if ours.kind == "llm":
            assert attrs["gen_ai.request.model"] == "echo"
            assert attrs["gen_ai.system"] == "local"
            assert attrs["gen_ai.usage.input_tokens"] == ours.prompt_tokens
            assert attrs["gen_ai.usage.output_tokens"] == ours.completion_tokens
            assert attrs["promptrails.ttft_ms"] == ours.ttft_ms
            assert attrs["promptrails.llm.finish_reason"] in ("tool_calls", "stop")
            assert span.kind == 3  # SPAN_KIND_CLIENT
        if ours.kind == "tool":
            assert attrs["gen_ai.tool.name"] == "calculator"
            assert attrs["promptrails.tool.result_summary"] == "6*7 = 42"
            assert attrs["promptrails.tool.arguments"] == '{"expression": "6*7"}'
        if ours.kind == "agent":
            assert attrs["promptrails.usage.total_tokens"] == execution.total_tokens
            assert attrs["promptrails.cost_usd"] == execution.cost


def test_failed_turn_exports_error_status(chat: Chat, receiver: Receiver,
                                          fake_openai: Any) -> None:
    from tests.chat.support import fake_openai_agent
    from tests.fakes.server import FakeReply

    agent = fake_openai_agent(workspace=chat.tenant.workspace, base_url=fake_openai.base_url)
    fake_openai.default = FakeReply(fault="http_400")
    with override_settings(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url + "/"):
        execution = chat.send(chat.session(agent.id), "hi", status=502)
        count = Span.objects.filter(execution=execution).count()
        _wait_for(receiver, count)
    received = receiver.spans()
    assert len(received) == count >= 2
    root = next(span for _, _, span in received if not span.parent_span_id)
    assert root.status.code == 2 and execution.error and execution.error in root.status.message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_collector_down_never_slows_or_fails_the_turn(chat: Chat) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    session = chat.session()
    with override_settings(OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_EXPORTER_OTLP_TIMEOUT=0.5):
        started = time.monotonic()
        execution = chat.send(session)
        elapsed = time.monotonic() - started
    assert execution.status == "completed"
    assert Span.objects.filter(execution=execution).count() == 4
    assert elapsed < 5


def test_export_is_off_without_an_endpoint(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(traces_otel, "export", lambda *a: calls.append(a))
    with override_settings(OTEL_EXPORTER_OTLP_ENDPOINT="", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=""):
        assert not traces_otel.enabled()
        chat.send(chat.session())
    assert calls == []
    with override_settings(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://x:1/custom"):
        assert traces_otel.endpoint() == "http://x:1/custom"
