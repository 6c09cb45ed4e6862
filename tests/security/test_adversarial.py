"""An adversarial replay against a live ASGI server (issue #15's review, and variants).

Two workspaces on one uvicorn process whose environment holds the operator's OpenAI key.
Workspace B attacks: it aims provider calls at a listener on loopback, writes into A's
session through another route, sends text PostgreSQL cannot store, bodies nested or sized
to break parsers, WebSocket frames built to crash the consumer. Every answer must be a 4xx
in the error envelope (never a 500), nothing reaches the listener, A's data is unchanged,
and afterwards A still chats normally. The server's log must hold no traceback.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live import LiveServer
from tests.support.live import LiveTenant, make_live_tenant
from tests.support.wait import wait_for

OPERATOR_KEY = "sk-operator-SECRET-do-not-leak-0123456789"
ERROR_CODES = {"validation_error", "unauthorized", "forbidden", "not_found",
               "method_not_allowed", "payload_too_large", "rate_limited", "session_busy"}


class Recorder(ThreadingHTTPServer):
    """A listener on loopback that records every request it gets (and answers 200 with a
    body a careless server would echo)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _RecorderHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _RecorderHandler(BaseHTTPRequestHandler):
    server: Recorder

    def _record(self) -> None:
        self.server.requests.append({"path": self.path, "headers": dict(self.headers)})
        body = b'{"internal":"metadata-secret-body"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _record  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def target(live_server_factory: Any) -> LiveServer:
    """A server whose environment carries the operator's key (and no outbound allowlist)."""
    return live_server_factory(OPENAI_API_KEY=OPERATOR_KEY, PROMPTRAILS_TURN_LEASE_SECONDS="3",
                               PROMPTRAILS_OUTBOUND_ALLOW="")


@pytest.fixture
def pair(target: LiveServer, recorder: Recorder,
         transactional_db: None) -> tuple[LiveTenant, LiveTenant]:
    recorder.requests.clear()
    if target.process.poll() is not None:
        pytest.fail(f"the target server died:\n{target.log()}")
    return make_live_tenant(target, "Victim A"), make_live_tenant(target, "Attacker B")


def _client(tenant: LiveTenant) -> httpx.Client:
    return httpx.Client(base_url=tenant.server.url, timeout=30,
                        headers={"X-API-Key": tenant.tenant.raw_key})


def assert_4xx(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A 4xx (one of `statuses` when given) carrying the error envelope."""
    assert 400 <= response.status_code < 500, (response.request.method, response.request.url,
                                               response.status_code, response.text[:500])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] in ERROR_CODES, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def _raw_json(client: httpx.Client, method: str, path: str, text: str) -> httpx.Response:
    """Send `text` as the JSON body byte for byte (escapes like \\u0000 stay escapes)."""
    return client.request(method, path, content=text.encode("utf-8", "surrogatepass"),
                          headers={"Content-Type": "application/json"})


def assert_ok_or_4xx(response: httpx.Response, *statuses: int) -> None:
    if response.status_code != 200:
        assert_4xx(response, *statuses)


def _no_tracebacks(server: LiveServer) -> None:
    log = server.log()
    assert "Traceback" not in log and "Internal Server Error" not in log, log[-4000:]


# --- 1, 6: provider keys and outbound URLs ----------------------------------------------------


def _evil_base_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/v1",
        f"http://localhost:{port}/v1",
        f"http://[::1]:{port}/v1",
        f"http://[::ffff:127.0.0.1]:{port}/v1",
        f"http://0.0.0.0:{port}/v1",
        f"http://2130706433:{port}/v1",  # 127.0.0.1 as one decimal number
        "http://169.254.169.254/latest/meta-data",
        f"http://127.0.0.1:{port}/v1?q=",
        f"http://127.0.0.1:{port}/v1#frag",
        f"http://user:pw@127.0.0.1:{port}/v1",
        f"file:///etc/passwd?{port}",
    ]


def test_workspace_chosen_urls_never_get_the_operator_key_or_any_request(
        pair: tuple[LiveTenant, LiveTenant], recorder: Recorder) -> None:
    _, attacker = pair
    with _client(attacker) as b:
        for index, url in enumerate(_evil_base_urls(recorder.port)):
            for value in ({"base_url": url}, {"api_key": "sk-attacker", "base_url": url}):
                response = b.post("/api/v1/credentials", json={
                    "name": f"evil-{index}-{len(value)}", "provider": "openai",
                    "value": json.dumps(value)})
                if response.status_code == 201:
                    # stored (a policy may refuse only at connect time): the check must fail
                    # without reaching the listener or echoing anything of it
                    credential = response.json()["data"]
                    check = b.post(f"/api/v1/credentials/{credential['id']}/check")
                    assert check.status_code < 500, check.text
                    assert "metadata-secret-body" not in check.text
                    assert "sk-attacker" not in credential.get("masked_content", "")
                else:
                    assert_4xx(response, 400)
                    assert "metadata-secret-body" not in response.text
    assert recorder.requests == [], recorder.requests
    _no_tracebacks(attacker.server)


def test_a_turn_on_a_credential_aimed_at_loopback_reaches_nothing(
        pair: tuple[LiveTenant, LiveTenant], recorder: Recorder) -> None:
    from agents.models import LLMModel
    from agents.services import agent_create, agent_version_create, prompt_create

    _, attacker = pair
    LLMModel.objects.get_or_create(provider="openai", model_id="gpt-4o-mini",
                                   defaults={"display_name": "GPT-4o mini"})
    workspace = attacker.tenant.workspace
    prompt = prompt_create(workspace=workspace, name="p", initial_version={
        "system_prompt": "hi", "user_prompt": "", "version": "1.0.0", "message": "m"})
    agent = agent_create(workspace=workspace, name="leaky")
    agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                         set_current=True, model_config={"model_id": "gpt-4o-mini"})
    with _client(attacker) as b:
        # no credential of its own: the environment's key goes only to the environment's URL,
        # which a workspace cannot choose; with one aimed at loopback, nothing is sent at all
        b.post("/api/v1/credentials", json={
            "name": "evil", "provider": "openai", "is_default": True,
            "value": json.dumps({"api_key": "sk-attacker",
                                 "base_url": f"http://127.0.0.1:{recorder.port}/v1"})})
        session = b.post("/api/v1/chat/sessions", json={"agent_id": agent.pk}).json()["data"]
        reply = b.post(f"/api/v1/chat/sessions/{session['id']}/messages",
                       json={"content": "hello"})
        assert reply.status_code in (201, 502), reply.text
        executions = b.get(f"/api/v1/executions?session_id={session['id']}").json()["data"]
        assert [e["status"] for e in executions] in (["failed"], ["completed"])
    assert all(OPERATOR_KEY not in json.dumps(r) for r in recorder.requests), recorder.requests
    assert recorder.requests == []
    _no_tracebacks(attacker.server)


# --- 2: cross-workspace writes ------------------------------------------------------------------


def test_execute_cannot_name_another_workspaces_session(
        pair: tuple[LiveTenant, LiveTenant]) -> None:
    victim, attacker = pair
    session = victim.sdk.chat.create_session(agent_id=victim.agent_id, title="private")
    victim.sdk.chat.send_message(session.id, content="my secret order 1234")
    with _client(victim) as a:
        before = a.get(f"/api/v1/chat/sessions/{session.id}/messages").json()["data"]
    with _client(attacker) as b:
        for session_id in (session.id, session.id + "x", "s" * 100, "x\u0000y"):
            assert_4xx(b.post(f"/api/v1/agents/{attacker.agent_id}/execute",
                              json={"input": {"message": "pwned"}, "session_id": session_id}),
                       400, 404)
        assert_4xx(b.post(f"/api/v1/agents/{attacker.agent_id}/execute",
                          json={"input": "nope"}), 400)
        # A's ids through B's key: invisible everywhere
        for method, path in (("GET", f"/api/v1/chat/sessions/{session.id}"),
                             ("GET", f"/api/v1/chat/sessions/{session.id}/messages"),
                             ("POST", f"/api/v1/chat/sessions/{session.id}/messages"),
                             ("PATCH", f"/api/v1/chat/sessions/{session.id}"),
                             ("DELETE", f"/api/v1/chat/sessions/{session.id}")):
            assert_4xx(b.request(method, path, json={"content": "x", "title": "y"}), 404)
        listed = b.get(f"/api/v1/executions?session_id={session.id}").json()["data"]
        assert listed == []
    with _client(victim) as a:
        after = a.get(f"/api/v1/chat/sessions/{session.id}/messages").json()["data"]
        assert after == before
        assert a.get(f"/api/v1/chat/sessions/{session.id}").json()["data"]["title"] == "private"
    _no_tracebacks(attacker.server)


# --- 3, 9: text PostgreSQL cannot store and other inputs that used to be 500s ---------------


BAD_TEXTS = ['"a\\u0000b"', '"\\ud800"', '"\\udfff tail"']


def test_bad_text_everywhere_is_a_4xx_and_writes_nothing(
        pair: tuple[LiveTenant, LiveTenant]) -> None:
    victim, attacker = pair
    with _client(attacker) as b:
        session = b.post("/api/v1/chat/sessions",
                         json={"agent_id": attacker.agent_id}).json()["data"]
        sid = session["id"]
        for text in BAD_TEXTS:
            bodies = [
                ("POST", "/api/v1/chat/sessions",
                 f'{{"agent_id": "{attacker.agent_id}", "title": {text}}}'),
                ("POST", "/api/v1/chat/sessions",
                 f'{{"agent_id": "{attacker.agent_id}", "metadata": {{"k": {text}}}}}'),
                ("POST", "/api/v1/chat/sessions",
                 f'{{"agent_id": "{attacker.agent_id}", "metadata": {{{text}: 1}}}}'),
                ("POST", "/api/v1/chat/sessions",
                 f'{{"agent_id": "{attacker.agent_id}", "user_id": {text}}}'),
                ("POST", "/api/v1/chat/sessions", f'{{"agent_id": {text}}}'),
                ("PATCH", f"/api/v1/chat/sessions/{sid}", f'{{"title": {text}}}'),
                ("POST", f"/api/v1/chat/sessions/{sid}/messages", f'{{"content": {text}}}'),
                ("POST", f"/api/v1/chat/sessions/{sid}/messages/stream",
                 f'{{"content": {text}}}'),
                ("POST", f"/api/v1/chat/sessions/{sid}/feedback",
                 f'{{"execution_id": {text}, "value": 1}}'),
                ("POST", "/api/v1/agents", f'{{"name": {text}}}'),
                ("POST", "/api/v1/prompts", f'{{"name": {text}}}'),
                ("POST", "/api/v1/credentials",
                 f'{{"name": {text}, "provider": "openai", "api_key": "sk-x"}}'),
                ("POST", f"/api/v1/agents/{attacker.agent_id}/execute",
                 f'{{"input": {{"message": {text}}}}}'),
            ]
            for method, path, body in bodies:
                assert_4xx(_raw_json(b, method, path, body), 400, 404)
        for query in ("search=a%00b", "user_id=a%00b", "agent_id=a%00b", "metadata.k=a%00b",
                      "metadata.a%00b=1", "ordering=%00",
                      "date_from=9999-12-31T23:59:59.999999-23:59",
                      "search=%ED%A0%80"):
            assert_ok_or_4xx(b.get(f"/api/v1/chat/sessions?{query}"), 400)
        for path in ("/api/v1/chat/sessions/a%00b", "/api/v1/executions/a%00b",
                     "/api/v1/agents/a%00b", "/api/v1/prompts/a%00b",
                     "/api/v1/credentials/a%00b", "/api/v1/traces/a%00b",
                     "/api/v1/chat/sessions/a%00b/messages", "/api/v1/executions/%ED%A0%80",
                     f"/api/v1/executions?session_id={'s' * 300}",
                     "/api/v1/executions?status=%00", "/api/v1/traces?trace_id=%00"):
            assert_ok_or_4xx(b.get(path), 400, 404)
        messages = b.get(f"/api/v1/chat/sessions/{sid}/messages").json()["data"]
        assert messages == []
        sessions = b.get("/api/v1/chat/sessions").json()["data"]
        assert [s["id"] for s in sessions] == [sid]
    _no_tracebacks(attacker.server)


def test_numbers_depth_and_template_bombs_are_4xx(pair: tuple[LiveTenant, LiveTenant]) -> None:
    _, attacker = pair
    deep = "[" * 5000 + "]" * 5000
    with _client(attacker) as b:
        sid = b.post("/api/v1/chat/sessions",
                     json={"agent_id": attacker.agent_id}).json()["data"]["id"]
        assert_4xx(_raw_json(b, "POST", "/api/v1/chat/sessions",
                             f'{{"agent_id": "{attacker.agent_id}", "metadata": {{"n": 1e999}}}}'),
                   400)
        for path in ("/api/v1/chat/sessions", f"/api/v1/chat/sessions/{sid}/messages",
                     f"/api/v1/chat/sessions/{sid}/messages/stream", "/api/v1/agents"):
            assert_4xx(_raw_json(b, "POST", path, f'{{"content": {deep}}}'), 400)
        # even without a key, a deep body is refused cleanly
        anonymous = httpx.post(f"{attacker.server.url}/api/v1/chat/sessions/{sid}/messages",
                               content=f'{{"content": {deep}}}',
                               headers={"Content-Type": "application/json"}, timeout=30)
        assert_4xx(anonymous, 400, 401)
        for template in ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
                         "{{ 'a' * 100000000 }}", "{{ range(10**9) | list }}"):
            created = b.post("/api/v1/prompts", json={"name": "bomb", "system_prompt": template})
            if created.status_code != 201:
                assert_4xx(created, 400)
                continue
            prompt_id = created.json()["data"]["id"]
            started = time.monotonic()
            preview = b.post(f"/api/v1/prompts/{prompt_id}/preview", json={"input": {}})
            assert_4xx(preview, 400)
            assert time.monotonic() - started < 10  # refused, not rendered
    _no_tracebacks(attacker.server)


# --- 10: bodies bigger than the limit, chunked -------------------------------------------------


def test_a_huge_chunked_body_is_refused_without_reading_it(
        pair: tuple[LiveTenant, LiveTenant]) -> None:
    _, attacker = pair
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b'{"content": "' + b"a" * (1 << 20)
        for _ in range(50):
            sent += len(chunk)
            yield chunk

    for headers in ({}, {"X-API-Key": attacker.tenant.raw_key}):
        sent = 0
        try:
            response = httpx.post(
                f"{attacker.server.url}/api/v1/chat/sessions/x/messages", content=body(),
                headers={"Content-Type": "application/json", **headers}, timeout=30)
        except httpx.HTTPError:
            continue  # the server closed the connection while we were still sending: fine
        assert_4xx(response, 401, 413)
        assert sent < 50 << 20 or response.status_code == 413
    _no_tracebacks(attacker.server)


# --- 7: WebSocket frames built to crash the consumer -------------------------------------------


def test_hostile_websocket_frames_get_error_frames_and_the_socket_lives(
        pair: tuple[LiveTenant, LiveTenant]) -> None:
    _, attacker = pair
    session = attacker.sdk.chat.create_session(agent_id=attacker.agent_id)
    url = (attacker.server.url.replace("http://", "ws://")
           + f"/api/v1/chat/sessions/{session.id}/ws")

    async def scenario() -> None:
        async with connect(url, additional_headers={"X-API-Key": attacker.tenant.raw_key}) as ws:
            for frame in ("[" * 5000 + "]" * 5000, '{"type": "message", "content": ' +
                          "[" * 5000 + "]" * 5000 + "}", "not json", "[]", "5",
                          '{"type": "message", "content": "a\\u0000b"}',
                          '{"type": "message", "content": "\\ud800"}',
                          '{"type": "cancel", "execution_id": "\\u0000"}'):
                await ws.send(frame)
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert reply["type"] == "error", (frame[:40], reply)
            await ws.send('{"type": "ping"}')
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}

        bad = url.replace("/ws", "%00/ws")
        with pytest.raises((ConnectionClosed, InvalidStatus)):
            async with connect(bad, additional_headers={
                    "X-API-Key": attacker.tenant.raw_key}) as ws:
                await asyncio.wait_for(ws.recv(), 5)

    asyncio.run(scenario())
    _no_tracebacks(attacker.server)


# --- afterwards: nothing lost, nothing stuck ---------------------------------------------------


def test_after_the_barrage_the_victim_chats_normally(pair: tuple[LiveTenant, LiveTenant],
                                                      recorder: Recorder) -> None:
    from executions.models import Execution

    victim, attacker = pair
    session = victim.sdk.chat.create_session(agent_id=victim.agent_id)
    first = victim.sdk.chat.send_message(session.id, content="remember: blue")
    with _client(attacker) as b:
        for text in BAD_TEXTS:
            _raw_json(b, "POST", f"/api/v1/chat/sessions/{session.id}/messages",
                      f'{{"content": {text}}}')
        b.post(f"/api/v1/agents/{attacker.agent_id}/execute",
               json={"input": {"message": "x"}, "session_id": session.id})
    second = victim.sdk.chat.send_message(session.id, content="what did I say?")
    assert first.content and second.content and "blue" in second.content
    messages = victim.sdk.chat.list_messages(session.id).data
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    stuck = Execution.objects.filter(status__in=("pending", "running", "cancel_requested"))
    wait_for(lambda: not stuck.exists(), 15, 0.2, what="every run to end")
    assert not stuck.exists()
    assert recorder.requests == []
    _no_tracebacks(victim.server)

