from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "Audit log and queueing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from common import tasks  # noqa: F401  (beat task and the worker-start hook)
