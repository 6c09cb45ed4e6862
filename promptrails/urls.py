from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from executions.api.urls import approval_urlpatterns
from promptrails.api.errors import api_not_found
from promptrails.api.health import healthz

handler404 = "promptrails.api.errors.handler404"
handler500 = "promptrails.api.errors.handler500"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="api-docs"),
    path("api/v1/", include("agents.api.urls")),
    path("api/v1/", include("executions.api.urls")),
    path("api/v1/", include("chat.api.urls")),
    path("api/v1/", include("browser.api.urls")),
    path("api/v1/", include(approval_urlpatterns)),
    # exempt: an unknown route is a 404 whatever the method (not a CSRF 403)
    re_path(r"^api/.*$", csrf_exempt(api_not_found)),
    path("", include("chat.page_urls")),
]
