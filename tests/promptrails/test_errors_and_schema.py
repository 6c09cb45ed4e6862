from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.urls import path
from openapi_spec_validator import validate
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from promptrails import urls as root_urls
from tests.helpers import Tenant, assert_error


@api_view(["GET"])
@permission_classes([AllowAny])
def _boom(request: Request) -> Response:
    raise RuntimeError("secret stack detail")


urlpatterns = [path("api/v1/boom", _boom), *root_urls.urlpatterns]


@pytest.mark.urls("tests.promptrails.test_errors_and_schema")
def test_500_is_internal_error_without_stack(db: None) -> None:
    from django.test import Client

    response = Client(raise_request_exception=False).get("/api/v1/boom")
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["details"] == {}


def test_openapi_document_validates(tenant: Tenant) -> None:
    response = tenant.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content)
    validate(document)
    assert "/api/v1/chat/sessions" in document["paths"]


def test_docs_page_served(tenant: Tenant) -> None:
    assert tenant.client.get("/api/docs").status_code == 200


@pytest.mark.django_db
def test_bootstrap_json_is_one_object_and_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    from agents.models import Agent
    from promptrails.models import ApiKey, Workspace

    call_command("bootstrap", "--workspace", "Boot", "--json")
    first = json.loads(capsys.readouterr().out)
    call_command("bootstrap", "--workspace", "Boot", "--json")
    second = json.loads(capsys.readouterr().out)
    assert set(first) == {"workspace_id", "api_key", "agent_id", "base_url", "signin_url",
                          "username"}
    assert first["workspace_id"] == second["workspace_id"]
    assert first["agent_id"] == second["agent_id"]
    assert first["api_key"] != second["api_key"]
    assert Workspace.objects.filter(name="Boot").count() == 1
    # the demo agent and the approval demo (its calculator waits for a person), once each
    assert sorted(Agent.objects.filter(workspace_id=first["workspace_id"])
                  .values_list("name", flat=True)) == ["Approval demo", "Demo agent"]
    assert ApiKey.objects.filter(workspace_id=first["workspace_id"]).count() == 2


def test_every_operation_documents_the_400_any_route_can_return(tenant: Tenant) -> None:
    """A query parameter holding a NUL character is refused before routing, on every route
    (found by the fuzzer on the execution stream, whose document lacked 400)."""
    document = json.loads(tenant.client.get("/api/v1/openapi.json").content)
    lacking = [f"{method.upper()} {path}"
               for path, operations in document["paths"].items()
               for method, operation in operations.items()
               if method in {"get", "post", "put", "patch", "delete"}
               and "400" not in operation["responses"]]
    assert lacking == []
    response = tenant.client.get("/api/v1/executions/nothing/stream?x=%00")
    assert_error(response, 400, "validation_error")
