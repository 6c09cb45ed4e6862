from django.apps import AppConfig


class PromptrailsConfig(AppConfig):
    name = "promptrails"
    verbose_name = "Tenancy"

    def ready(self) -> None:
        from promptrails.api import schema  # noqa: F401 - registers the OpenAPI auth schemes
