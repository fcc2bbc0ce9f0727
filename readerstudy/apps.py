from django.apps import AppConfig


class ReaderstudyConfig(AppConfig):
    name = "readerstudy"
    verbose_name = "Reader studies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Tasks are enqueued by name; importing the module registers them in every process.
        from common.queueing import register_pending_work
        from readerstudy import tasks  # noqa: F401
        from readerstudy.services.analysis_runs import ANALYSIS_TASK, pending_analysis_runs, register_run_kind
        from readerstudy.services.arm_runs import COMPARE_ARMS, compare_arms_analysis
        from readerstudy.services.power_runs import power_analysis

        register_pending_work(ANALYSIS_TASK, pending_analysis_runs)
        register_run_kind("power", power_analysis)
        register_run_kind(COMPARE_ARMS, compare_arms_analysis)
