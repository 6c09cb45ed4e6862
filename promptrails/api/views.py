"""Base views: workspace-scoped, enveloped."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import generics, mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from promptrails.api.errors import NotFound
from promptrails.models import Workspace
from promptrails.tenancy import WorkspaceAuth, scoped


def request_workspace(request: Request) -> Workspace:
    auth = request.auth
    assert isinstance(auth, WorkspaceAuth)
    return auth.workspace


def data(payload: Any, status_code: int = status.HTTP_200_OK, **kwargs: Any) -> Response:
    return Response({"data": payload}, status=status_code, **kwargs)


class WorkspaceMixin:
    """get_queryset() is always narrowed to the request's workspace via tenancy.scoped."""

    request: Request
    model: type[Model]
    workspace_field = "workspace"

    @property
    def workspace(self) -> Workspace:
        return request_workspace(self.request)

    def base_queryset(self) -> QuerySet[Any]:
        return self.model._default_manager.all()

    def get_queryset(self) -> QuerySet[Any]:
        return scoped(self.base_queryset(), self.workspace, self.workspace_field)

    def get_object_or_404(self, pk: str) -> Any:
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            raise NotFound(f"{self.model.__name__} not found.")
        return obj


class EnvelopeListCreate(WorkspaceMixin, mixins.ListModelMixin, generics.GenericAPIView):  # type: ignore[misc]
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)


class EnvelopeRetrieveUpdateDestroy(WorkspaceMixin, generics.GenericAPIView):  # type: ignore[misc]
    lookup_url_kwarg = "pk"

    def get_object(self) -> Any:
        return self.get_object_or_404(self.kwargs[self.lookup_url_kwarg])

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return data(self.get_serializer(self.get_object()).data)

    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
