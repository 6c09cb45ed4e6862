"""The chat WebSocket (API.md §9): one socket on one session sees every event and message.

Thin: authenticate, authorize, delegate turns to chat.services and the runner; follow each
turn of the session with executions.follow (replay, then live, exactly once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from chat import services
from chat.models import Session
from chat.tickets import ticket_redeem
from chat.validation import clean_content
from executions import bus, runner
from executions.follow import KEEPALIVE, follow
from executions.models import Execution
from executions.services import execution_request_cancel
from promptrails.api.errors import ApiError
from promptrails.db import run_db
from promptrails.models import Workspace
from promptrails.ratelimit import enforce
from promptrails.tenancy import (
    AuthFailed,
    WorkspaceAuth,
    workspace_from_api_key,
    workspace_from_user,
)

logger = logging.getLogger("promptrails.ws")
MAX_FRAME_BYTES = 256 * 1024
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


class ChatConsumer(AsyncWebsocketConsumer):
    workspace: Workspace
    session_id: str
    user_id: int | None

    async def connect(self) -> None:
        self.followers: dict[str, asyncio.Task[Any]] = {}
        self.subscription: contextlib.AbstractAsyncContextManager[Any] | None = None
        self.listener: asyncio.Task[Any] | None = None
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
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
        self.subscription = bus.subscribe(bus.session_group(self.session_id))
        sub = await self.subscription.__aenter__()
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
        await self.accept()
        await self.close(code=code)

    async def _authenticate(self, query: dict[str, list[str]]) -> WorkspaceAuth | None:
        headers = {k.decode().lower(): v.decode(errors="replace")
                   for k, v in self.scope.get("headers", [])}
        self.user_id = None
        if "x-api-key" in headers:
            try:
                return await run_db(workspace_from_api_key, headers["x-api-key"].strip())
            except AuthFailed:
                return None
        ticket = query.get("ticket", [""])[0]
        if ticket:
            grant = await run_db(ticket_redeem, ticket)
            if grant is None or grant["session_id"] != self.session_id:
                return None
            self.user_id = grant.get("user_id")
            workspace = await run_db(Workspace.objects.filter(pk=grant["workspace_id"]).first)
            return WorkspaceAuth(workspace=workspace) if workspace is not None else None
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and self._same_origin(headers):
            try:
                auth = await run_db(workspace_from_user, user, headers.get("x-workspace-id"))
            except AuthFailed:
                return None
            self.user_id = user.pk
            return auth
        return None

    def _same_origin(self, headers: dict[str, str]) -> bool:
        """Cookie-authenticated sockets must come from our own pages (no cross-site hijack)."""
        origin = headers.get("origin")
        if not origin:
            return False
        host = urlparse(origin).netloc.rsplit(":", 1)[0] if "://" in origin else ""
        allowed = list(settings.ALLOWED_HOSTS) or ["localhost", "127.0.0.1", "[::1]"]
        return bool(host) and validate_host(host, allowed)

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "followers", {}).values():
            task.cancel()
        if getattr(self, "listener", None) is not None:
            self.listener.cancel()  # type: ignore[union-attr]
        if getattr(self, "subscription", None) is not None:
            with contextlib.suppress(Exception):
                await self.subscription.__aexit__(None, None, None)  # type: ignore[union-attr]

    # --- server → client -------------------------------------------------------------------
    async def _listen(self, sub: Any) -> None:
        while True:
            payload = await sub.get()
            if not payload:
                continue
            if payload.get("type") == "turn" and isinstance(payload.get("execution_id"), str):
                self._follow(payload["execution_id"], 0)
            elif payload.get("type") == "message":
                await self._send(payload)

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
        if len(raw.encode()) > MAX_FRAME_BYTES:
            return await self._error("payload_too_large",
                                     f"Frames are limited to {MAX_FRAME_BYTES} bytes.")
        try:
            frame = json.loads(raw)
        except ValueError:
            return await self._error("invalid_frame", "Frames must be JSON objects.")
        if not isinstance(frame, dict):
            return await self._error("invalid_frame", "Frames must be JSON objects.")
        kind = frame.get("type")
        try:
            if kind == "ping":
                await self._send({"type": "pong"})
            elif kind == "message":
                await self._start_turn(frame)
            elif kind == "cancel":
                await self._cancel(frame)
            else:
                await self._error("invalid_frame", f"Unknown frame type {kind!r}.")
        except ApiError as exc:
            await self._error(exc.error_code, exc.message, details=exc.details)
        except Exception:
            logger.exception("websocket frame failed")
            await self._error("internal_error", "An internal error occurred.")

    async def _start_turn(self, frame: dict[str, Any]) -> None:
        content = clean_content(frame)
        key = services.clean_idempotency_key(frame.get("idempotency_key"))
        await run_db(enforce, self.auth)
        turn = await run_db(services.turn_start, workspace=self.workspace,
                            session_id=self.session_id, content=content, user_id=self.user_id,
                            idempotency_key=key)
        if turn.spec is not None:
            runner.start(turn.spec)
        self._follow(turn.execution_id, 0)

    async def _cancel(self, frame: dict[str, Any]) -> None:
        execution_id = frame.get("execution_id")
        if not isinstance(execution_id, str) or not execution_id:
            raise ApiError("execution_id is required.", code="validation_error",
                           details={"execution_id": ["This field is required."]})

        def request() -> Execution:
            execution = Execution.objects.filter(
                pk=execution_id, workspace=self.workspace, session_id=self.session_id
            ).first()
            if execution is None:
                raise ApiError("Execution not found in this session.", code="not_found",
                               status_code=404)
            return execution_request_cancel(execution=execution)

        await run_db(request)
        await runner.request_cancel(execution_id)
