"""The audit log: one append-only table of who did what, when, to which object.

The table keeps its name `readerstudy_auditevent` (it predates this app); the database refuses
UPDATE (and on PostgreSQL DELETE) of its rows, see migration 0001. `study_id` is a plain number,
not a foreign key: the log sits below the studies, and a record outlives what it describes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=60, db_index=True)
    study_id = models.BigIntegerField(null=True, blank=True, db_index=True,
                                      help_text="The study the event belongs to, if any.")
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "readerstudy_auditevent"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"
