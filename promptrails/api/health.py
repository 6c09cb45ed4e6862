"""GET /healthz: database and channel layer health."""

from __future__ import annotations

import asyncio
import sys

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from promptrails.api.schema import documented_by, errors

_UP_DOWN = ("ok", "down")
_HEALTH = inline_serializer("Health", fields={
    "status": serializers.ChoiceField(choices=("ok", "unavailable")),
    "database": serializers.ChoiceField(choices=_UP_DOWN),
    "channel_layer": serializers.ChoiceField(choices=_UP_DOWN),
})


class _HealthDoc(APIView):
    """OpenAPI only (never routed): `healthz`."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="healthz", auth=[], tags=["health"],
                   description="Database and channel-layer health; no authentication.",
                   responses={
        200: OpenApiResponse(_HEALTH, description="Healthy."),
        503: OpenApiResponse(_HEALTH, description="The database or channel layer is down."),
        **errors(400),
    })
    def get(self, request: Request) -> Response:  # pragma: no cover
        raise NotImplementedError


def _db_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:  # noqa: BLE001 - health reports, never raises
        return False
    finally:
        connection.close()


async def _layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        channel = await asyncio.wait_for(layer.new_channel(), 2)
        await asyncio.wait_for(layer.send(channel, {"type": "health.ping"}), 2)
        message = await asyncio.wait_for(layer.receive(channel), 2)
        return bool(message.get("type") == "health.ping")
    except Exception:  # noqa: BLE001
        return False


@documented_by(_HealthDoc)
async def healthz(request: HttpRequest) -> JsonResponse:
    db_ok = await sync_to_async(_db_ok, thread_sensitive=False)()
    layer_ok = await _layer_ok()
    healthy = db_ok and layer_ok
    body: dict[str, object] = {
        "status": "ok" if healthy else "unavailable",
        "database": "ok" if db_ok else "down",
        "channel_layer": "ok" if layer_ok else "down",
    }
    if request.GET.get("verbose") == "1":  # for soak runs and operators
        from executions.runner import busy_count, running_count

        body["process"] = {"runs": running_count(), "busy": busy_count(),
                           "tasks": len(asyncio.all_tasks()),
                           # live Python memory (pymalloc blocks in use), unlike RSS, drops
                           # when objects are freed: growth here is a leak, RSS alone is not
                           "python_blocks": sys.getallocatedblocks()}
    return JsonResponse(body, status=200 if healthy else 503)
