"""Versioned diagnostic taxonomies, management options and the appropriateness matrix."""

from __future__ import annotations

from django.db import models


class Taxonomy(models.Model):
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=30)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "readerstudy_taxonomy"
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="taxonomy_name_version_unique")]
        ordering = ["name", "version"]
        verbose_name_plural = "taxonomies"

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ConditionGroup(models.TextChoices):
    INFLAMMATORY = "inflammatory", "Inflammatory"
    INFECTIOUS = "infectious", "Infectious"
    PIGMENTARY = "pigmentary", "Pigmentary"
    HAIR_NAIL = "hair_nail", "Hair and nail"
    BENIGN = "benign_neoplasm", "Benign neoplasm"
    PREMALIGNANT = "premalignant", "Premalignant"
    MALIGNANT = "malignant_neoplasm", "Malignant neoplasm"
    VASCULAR = "vascular", "Vascular"
    OTHER = "other", "Other"


class Condition(models.Model):
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.CASCADE, related_name="conditions")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    synonyms = models.JSONField(default=list, blank=True)
    # {language: {"name", "synonyms", "status", ["reviewer", "reviewed_on"]}}; English is name/synonyms
    # (services/taxonomy.py validates; only the review status may change after loading).
    translations = models.JSONField(default=dict, blank=True)
    group = models.CharField(max_length=40, choices=ConditionGroup.choices)
    malignant = models.BooleanField(default=False)
    icd10 = models.CharField(max_length=20, blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "readerstudy_condition"
        constraints = [models.UniqueConstraint(fields=["taxonomy", "code"], name="condition_code_unique")]
        ordering = ["taxonomy", "order", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ManagementOption(models.Model):
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.CASCADE, related_name="management_options")
    code = models.CharField(max_length=40)
    label = models.CharField(max_length=100)
    translations = models.JSONField(default=dict, blank=True)  # {language: {"label", "status", ...}}
    order = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "readerstudy_managementoption"
        constraints = [models.UniqueConstraint(fields=["taxonomy", "code"], name="management_code_unique")]
        ordering = ["taxonomy", "order"]

    def __str__(self) -> str:
        return self.label


class TranslationStatus(models.TextChoices):
    MACHINE_DRAFTED = "machine_drafted", "Machine-drafted"
    REVIEWED = "reviewed", "Reviewed by a clinician"


class Appropriateness(models.TextChoices):
    OPTIMAL = "optimal", "Optimal"
    APPROPRIATE = "appropriate", "Appropriate"
    INAPPROPRIATE = "inappropriate", "Inappropriate"
    DANGEROUS = "dangerous", "Dangerous"


class ManagementRating(models.Model):
    """One cell of the appropriateness matrix: condition x management option."""

    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="management_ratings")
    management = models.ForeignKey(ManagementOption, on_delete=models.CASCADE, related_name="ratings")
    rating = models.CharField(max_length=20, choices=Appropriateness.choices)

    class Meta:
        db_table = "readerstudy_managementrating"
        constraints = [
            models.UniqueConstraint(fields=["condition", "management"], name="management_rating_unique")
        ]

    def __str__(self) -> str:
        return f"{self.condition_id} x {self.management_id}: {self.rating}"
