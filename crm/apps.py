from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self) -> None:
        from crm.entities import ENTITIES
        from history.subjects import Subject, subject_register

        # Records are linked from the history by its pages (history.display), which know
        # the CRM: only their names are registered here.
        for entity in ENTITIES.values():
            subject_register(Subject(type=entity.type.value, label=entity.type.label, records=True))
