from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from chat.services import turn_interrupted
        from executions.services import register_recovery_hook

        register_recovery_hook(turn_interrupted)
