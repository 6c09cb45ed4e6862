"""Routes of the chat API (no trailing slashes)."""

from django.urls import path

from chat.api import feedback, sessions, turns

urlpatterns = [
    path("chat/sessions", sessions.SessionListView.as_view()),
    path("chat/sessions/<str:session_id>", sessions.SessionDetailView.as_view()),
    path("chat/sessions/<str:session_id>/messages", turns.messages),
    path("chat/sessions/<str:session_id>/messages/stream", turns.send_message_stream),
    path("chat/sessions/<str:session_id>/feedback", feedback.FeedbackView.as_view()),
    path("chat/sessions/<str:session_id>/ws-ticket", sessions.WsTicketView.as_view()),
]
