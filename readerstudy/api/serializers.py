"""Input and output serializers, one pair per operation where the flow is more than CRUD.

Nothing a reader may see carries a reference diagnosis, and model outputs reach readers only
through :func:`readerstudy.selectors.blinding.ai_display_for_item` (the one blinding rule).

Long module: the API's input and output shapes side by side, so the OpenAPI schema and the blinding
notes are read in one place; each class is short.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from catalog.models import Case, CaseImage, CaseSet, Taxonomy
from inference.models import ModelOutput, ModelVersion
from readerstudy.models import AnalysisRun, Arm, ArmKind, Design, Invitation, Role, ScheduleItem, Study
from readerstudy.services.analysis_runs import OUTCOMES
from readerstudy.services.studies.texts import case_texts

# --- errors ---------------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# --- taxonomies -----------------------------------------------------------------------------------


class TaxonomySerializer(serializers.ModelSerializer):
    n_conditions = serializers.IntegerField(read_only=True)

    class Meta:
        model = Taxonomy
        fields = ["id", "name", "version", "description", "n_conditions", "created_at"]


class ConditionSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    synonyms = serializers.ListField(child=serializers.CharField())
    group = serializers.CharField()
    malignant = serializers.BooleanField()
    icd10 = serializers.CharField(allow_blank=True)
    management = serializers.DictField(child=serializers.CharField(), help_text="Option code -> rating.")


class ManagementOptionSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class TaxonomyDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    management_options = ManagementOptionSerializer(many=True)
    conditions = ConditionSerializer(many=True)


# --- case sets and cases --------------------------------------------------------------------------


class CaseSetSerializer(serializers.ModelSerializer):
    n_cases = serializers.IntegerField(read_only=True)

    class Meta:
        model = CaseSet
        fields = ["id", "name", "taxonomy", "description", "n_cases", "created_at"]


class CaseImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = CaseImage
        fields = ["id", "role", "order", "width", "height", "sha256"]


class CaseSerializer(serializers.ModelSerializer):
    """A case with its reference labels: for coordinators and statisticians only."""

    reference = serializers.SlugRelatedField(slug_field="code", read_only=True)
    reference_management = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    images = CaseImageSerializer(many=True, read_only=True)

    class Meta:
        model = Case
        fields = ["id", "key", "age", "sex", "body_site", "fitzpatrick", "duration", "history", "extra",
                  "reference", "reference_source", "reference_management", "images"]


class CaseSetImportSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    taxonomy = serializers.PrimaryKeyRelatedField(queryset=Taxonomy.objects.all())
    manifest = serializers.FileField(help_text="CSV or JSON manifest.")
    images = serializers.FileField(help_text="A .zip of the images named in the manifest.")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class CaseSetImportResultSerializer(serializers.Serializer):
    case_set = CaseSetSerializer()
    created = serializers.BooleanField()
    n_cases = serializers.IntegerField()
    n_images = serializers.IntegerField()
    messages = serializers.ListField(child=serializers.CharField())


# --- studies --------------------------------------------------------------------------------------


class ArmSerializer(serializers.ModelSerializer):
    name = serializers.SlugField(max_length=40)
    kind = serializers.ChoiceField(choices=ArmKind.choices)
    assist = serializers.DictField(required=False, default=dict)

    class Meta:
        model = Arm
        fields = ["name", "label", "kind", "assist"]


class StudySerializer(serializers.ModelSerializer):
    arms = ArmSerializer(many=True, read_only=True)
    model_version = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    case_set = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Study
        fields = ["slug", "title", "description", "design", "status", "case_set", "model_version", "seed",
                  "settings", "instructions", "consent_text", "consent_version", "arms", "created_at",
                  "launched_at", "closed_at"]
        read_only_fields = fields


class ReaderStudySerializer(serializers.ModelSerializer):
    """A study as its readers see it: what they are asked to do, never the design, the arms' settings
    (assist, faulty rate), the seed or the study settings (allocation concealment)."""

    class Meta:
        model = Study
        fields = ["slug", "title", "description", "status", "instructions", "consent_text", "consent_version",
                  "created_at", "launched_at", "closed_at"]
        read_only_fields = fields


class StudyForUserSerializer(serializers.BaseSerializer):
    """A study as the asking user may see it: readers get :class:`ReaderStudySerializer`, staff the
    full :class:`StudySerializer` (context ``reader_study_ids``: the studies the user reads)."""

    def to_representation(self, study: Study) -> dict:
        if study.pk in self.context.get("reader_study_ids", ()):
            return ReaderStudySerializer(study).data
        return StudySerializer(study).data


class StudyWriteSerializer(serializers.Serializer):
    """Create (all required fields) or update (any subset) a study; arms only while it is a draft."""

    title = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    instructions = serializers.CharField(required=False, allow_blank=True)
    consent_text = serializers.CharField(required=False, allow_blank=True)
    consent_version = serializers.CharField(required=False, max_length=30)
    case_set = serializers.PrimaryKeyRelatedField(queryset=CaseSet.objects.none())
    design = serializers.ChoiceField(choices=Design.choices)
    settings = serializers.DictField(required=False, help_text="Answer form and study options.")
    arms = ArmSerializer(many=True, required=False)
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.none(), required=False,
                                                       allow_null=True)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args, case_sets=None, model_versions=None, **kwargs):
        super().__init__(*args, **kwargs)
        if case_sets is not None:
            self.fields["case_set"].queryset = case_sets
        if model_versions is not None:
            self.fields["model_version"].queryset = model_versions


class InvitationSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "token", "url", "role", "single_use", "max_uses", "uses", "email", "label", "created_at",
                  "expires_at", "revoked"]
        read_only_fields = fields

    def get_url(self, invitation: Invitation) -> str:
        path = reverse("reader:join", kwargs={"token": invitation.token})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class InvitationCreateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, default=Role.READER)
    single_use = serializers.BooleanField(default=True)
    max_uses = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=100_000)
    email = serializers.EmailField(required=False, allow_blank=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    label = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                  help_text="Where the link was sent, e.g. 'sent to clinic A'.")


class ReaderProgressSerializer(serializers.Serializer):
    pseudonym = serializers.CharField()
    reader_index = serializers.IntegerField(allow_null=True)
    completed = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.IntegerField()
    last_activity = serializers.DateTimeField(allow_null=True)
    median_s = serializers.FloatField(allow_null=True)
    consented = serializers.BooleanField()
    finished_at = serializers.DateTimeField(allow_null=True)


class StudyProgressSerializer(serializers.Serializer):
    status = serializers.CharField()
    totals = serializers.DictField(child=serializers.IntegerField())
    readers = ReaderProgressSerializer(many=True)


# --- the reader's schedule ------------------------------------------------------------------------


class ScheduleItemSerializer(serializers.ModelSerializer):
    """An item already shown to the reader: no arm, no repeat flag (allocation stays concealed)."""

    answered = serializers.SerializerMethodField()
    ai_shown = serializers.SerializerMethodField()

    class Meta:
        model = ScheduleItem
        fields = ["id", "position", "phase", "session", "training", "shown_at", "answered", "ai_shown"]
        read_only_fields = fields

    def get_answered(self, item: ScheduleItem) -> bool:
        return bool(getattr(item, "answered", False))

    def get_ai_shown(self, item: ScheduleItem) -> bool:
        """Whether the reader's answer to this item was given with AI output shown."""
        return bool(getattr(item, "ai_shown", False))


class ReaderCaseSerializer(serializers.ModelSerializer):
    """What the reader sees of a case: no key, no reference, no extra metadata; history, body site
    and duration in the request's language when the case has them (as on the case page)."""

    history_language = serializers.SerializerMethodField(help_text="The history's language ('' for the case's own).")

    class Meta:
        model = Case
        fields = ["age", "sex", "body_site", "fitzpatrick", "duration", "history", "history_language"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        shown = case_texts(instance)
        data.update({name: shown[name] for name in ("body_site", "duration", "history", "history_language")})
        return data

    def get_history_language(self, instance) -> str:
        return case_texts(instance)["history_language"]


class ReaderImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    url = serializers.CharField()
    thumbnail_url = serializers.CharField()


class AnswerFormSerializer(serializers.Serializer):
    top_k = serializers.IntegerField()
    ask_confidence = serializers.BooleanField()
    ask_management = serializers.BooleanField()
    ask_malignancy = serializers.BooleanField()
    time_limit_s = serializers.IntegerField(allow_null=True)
    management_options = ManagementOptionSerializer(many=True)


class PreviousAnswerSerializer(serializers.Serializer):
    differential = serializers.ListField(child=serializers.CharField())
    confidence = serializers.IntegerField(allow_null=True)
    management = serializers.CharField(allow_blank=True)
    malignancy_score = serializers.IntegerField(allow_null=True)


class CurrentItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    phase = serializers.IntegerField()
    session = serializers.IntegerField()
    arm = serializers.CharField()
    shown_at = serializers.DateTimeField()
    case = ReaderCaseSerializer()
    images = ReaderImageSerializer(many=True)
    ai = serializers.JSONField(allow_null=True, help_text="Exactly what the AI panel shows; null when it shows nothing.")
    phase1_answer = PreviousAnswerSerializer(allow_null=True)


class NextItemSerializer(serializers.Serializer):
    step = serializers.ChoiceField(choices=["consent", "demographics", "instructions", "case", "wait", "end",
                                            "unavailable"])
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    opens_at = serializers.DateTimeField(required=False,
                                         help_text="step wait: when session 2 opens (crossover washout).")
    form = AnswerFormSerializer()
    item = CurrentItemSerializer(allow_null=True)


# --- readings -------------------------------------------------------------------------------------


class ReadingSubmitSerializer(serializers.Serializer):
    item = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="The schedule item answered.")
    idempotency_key = serializers.UUIDField(
        required=False, help_text="Or the Idempotency-Key header: a retry with the same key returns the first reading."
    )
    differential = serializers.ListField(child=serializers.CharField(max_length=40, allow_blank=True),
                                         max_length=10, default=list)
    confidence = serializers.IntegerField(required=False, allow_null=True)
    management = serializers.CharField(required=False, allow_blank=True, max_length=40, default="")
    malignancy = serializers.IntegerField(required=False, allow_null=True)
    other_text = serializers.CharField(required=False, allow_blank=True, max_length=400, default="",
                                       help_text='The words for an "Other / not listed" diagnosis (code OTHER).')
    first_input_at = serializers.CharField(required=False, allow_null=True, max_length=40,
                                           help_text="ISO 8601 or epoch milliseconds (client clock).")
    active_ms = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1, default=0)
    client_timeout = serializers.BooleanField(required=False, default=False)
    ai_opened_at = serializers.CharField(required=False, allow_null=True, max_length=40,
                                         help_text='On-request AI arms: when "Show AI" was pressed (as first_input_at).')
    opened_neighbours = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
                                              required=False, max_length=64, default=list,
                                              help_text="Library image ids the reader enlarged (others are dropped).")


class ReadingReceiptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="schedule_item_id")
    idempotency_key = serializers.UUIDField()
    differential = serializers.ListField(child=serializers.CharField())
    confidence = serializers.IntegerField(allow_null=True)
    management = serializers.CharField(allow_blank=True)
    malignancy_score = serializers.IntegerField(allow_null=True)
    other_text = serializers.CharField(allow_blank=True)
    submitted_at = serializers.DateTimeField()
    timed_out = serializers.BooleanField()
    created = serializers.BooleanField()


class ReadingSerializer(serializers.Serializer):
    """A reading as coordinators and statisticians list it (reader by pseudonym)."""

    id = serializers.IntegerField()
    reader = serializers.CharField(source="schedule_item.membership.pseudonym")
    case = serializers.CharField(source="schedule_item.case.key")
    arm = serializers.CharField(source="schedule_item.arm.name")
    phase = serializers.IntegerField(source="schedule_item.phase")
    session = serializers.IntegerField(source="schedule_item.session")
    position = serializers.IntegerField(source="schedule_item.position")
    training = serializers.BooleanField(source="schedule_item.training")
    repeat = serializers.BooleanField(source="schedule_item.repeat")
    differential = serializers.ListField(child=serializers.CharField())
    confidence = serializers.IntegerField(allow_null=True)
    management = serializers.CharField(allow_blank=True)
    malignancy_score = serializers.IntegerField(allow_null=True)
    other_text = serializers.CharField(allow_blank=True)
    shown_at = serializers.DateTimeField()
    first_input_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField()
    active_ms = serializers.IntegerField()
    timed_out = serializers.BooleanField()
    ai_snapshot = serializers.JSONField(allow_null=True)
    site = serializers.CharField(source="site.name", default="", help_text="The reader's site ('' when none).")
    language = serializers.CharField(allow_blank=True, help_text="The reader's interface language at submit.")


class ReadingFilterSerializer(serializers.Serializer):
    reader = serializers.CharField(required=False, max_length=20, help_text="Reader pseudonym.")
    case = serializers.CharField(required=False, max_length=100, help_text="Case key.")
    arm = serializers.CharField(required=False, max_length=40)
    phase = serializers.ChoiceField(required=False, choices=[1, 2])
    session = serializers.ChoiceField(required=False, choices=[1, 2])
    training = serializers.BooleanField(required=False, allow_null=True, default=None)
    submitted_after = serializers.DateTimeField(required=False)
    submitted_before = serializers.DateTimeField(required=False)


# --- model versions and outputs -------------------------------------------------------------------


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "name", "kind", "architecture", "calibrated", "temperature", "created_at"]
        read_only_fields = fields


class ModelOutputSerializer(serializers.ModelSerializer):
    case = serializers.SlugRelatedField(slug_field="key", read_only=True)
    model_version = serializers.SlugRelatedField(slug_field="name", read_only=True)
    probabilities = serializers.DictField(child=serializers.FloatField())
    top_codes = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = ModelOutput
        fields = ["id", "case", "model_version", "taxonomy", "status", "top_codes", "probabilities", "frozen",
                  "created_at"]
        read_only_fields = fields


class ModelOutputFilterSerializer(serializers.Serializer):
    case = serializers.CharField(required=False, max_length=100, help_text="Case key.")


# --- analysis runs --------------------------------------------------------------------------------


class AnalysisRunSerializer(serializers.ModelSerializer):
    has_results = serializers.SerializerMethodField()
    has_report = serializers.SerializerMethodField()

    class Meta:
        model = AnalysisRun
        fields = ["id", "kind", "params", "status", "progress", "error", "created_at", "finished_at",
                  "has_results", "has_report"]
        read_only_fields = fields

    def get_has_results(self, run: AnalysisRun) -> bool:
        return run.results is not None

    def get_has_report(self, run: AnalysisRun) -> bool:
        return bool(run.report_path)


class AnalysisRunResultsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    results = serializers.JSONField(allow_null=True, help_text="results.json of `python -m analysis` (DESIGN 5.2).")


class AnalysisRunCreateSerializer(serializers.Serializer):
    """A compare analysis (DESIGN 5.2) of the study's readings, run by a worker."""

    outcome = serializers.ChoiceField(choices=list(OUTCOMES), default="correct_top1")
    control = serializers.SlugField(required=False, max_length=40, help_text="Control arm (default: the unaided arm).")
    treatment = serializers.SlugField(required=False, max_length=40, help_text="Treatment arm (default: the AI arm).")
    by = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=5,
                               help_text="Reader-level subgroup columns (default: reader_group).")
    by_case = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=5,
                                    help_text="Case-level subgroup columns (default: truth_group).")


class ExportQuerySerializer(serializers.Serializer):
    score = serializers.CharField(required=False, default="malignancy_score", max_length=60,
                                  help_text="iMRMC / RJafroc: the rating column of the readings table.")
    truth = serializers.CharField(required=False, default="truth_malignant", max_length=60,
                                  help_text="iMRMC / RJafroc: the 0/1 truth column.")
    case_ids = serializers.ChoiceField(required=False, default="keys", choices=["keys", "numbers"],
                                       help_text="numbers: cases as 1..N (RJafroc's iMRMC reader needs integers).")


# --- me and interchange ---------------------------------------------------------------------------


class MembershipBriefSerializer(serializers.Serializer):
    study = serializers.SlugField()
    role = serializers.ChoiceField(choices=Role.choices)
    pseudonym = serializers.CharField()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    memberships = MembershipBriefSerializer(many=True)


class ReadingsImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A long CSV: one row per reading.")
    mapping = serializers.CharField(required=False, allow_blank=True, max_length=10_000,
                                    help_text='JSON: {"reader": "ReaderID", ...}; default: same-named columns.')
    study = serializers.CharField(required=False, allow_blank=True, max_length=80,
                                  help_text="The study column's value when the file has none.")


class ProblemSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="1-based data row; null for the whole file.")
    field = serializers.CharField()
    message = serializers.CharField()


class ReadingsImportResultSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    mapping = serializers.DictField(child=serializers.CharField())
    n_rows = serializers.IntegerField()
    ok = serializers.BooleanField()
    problems = ProblemSerializer(many=True)
    preview = serializers.ListField(child=serializers.DictField())
    csv = serializers.CharField(allow_null=True, help_text="The readings table (DESIGN 5.1) when every row is valid.")
