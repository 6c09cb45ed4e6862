from django.contrib.auth import views as auth_views
from django.urls import path

from chat import pages

urlpatterns = [
    path("", pages.chat_page, name="chat-page"),
    path("s/<str:session_id>", pages.chat_page, name="chat-page-session"),
    path("login", pages.login_page, name="login"),
    path("signin/<str:token>", pages.signin_link, name="signin-link"),
    path("logout", auth_views.LogoutView.as_view(next_page="/login"), name="logout"),
    path("favicon.ico", pages.favicon, name="favicon"),
]
