from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "AI inference"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Tasks are enqueued by name; importing the module registers them in every process.
        from common.queueing import register_pending_work
        from inference import tasks  # noqa: F401
        from inference.displays import pending_display_jobs
        from inference.precompute import pending_precompute_jobs
        from inference.services import DISPLAY_TASK, PRECOMPUTE_TASK

        register_pending_work(PRECOMPUTE_TASK, pending_precompute_jobs)
        register_pending_work(DISPLAY_TASK, pending_display_jobs)
