from django.urls import path

from chat import turn_views, views

urlpatterns = [
    path("chat/sessions", views.SessionListView.as_view()),
    path("chat/sessions/<str:session_id>", views.SessionDetailView.as_view()),
    path("chat/sessions/<str:session_id>/messages", turn_views.messages),
    path("chat/sessions/<str:session_id>/messages/stream", turn_views.send_message_stream),
    path("chat/sessions/<str:session_id>/feedback", views.FeedbackView.as_view()),
    path("chat/sessions/<str:session_id>/ws-ticket", views.WsTicketView.as_view()),
]
