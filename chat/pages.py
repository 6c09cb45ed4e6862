"""The chat page (served at / and /s/<session id>), sign-in, one-time sign-in links."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_safe

from chat.selectors import session_for_member
from promptrails.models import Membership
from promptrails.services import signin_link_redeem


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
def chat_page(request: HttpRequest, session_id: str | None = None) -> HttpResponse:
    """The page; /s/<id> opens that session, in its workspace (one of the user's) and with
    its agent. An id that is none of the user's sessions opens the page with a notice."""
    user = cast(User, request.user)  # login_required: never anonymous here
    memberships = list(Membership.objects.filter(user=user).select_related("workspace")
                       .order_by("created_at"))
    session = session_for_member(user=user, session_id=session_id) if session_id else None
    workspace_id = session.workspace_id if session is not None else (
        memberships[0].workspace_id if memberships else None)
    context = {
        "memberships": memberships,
        "workspace_id": workspace_id,
        "session": session,
        "missing_session": session_id is not None and session is None,
        "add_membership_url": f"/admin/promptrails/membership/add/?user={user.pk}"
        if user.is_staff else None,
    }
    return render(request, "chat/page.html", context,
                  status=404 if context["missing_session"] else 200)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    next_page = "/"


login_page = with_csp(LoginView.as_view())


@with_csp
@never_cache
@require_GET
def signin_link(request: HttpRequest, token: str) -> HttpResponseBase:
    """A one-time sign-in link (printed by `manage.py bootstrap`): signs in and opens the page;
    an expired, used or forged one shows the sign-in page saying so."""
    user = signin_link_redeem(token=token)
    if user is None:
        form = AuthenticationForm(request)
        return render(request, "registration/login.html",
                      {"form": form, "link_invalid": True}, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect("/")


@require_safe
def favicon(request: HttpRequest) -> HttpResponseBase:
    return HttpResponseRedirect(static("chat/favicon.svg"))
