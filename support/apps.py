from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from history.subjects import subject_register
        from support.subjects import SUBJECT

        subject_register(SUBJECT)
