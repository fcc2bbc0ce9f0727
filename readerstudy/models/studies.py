"""Studies, arms, membership, reader profiles, consent, invitations and schedules."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.languages import StudyLanguage
from catalog.models import Case, CaseSet


class Design(models.TextChoices):
    SEQUENTIAL = "sequential", "Sequential (unaided, then AI, revise)"
    RANDOMISED_BLOCKS = "randomised_blocks", "Randomised blocks"
    CROSSOVER = "crossover", "Crossover with washout"
    PARALLEL = "parallel", "Parallel groups"
    BENCHMARK = "benchmark", "Benchmark (unaided only)"


class StudyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    LAUNCHED = "launched", "Launched"
    PAUSED = "paused", "Paused"
    CLOSED = "closed", "Closed"


def default_study_languages() -> list[str]:
    return [StudyLanguage.EN.value]


class Study(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    case_set = models.ForeignKey(CaseSet, on_delete=models.PROTECT, related_name="studies")
    design = models.CharField(max_length=30, choices=Design.choices)
    status = models.CharField(max_length=20, choices=StudyStatus.choices, default=StudyStatus.DRAFT)
    seed = models.BigIntegerField(default=0)
    settings = models.JSONField(default=dict, blank=True, help_text="Answer form and study options.")
    instructions = models.TextField(blank=True)
    consent_text = models.TextField(blank=True)
    consent_version = models.CharField(max_length=30, default="1")
    languages = models.JSONField(
        default=default_study_languages, blank=True,
        help_text="Languages offered to readers (codes of StudyLanguage); texts must exist in each to launch.",
    )
    default_language = models.CharField(max_length=10, choices=StudyLanguage.choices, default=StudyLanguage.EN)
    texts_frozen = models.JSONField(
        default=dict, blank=True,
        help_text="The current per-language study texts, copied at launch: {kind: {language: [version, text]}}.",
    )
    model_version = models.ForeignKey(
        "inference.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="studies"
    )
    reference_library = models.ForeignKey(
        CaseSet, null=True, blank=True, on_delete=models.PROTECT, related_name="library_of_studies",
        help_text="Reference library for similar-case displays (a case set kept apart from the study's cases).",
    )
    created_by = models.ForeignKey(django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class Site(models.Model):
    """A place readers join from (a hospital, a country's network): its own invitation links, its
    readers' readings carry it in the export."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=100)
    country = models.CharField(max_length=60, blank=True)
    default_language = models.CharField(max_length=10, choices=StudyLanguage.choices, default=StudyLanguage.EN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="site_name_unique")]
        ordering = ["study", "pk"]

    def __str__(self) -> str:
        return self.name


class TextKind(models.TextChoices):
    CONSENT = "consent", "Consent text"
    INSTRUCTIONS = "instructions", "Instructions"


class StudyText(models.Model):
    """One version of the study's consent text or instructions in one language (never edited:
    a change is a new version; the highest version is the current one)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="texts")
    kind = models.CharField(max_length=20, choices=TextKind.choices)
    language = models.CharField(max_length=10, choices=StudyLanguage.choices)
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_by = models.ForeignKey(django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "kind", "language", "version"], name="study_text_version_unique")
        ]
        ordering = ["study", "kind", "language", "-version"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.language}) v{self.version} of study {self.study_id}"


class ArmKind(models.TextChoices):
    UNAIDED = "unaided", "Unaided"
    AI = "ai", "AI-assisted"


class Arm(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    name = models.SlugField(max_length=40)
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ArmKind.choices)
    order = models.PositiveSmallIntegerField(default=0)
    assist = models.JSONField(
        default=dict, blank=True,
        help_text="AI display: display (differential, malignancy, similar_cases, concepts, learned_concepts), "
                  "top_k, show_probabilities, faulty_rate, on_request and the display's own options.",
    )
    model_version = models.ForeignKey(
        "inference.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="arms",
        help_text="This arm's model, when it is not the study's.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="arm_name_unique")]
        ordering = ["study", "order"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "Coordinator"
    READER = "reader", "Reader"
    STATISTICIAN = "statistician", "Statistician"


class Membership(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    pseudonym = models.CharField(max_length=20, help_text="Reader id used in exports.")
    reader_index = models.PositiveIntegerField(null=True, blank=True, help_text="Enrolment order of readers.")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="memberships",
                             help_text="Set when the reader joined through a site's invitation link.")
    consented_at = models.DateTimeField(null=True, blank=True)
    demographics_done = models.BooleanField(default=False)
    instructions_seen = models.BooleanField(default=False)
    session1_completed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="membership_unique"),
            models.UniqueConstraint(fields=["study", "pseudonym"], name="membership_pseudonym_unique"),
            models.UniqueConstraint(
                fields=["study", "reader_index"],
                condition=models.Q(reader_index__isnull=False),
                name="membership_reader_index_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pseudonym} ({self.role}) in {self.study_id}"


class Profession(models.TextChoices):
    GP = "gp", _("General practitioner")
    NURSE = "nurse", _("Nurse")
    DERMATOLOGIST = "dermatologist", _("Dermatologist")
    DERM_TRAINEE = "derm_trainee", _("Dermatology trainee")
    OTHER_DOCTOR = "other_doctor", _("Other physician")
    STUDENT = "student", _("Medical student")
    OTHER = "other", _("Other")


class DermoscopyUse(models.TextChoices):
    NEVER = "never", _("Never")
    SOMETIMES = "sometimes", _("Sometimes")
    REGULARLY = "regularly", _("Regularly")


class AgeBand(models.TextChoices):
    UNDER_30 = "<30", _("Under 30")
    FROM_30 = "30-39", _("30-39")
    FROM_40 = "40-49", _("40-49")
    FROM_50 = "50-59", _("50-59")
    OVER_60 = "60+", _("60 or over")


class ReaderProfile(models.Model):
    user = models.OneToOneField(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reader_profile")
    profession = models.CharField(max_length=20, choices=Profession.choices)
    years_experience = models.PositiveSmallIntegerField()
    dermoscopy_use = models.CharField(max_length=20, choices=DermoscopyUse.choices)
    country = models.CharField(max_length=60)
    age_band = models.CharField(max_length=10, choices=AgeBand.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(years_experience__lte=70), name="profile_years_range")
        ]

    def __str__(self) -> str:
        return f"Profile of user {self.user_id}"


class MembershipDemographics(models.Model):
    """What the reader answered about themselves for this study (a snapshot; the export reads it).

    Given once per membership, pre-filled from their last answers (:class:`ReaderProfile`), so
    answering again in a later study never changes an earlier study's readings table. Changed
    only by an audited correction (``services.studies.demographics_correct``).
    """

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="demographics")
    profession = models.CharField(max_length=20, choices=Profession.choices)
    years_experience = models.PositiveSmallIntegerField()
    dermoscopy_use = models.CharField(max_length=20, choices=DermoscopyUse.choices)
    country = models.CharField(max_length=60)
    age_band = models.CharField(max_length=10, choices=AgeBand.choices)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    language = models.CharField(max_length=10, blank=True, default="", help_text="Interface language when answered.")
    given_at = models.DateTimeField(auto_now_add=True)
    corrected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "membership demographics"
        constraints = [
            models.CheckConstraint(condition=models.Q(years_experience__lte=70), name="demographics_years_range")
        ]

    def __str__(self) -> str:
        return f"Demographics of membership {self.membership_id}"


class ConsentRecord(models.Model):
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="consents")
    consent_version = models.CharField(max_length=30)
    text_sha256 = models.CharField(max_length=64)
    language = models.CharField(max_length=10, blank=True, default="", help_text="Language of the text shown.")
    text_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Version of the per-language consent text shown (none: the study's own field)."
    )
    consented_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "consent_version"], name="consent_once_per_version")
        ]

    def __str__(self) -> str:
        return f"Consent v{self.consent_version} by membership {self.membership_id}"


class Invitation(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invitations")
    token = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.READER)
    single_use = models.BooleanField(default=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Cap for open links.")
    uses = models.PositiveIntegerField(default=0)
    email = models.EmailField(blank=True)
    label = models.CharField(max_length=100, blank=True, help_text="Where the link was sent, e.g. “clinic A”.")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="invitations",
                             help_text="Readers joining through this link belong to this site.")
    created_by = models.ForeignKey(django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"Invitation to study {self.study_id} ({self.role})"


class ScheduleItem(models.Model):
    """One (case, arm, phase, session) a reader must read, generated once at launch or enrolment."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="schedule_items")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="schedule_items")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="schedule_items")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="schedule_items")
    position = models.PositiveIntegerField()
    phase = models.PositiveSmallIntegerField(default=1)
    session = models.PositiveSmallIntegerField(default=1)
    training = models.BooleanField(default=False)
    repeat = models.BooleanField(default=False)
    shown_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "position"], name="schedule_position_unique"),
            models.CheckConstraint(condition=models.Q(phase__in=[1, 2]), name="schedule_phase_valid"),
            models.CheckConstraint(condition=models.Q(session__in=[1, 2]), name="schedule_session_valid"),
        ]
        ordering = ["membership", "position"]
        indexes = [models.Index(fields=["study", "case"])]

    def __str__(self) -> str:
        return f"Item {self.position} of membership {self.membership_id}"
