"""Entry point for `celery -A readerstudy`: the project's settings, then the app from `common.celery`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")

from common.celery import app  # noqa: E402

__all__ = ("app",)
