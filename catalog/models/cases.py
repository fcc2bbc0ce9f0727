"""Cases, their images and case sets."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .taxonomy import Condition, ManagementOption, Taxonomy


class CaseSet(models.Model):
    name = models.CharField(max_length=200, unique=True)
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="case_sets")
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    reference_library = models.BooleanField(
        default=False,
        help_text="A reference library of verified cases for similar-case displays; never a study's case set.",
    )

    class Meta:
        db_table = "readerstudy_caseset"

    def __str__(self) -> str:
        return self.name


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "O", _("Other")
    UNKNOWN = "U", _("Unknown")


class ReferenceSource(models.TextChoices):
    HISTOPATHOLOGY = "histopathology", _("Histopathology")
    EXPERT_PANEL = "expert_panel", _("Expert panel")
    FOLLOW_UP = "follow_up", _("Follow-up")
    CLINICAL = "clinical", _("Clinical diagnosis")


class Case(models.Model):
    case_set = models.ForeignKey(CaseSet, on_delete=models.CASCADE, related_name="cases")
    key = models.CharField(max_length=100, help_text="The case id from the manifest.")
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    body_site = models.CharField(max_length=100, blank=True)
    fitzpatrick = models.PositiveSmallIntegerField(null=True, blank=True)
    duration = models.CharField(max_length=100, blank=True)
    history = models.TextField(blank=True)
    extra = models.JSONField(default=dict, blank=True)
    translations = models.JSONField(
        default=dict, blank=True,
        help_text='Case text per language: {"history": {"zh-hans": "..."}, "body_site": {...}, "duration": {...}}.',
    )
    reference = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="reference_cases")
    reference_source = models.CharField(max_length=20, choices=ReferenceSource.choices)
    reference_management = models.ForeignKey(
        ManagementOption, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "readerstudy_case"
        constraints = [
            models.UniqueConstraint(fields=["case_set", "key"], name="case_key_unique"),
            models.CheckConstraint(
                condition=models.Q(fitzpatrick__isnull=True) | models.Q(fitzpatrick__gte=1, fitzpatrick__lte=6),
                name="case_fitzpatrick_range",
            ),
            models.CheckConstraint(condition=models.Q(age__isnull=True) | models.Q(age__lte=130), name="case_age_range"),
        ]
        ordering = ["case_set", "key"]

    def __str__(self) -> str:
        return self.key


class ImageRole(models.TextChoices):
    CLINICAL = "clinical", _("Clinical")
    DERMOSCOPIC = "dermoscopic", _("Dermoscopic")
    OTHER = "other", _("Other")


class CaseImage(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="images")
    role = models.CharField(max_length=20, choices=ImageRole.choices)
    order = models.PositiveSmallIntegerField(default=0)
    file = models.CharField(max_length=300, help_text="Path under MEDIA_ROOT, named by content hash.")
    thumbnail = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    original_name = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "readerstudy_caseimage"
        constraints = [models.UniqueConstraint(fields=["case", "order"], name="case_image_order_unique")]
        ordering = ["case", "order"]

    def __str__(self) -> str:
        return f"{self.get_role_display()} image {self.order} of case {self.case_id}"
