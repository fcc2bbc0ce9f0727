"""The Celery application: tasks run eagerly without a broker, on workers with one.

`celery -A readerstudy` finds it through `readerstudy.celery`, which sets the settings module.
"""

from celery import Celery

app = Celery("readerstudy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def eager() -> bool:
    """True when tasks run in the calling process (no broker: the zero-setup default and tests)."""
    return bool(app.conf.task_always_eager)
