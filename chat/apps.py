from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from chat.selectors import session_exists
        from chat.services import turn_interrupted, turn_resume_hooks
        from executions.agent_runs import register_session_lookup
        from executions.approvals import register_resume_hook
        from executions.services import register_recovery_hook

        register_recovery_hook(turn_interrupted)
        register_resume_hook(turn_resume_hooks)
        register_session_lookup(session_exists)
