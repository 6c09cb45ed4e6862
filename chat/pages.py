"""The chat page (served at /) and sign-in."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from promptrails.models import Membership


@login_required(login_url="/login")
@ensure_csrf_cookie
def chat_page(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)  # login_required: never anonymous here
    memberships = Membership.objects.filter(user=user).select_related("workspace")
    return render(request, "chat/page.html", {"memberships": memberships})
