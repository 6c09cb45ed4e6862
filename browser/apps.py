from django.apps import AppConfig


class BrowserConfig(AppConfig):
    """Chat on public web pages: browser-only keys and the browser chat API (docs/api.md §10)."""

    name = "browser"
    verbose_name = "Browser chat"
