"""The chat WebSocket (docs/api.md §9): one socket on one session sees every event and message.

Thin: authenticate, authorize, delegate turns to chat.services and the runner; follow each
turn of the session with executions.follow (replay, then live, exactly once).

Every frame gets an answer and the socket stays open: a bad one (too big, not a JSON
object, nested deeper than MAX_FRAME_DEPTH, text the database cannot store) an `error`
frame. Whatever happens in a handler, the socket's bus subscription ends with the socket
(`__call__`'s finally, not only `disconnect`). A socket opened with an API key, or with a
ticket issued under one, is closed 4401 when the key is revoked: the revocation is announced
on the key's bus group (promptrails.services.api_key_revoke), and the key is looked up again
every AUTH_RECHECK_SECONDS (a key deleted, or an announcement this process missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from chat import services
from chat.models import Session
from chat.origin import same_origin
from chat.tickets import ticket_redeem
from chat.validation import clean_content
from executions import approvals, bus, runner
from executions.follow import KEEPALIVE, follow
from executions.models import Execution, ExecutionStatus
from executions.services import execution_request_cancel
from promptrails.api.errors import problem
from promptrails.db import run_db
from promptrails.errors import (
    Forbidden,
    InvalidFrame,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from promptrails.models import ApiKey, Workspace
from promptrails.ratelimit import enforce
from promptrails.services import API_KEY_REVOKED, api_key_group
from promptrails.storable import json_problems, text_problem
from promptrails.tenancy import (
    AuthFailed,
    WorkspaceAuth,
    workspace_from_api_key,
    workspace_from_user,
)

logger = logging.getLogger("promptrails.ws")
MAX_FRAME_BYTES = 256 * 1024
MAX_FRAME_DEPTH = 32
AUTH_RECHECK_SECONDS = 60.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_INTERNAL_ERROR = 1011


def _invalid_frame(message: str) -> InvalidFrame:
    return InvalidFrame(message)


def _execution_id_required() -> InvalidInput:
    return InvalidInput({"execution_id": ["This field is required."]},
                        message="execution_id is required.")


def _key_active(api_key_id: str) -> bool:
    return bool(ApiKey.objects.active().filter(pk=api_key_id).exists())


class ChatConsumer(AsyncWebsocketConsumer):
    workspace: Workspace
    session_id: str
    user_id: int | None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.followers: dict[str, asyncio.Task[Any]] = {}
        self.subscription: contextlib.AbstractAsyncContextManager[Any] | None = None
        self.listener: asyncio.Task[Any] | None = None
        self.api_key_id: str | None = None
        self._recheck_at = 0.0  # when the API key is checked again (loop time)
        self.accepted = False
        try:
            await super().__call__(scope, receive, send)
        finally:  # also when a handler raised: disconnect() is not called then
            await self._release()

    async def connect(self) -> None:
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        if text_problem(self.session_id) is not None:  # a NUL character: no such session
            return await self._refuse(CLOSE_NOT_FOUND)
        try:
            await self._open()
        except Exception:
            logger.exception("websocket connect failed")
            await self._refuse(CLOSE_INTERNAL_ERROR)

    async def _open(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode(errors="replace"))
        auth = await self._authenticate(query)
        if auth is None:
            return await self._refuse(CLOSE_UNAUTHORIZED)
        self.auth = auth
        self.workspace = workspace = auth.workspace
        rows = await run_db(
            lambda: list(Session.objects.filter(pk=self.session_id, workspace=workspace)
                         .values_list("turn_execution_id", flat=True))
        )
        if not rows:
            return await self._refuse(CLOSE_NOT_FOUND)
        running = rows[0]
        await self.accept()
        self.accepted = True
        groups = [bus.session_group(self.session_id)]
        if self.api_key_id is not None:
            groups.append(api_key_group(self.api_key_id))
        subscription = bus.subscribe(*groups)
        sub = await subscription.__aenter__()
        self.subscription = subscription
        self.listener = asyncio.get_running_loop().create_task(self._listen(sub))
        if running:  # a turn is running: replay it from the start (or after the client's seq)
            after = 0
            if query.get("execution_id", [""])[0] == running:
                with contextlib.suppress(ValueError):
                    after = max(int(query.get("after_seq", ["0"])[0]), 0)
            self._follow(running, after)

    async def _refuse(self, code: int) -> None:
        # A close sent before accept becomes a bare HTTP 403 (ASGI), which browsers report as
        # 1006; accepting first lets the client read 4401/4404. Nothing is sent before it.
        if not self.accepted:
            await self.accept()
            self.accepted = True
        await self.close(code=code)

    async def _authenticate(self, query: dict[str, list[str]]) -> WorkspaceAuth | None:
        headers = {k.decode().lower(): v.decode(errors="replace")
                   for k, v in self.scope.get("headers", [])}
        self.user_id = None
        if "x-api-key" in headers:
            try:
                auth = await run_db(workspace_from_api_key, headers["x-api-key"].strip())
            except AuthFailed:
                return None
            self.api_key_id = auth.api_key.pk if auth.api_key is not None else None
            return auth
        ticket = query.get("ticket", [""])[0]
        if ticket:
            grant = await run_db(ticket_redeem, ticket)  # None once its key is revoked
            if grant is None or grant["session_id"] != self.session_id:
                return None
            self.user_id = grant.get("user_id")
            self.api_key_id = grant.get("api_key_id")
            workspace = await run_db(Workspace.objects.filter(pk=grant["workspace_id"]).first)
            return WorkspaceAuth(workspace=workspace) if workspace is not None else None
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and same_origin(self.scope, headers):
            workspace_id = headers.get("x-workspace-id")
            if workspace_id is not None and text_problem(workspace_id) is not None:
                return None
            try:
                auth = await run_db(workspace_from_user, user, workspace_id)
            except AuthFailed:
                return None
            self.user_id = user.pk
            return auth
        return None

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        """End what the socket holds (once): its followers, listener and bus subscription."""
        for task in self.followers.values():
            task.cancel()
        self.followers.clear()
        if self.listener is not None:
            self.listener.cancel()
            self.listener = None
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.__aexit__(None, None, None)

    async def _shut(self, code: int) -> None:
        for task in self.followers.values():
            task.cancel()
        await self.close(code=code)

    # --- server → client -------------------------------------------------------------------
    async def _listen(self, sub: Any) -> None:
        loop = asyncio.get_running_loop()
        self._recheck_at = loop.time() + AUTH_RECHECK_SECONDS
        while True:
            payload = await self._next_payload(sub, loop)
            if not payload:
                continue
            if payload.get("type") == API_KEY_REVOKED:
                return await self._shut(CLOSE_UNAUTHORIZED)
            if payload.get("type") == "turn" and isinstance(payload.get("execution_id"), str):
                self._follow(payload["execution_id"], 0)
            elif payload.get("type") in ("message", "context_compacted"):
                await self._send(payload)

    async def _next_payload(self, sub: Any,
                            loop: asyncio.AbstractEventLoop) -> dict[str, Any] | None:
        """The next message for the socket. With an API key, the key is checked again every
        AUTH_RECHECK_SECONDS: once it is no longer active, the API_KEY_REVOKED notice."""
        if self.api_key_id is None:
            return await sub.get()  # type: ignore[no-any-return]
        payload = await sub.get(max(self._recheck_at - loop.time(), 0.0))
        if loop.time() >= self._recheck_at:
            self._recheck_at = loop.time() + AUTH_RECHECK_SECONDS
            if not await self._key_still_active(self.api_key_id):
                return {"type": API_KEY_REVOKED}  # shut, whatever came
        return payload  # type: ignore[no-any-return]

    async def _key_still_active(self, api_key_id: str) -> bool:
        try:
            return bool(await run_db(_key_active, api_key_id))
        except Exception:  # the database away: try again at the next check
            logger.warning("could not re-check a socket's API key", exc_info=True)
            return True

    def _follow(self, execution_id: str, after: int) -> None:
        if execution_id in self.followers and not self.followers[execution_id].done():
            return
        self.followers[execution_id] = asyncio.get_running_loop().create_task(
            self._relay(execution_id, after)
        )

    async def _relay(self, execution_id: str, after: int) -> None:
        async for event in follow(execution_id, after=after):
            if event is KEEPALIVE:
                continue
            await self._send({**event, "execution_id": execution_id})

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":"), ensure_ascii=False))

    async def _error(self, code: str, message: str, **extra: Any) -> None:
        await self._send({"type": "error", "code": code, "message": message, **extra})

    # --- client → server -------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else (bytes_data or b"").decode(errors="replace")
        try:
            frame = self._frame(raw)
            kind = frame.get("type")
            if kind == "ping":
                await self._send({"type": "pong"})
            elif kind == "message":
                await self._start_turn(frame)
            elif kind == "cancel":
                await self._cancel(frame)
            elif kind in ("approve", "deny"):
                await self._decide(frame, approved=kind == "approve")
            else:
                raise _invalid_frame(f"Unknown frame type {kind!r}.")
        except Exception as exc:  # every failure is an error frame; the socket lives on
            error = problem(exc, where="websocket frame").body["error"]
            await self._error(error["code"], error["message"], details=error["details"])

    @staticmethod
    def _frame(raw: str) -> dict[str, Any]:
        """The frame's JSON object, or the DomainError its `error` frame tells."""
        if len(raw) > MAX_FRAME_BYTES or len(raw.encode()) > MAX_FRAME_BYTES:
            raise PayloadTooLarge(f"Frames are limited to {MAX_FRAME_BYTES} bytes.")
        too_deep = f"Frames nest at most {MAX_FRAME_DEPTH} levels of objects and arrays."
        try:
            frame = json.loads(raw)
        except RecursionError:  # raised by the decoder itself, far past MAX_FRAME_DEPTH
            raise _invalid_frame(too_deep) from None
        except ValueError:
            raise _invalid_frame("Frames must be JSON objects.") from None
        if not isinstance(frame, dict):
            raise _invalid_frame("Frames must be JSON objects.")
        problems = json_problems(frame, max_depth=MAX_FRAME_DEPTH, root="frame")
        if "frame" in problems:
            raise _invalid_frame(too_deep)
        if problems:
            raise InvalidInput(problems)
        return frame

    async def _start_turn(self, frame: dict[str, Any]) -> None:
        content = clean_content(frame)
        key = services.clean_idempotency_key(frame.get("idempotency_key"))
        await run_db(enforce, self.auth)
        turn = await runner.start_turn(run_db(
            services.turn_start, workspace=self.workspace, session_id=self.session_id,
            content=content, user_id=self.user_id, idempotency_key=key))
        self._follow(turn.execution_id, 0)

    async def _cancel(self, frame: dict[str, Any]) -> None:
        execution_id = frame.get("execution_id")
        if not isinstance(execution_id, str) or not execution_id:
            raise _execution_id_required()

        def request() -> Execution:
            execution = Execution.objects.filter(
                pk=execution_id, workspace=self.workspace, session_id=self.session_id
            ).first()
            if execution is None:
                raise NotFound(message="Execution not found in this session.")
            if execution.status == ExecutionStatus.WAITING_APPROVAL and \
                    approvals.execution_cancel_parked(execution=execution,
                                                      decided_by=approvals.actor(self.auth)):
                return execution  # parked: nothing runs, it ended now
            return execution_request_cancel(execution=execution)

        await run_db(request)
        await runner.request_cancel(execution_id)

    async def _decide(self, frame: dict[str, Any], *, approved: bool) -> None:
        """`{"type": "approve"|"deny", "execution_id", "reason"?}`: decide the pending tool
        call of this session's parked turn (workspace credentials only, not a browser key:
        the visitor of a public widget does not approve what the agent does for them)."""
        execution_id = frame.get("execution_id")
        if not isinstance(execution_id, str) or not execution_id:
            raise _execution_id_required()
        reason = approvals.clean_reason(frame)
        key = self.auth.api_key
        if key is not None and key.kind == ApiKey.Kind.BROWSER:
            raise Forbidden("A browser key cannot decide approvals.")

        def decide() -> runner.TurnSpec | None:
            execution = Execution.objects.filter(
                pk=execution_id, workspace=self.workspace, session_id=self.session_id
            ).first()
            if execution is None:
                raise NotFound(message="Execution not found in this session.")
            approval = approvals.approval_of_execution(execution=execution)
            return approvals.approval_decide(approval=approval, approved=approved,
                                             reason=reason, decided_by=approvals.actor(self.auth))

        spec = await run_db(decide)
        if spec is not None:
            runner.start(spec)  # every socket on the session follows the turn already
