"""Readings (append-only), the audit log and analysis runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .studies import ScheduleItem, Site, Study


class Reading(models.Model):
    """A submitted answer. Never updated or deleted: a database trigger refuses both."""

    schedule_item = models.OneToOneField(ScheduleItem, on_delete=models.PROTECT, related_name="reading")
    idempotency_key = models.UUIDField(unique=True)
    differential = models.JSONField(help_text="Condition codes, most likely first.")
    confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    management = models.CharField(max_length=40, blank=True)
    malignancy_score = models.PositiveSmallIntegerField(null=True, blank=True)
    other_text = models.CharField(
        max_length=200, blank=True, default="",
        help_text='Free text of an "Other / not listed" diagnosis (code OTHER in the differential).',
    )
    shown_at = models.DateTimeField()
    first_input_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField()
    active_ms = models.PositiveIntegerField(default=0)
    timed_out = models.BooleanField(default=False)
    ai_snapshot = models.JSONField(null=True, blank=True, help_text="Exactly what AI output was displayed.")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             help_text="The reader's site when the answer was given.")
    language = models.CharField(max_length=10, blank=True, default="",
                                help_text="The reader's interface language when the answer was given.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(confidence__isnull=True) | models.Q(confidence__gte=1, confidence__lte=5),
                name="reading_confidence_range",
            ),
            models.CheckConstraint(
                condition=models.Q(malignancy_score__isnull=True) | models.Q(malignancy_score__lte=100),
                name="reading_malignancy_range",
            ),
        ]
        ordering = ["submitted_at"]

    def __str__(self) -> str:
        return f"Reading of schedule item {self.schedule_item_id}"


class ReadingDraft(models.Model):
    """The reader's unfinished answer to one schedule item, kept so that leaving loses nothing.

    One per schedule item (upserted), never a reading: not counted in progress, never exported,
    deleted when the reading is stored. ``data`` holds the case form's fields as posted
    (differential, other_text, confidence, management, malignancy)."""

    schedule_item = models.OneToOneField(ScheduleItem, on_delete=models.CASCADE, related_name="draft")
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Draft for schedule item {self.schedule_item_id}"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class AnalysisRun(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="analysis_runs")
    kind = models.CharField(max_length=20, default="compare")
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    results = models.JSONField(null=True, blank=True)
    report_path = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Analysis {self.pk} ({self.status})"
