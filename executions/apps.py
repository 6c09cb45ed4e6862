from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"

    def ready(self) -> None:
        from executions.services import register_recovery_hook
        from executions.traces import spans_interrupted

        register_recovery_hook(spans_interrupted)
