from django.apps import AppConfig


class RecyclebinConfig(AppConfig):
    name = "recyclebin"
    verbose_name = "Recycle bin"
