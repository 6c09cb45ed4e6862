from django.apps import AppConfig


class PromptrailsConfig(AppConfig):
    name = "promptrails"
    verbose_name = "Tenancy"
