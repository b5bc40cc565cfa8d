from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from history.subjects import event_types_register, subject_register
        from support.subjects import SUBJECT, RequestEvent

        subject_register(SUBJECT)
        event_types_register(RequestEvent.choices)
