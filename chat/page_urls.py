from django.contrib.auth import views as auth_views
from django.urls import path

from chat import pages

urlpatterns = [
    path("", pages.chat_page, name="chat-page"),
    path("login", pages.login_page, name="login"),
    path("logout", auth_views.LogoutView.as_view(next_page="/login"), name="logout"),
]
