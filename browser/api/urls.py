"""Routes of the browser chat API (no trailing slashes)."""

from django.urls import path

from browser.api import chat as views

urlpatterns = [
    path("browser/chat/token", views.chat_token),
    path("browser/chat/sessions", views.sessions),
    path("browser/chat/sessions/<str:session_id>", views.session),
    path("browser/chat/sessions/<str:session_id>/messages", views.messages),
    path("browser/chat/sessions/<str:session_id>/messages/stream", views.send_stream),
    path("browser/chat/sessions/<str:session_id>/feedback", views.feedback),
]
