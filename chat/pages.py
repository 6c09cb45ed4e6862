"""The chat page (served at /) and sign-in."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from promptrails.models import Membership


def with_csp(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @functools.wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = settings.CHAT_PAGE_CSP
        return response

    return inner


@with_csp
@login_required(login_url="/login")
@ensure_csrf_cookie
def chat_page(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)  # login_required: never anonymous here
    memberships = Membership.objects.filter(user=user).select_related("workspace")
    return render(request, "chat/page.html", {"memberships": memberships})


login_page = with_csp(auth_views.LoginView.as_view(template_name="registration/login.html",
                                                   next_page="/"))
