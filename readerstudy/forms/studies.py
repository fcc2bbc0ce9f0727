"""Coordinator forms: study create/edit and invitations. They parse input; services decide."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.forms.forms import NON_FIELD_ERRORS
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalog.models import CaseSet
from readerstudy.core.study_settings import (
    SettingsError,
    StudySettings,
    assist_problems,
    parse_study_settings,
)
from readerstudy.models import ArmKind, Design, Role, Site, Study, StudyLanguage
from readerstudy.permissions import case_sets_usable
from readerstudy.services.studies import ArmSpec, arm_problems, default_arms

# Form field -> settings key, for the flat answer-form and design options.
SETTINGS_FIELDS = (
    "top_k",
    "ask_confidence",
    "ask_management",
    "ask_malignancy",
    "time_limit_s",
    "feedback",
    "allow_back",
    "block_size",
    "washout_days",
    "repeat_cases",
    "quota",
    "stratify_by",
    "generic_credit",
    "max_readers",
    "completion_threshold",
)
LIVE_FIELDS = ("title", "description", "max_readers")  # editable after launch (see services.studies)
AI_DESIGNS = tuple(d for d in Design.values if d != Design.BENCHMARK)
# Fields only some designs use: the page shows them for these designs only, and ignores them otherwise.
DESIGN_FIELDS: dict[str, tuple[str, ...]] = {
    "block_size": (Design.RANDOMISED_BLOCKS,),
    "washout_days": (Design.CROSSOVER,),
    "ai_top_k": AI_DESIGNS,
    "ai_show_probabilities": AI_DESIGNS,
}
ARM_KEY = re.compile(r"^arm-(\d{1,2})-(?:name|label|kind|faulty_rate)$")
MAX_ARMS = 12


def _model_version_queryset():
    from inference.models import ModelVersion

    return ModelVersion.objects.order_by("name")


class ArmRowForm(forms.Form):
    """One arm of the study: a row with its name, label, kind and (AI arms) faulty-suggestion rate."""

    name = forms.SlugField(max_length=40, label=_("Id"), help_text=_("Short id used in exports, e.g. ai."))
    label = forms.CharField(max_length=100, label=_("Label"), help_text=_("What readers and reports show."))
    kind = forms.ChoiceField(choices=ArmKind.choices, label=_("Kind"))
    faulty_rate = forms.FloatField(  # its range is checked by study_settings' arm schema (see StudyForm.clean)
        required=False,
        label=_("Faulty suggestion rate"),
        help_text=_("Share of cases with a deliberately wrong AI suggestion (0-1)."),
    )

    def __init__(self, *args: Any, disabled: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        index = (self.prefix or "").removeprefix("arm-")
        number = str(int(index) + 1) if index.isdigit() else "__n__"
        for form_field in self.fields.values():
            form_field.disabled = disabled
            form_field.widget.attrs["aria-label"] = gettext("Arm %(number)s %(field)s") % {
                "number": number, "field": str(form_field.label).lower()}
        self.fields["faulty_rate"].widget.attrs.update(step="0.05", placeholder="0")

    def is_blank(self) -> bool:
        return not any(str(self.data.get(self.add_prefix(n)) or "").strip() for n in ("name", "label"))

    def spec(self) -> ArmSpec:
        data = self.cleaned_data
        assist = {"faulty_rate": data["faulty_rate"]} if data["kind"] == ArmKind.AI and data["faulty_rate"] else {}
        return ArmSpec(name=data["name"], label=data["label"], kind=data["kind"], assist=assist)


class StudyForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title"))
    slug = forms.SlugField(
        max_length=70,
        label=_("Slug"),
        required=False,
        help_text=_("Short id used in links and exports; left empty, it is made from the title."),
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label=_("Description"))
    case_set = forms.ModelChoiceField(queryset=CaseSet.objects.none(), label=_("Case set"))
    design = forms.ChoiceField(choices=Design.choices, label=_("Design"))
    model_version = forms.ModelChoiceField(
        queryset=None, required=False, label=_("Model version"), help_text=_("Needed for AI arms.")
    )
    seed = forms.IntegerField(
        required=False, min_value=0, label=_("Seed"), help_text=_("Empty: drawn at random and recorded.")
    )
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, label=_("Instructions"))
    consent_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, label=_("Consent text"))
    consent_version = forms.CharField(max_length=30, initial="1", label=_("Consent version"))

    top_k = forms.IntegerField(min_value=1, max_value=5, initial=3, label=_("Diagnoses per answer (top-k)"))
    ask_confidence = forms.BooleanField(required=False, initial=True, label=_("Ask confidence (1-5)"))
    ask_management = forms.BooleanField(required=False, initial=True, label=_("Ask management"))
    ask_malignancy = forms.BooleanField(required=False, label=_("Ask malignancy score (0-100)"))
    time_limit_s = forms.IntegerField(required=False, min_value=10, label=_("Time limit per case (seconds)"))
    feedback = forms.BooleanField(required=False, label=_("Show the reference diagnosis after each answer"))
    allow_back = forms.BooleanField(required=False, label=_("Readers may skip cases and come back to them"))
    block_size = forms.IntegerField(min_value=1, initial=10, label=_("Block size (randomised blocks)"))
    washout_days = forms.IntegerField(min_value=0, initial=14, label=_("Washout in days (crossover)"))
    training_cases = forms.CharField(
        required=False,
        label=_("Training cases"),
        help_text=_("Case ids, separated by commas or spaces; read first, with "
                    "feedback, and kept apart from measured readings."),
    )
    repeat_cases = forms.IntegerField(min_value=0, initial=0, label=_("Repeat (attention) readings per reader"))
    quota = forms.IntegerField(required=False, min_value=1, label=_("Cases per reader (empty: all)"))
    stratify_by = forms.CharField(
        required=False,
        label=_("Shuffle within strata of"),
        help_text=_("e.g. fitzpatrick, body_site, reference_group, or a metadata key."),
    )
    generic_credit = forms.BooleanField(
        required=False, label=_("Same-group diagnoses count as correct (generic)")
    )
    max_readers = forms.IntegerField(required=False, min_value=1, label=_("Reader cap (empty: none)"))
    completion_threshold = forms.FloatField(
        min_value=0.01,
        max_value=1,
        initial=0.95,
        label=_("A reader counts when this share of readings is valid"),
    )

    ai_top_k = forms.IntegerField(min_value=1, max_value=10, initial=3, label=_("AI suggestions shown"))
    ai_show_probabilities = forms.BooleanField(required=False, initial=True, label=_("Show AI probabilities"))

    def __init__(self, *args: Any, study: Study | None = None, user: Any = None, **kwargs: Any):
        if study is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_from_study(study)
        super().__init__(*args, **kwargs)
        self.study = study
        # Only case sets this user may build on (another coordinator's private import is not listed).
        usable = case_sets_usable(user) if user is not None else CaseSet.objects.all()
        if study is not None:
            usable = usable | CaseSet.objects.filter(pk=study.case_set_id)
        self.fields["case_set"].queryset = usable.select_related("taxonomy").order_by("name").distinct()
        self.fields["model_version"].queryset = _model_version_queryset()
        self.locked = study is not None and study.status != "draft"
        if self.locked:
            for name, form_field in self.fields.items():
                form_field.disabled = name not in LIVE_FIELDS
        self.arm_errors: list[str] = []
        self.design = self._chosen_design()
        for name, designs in DESIGN_FIELDS.items():
            self.fields[name].designs = " ".join(designs)
            self.fields[name].shown = self.design in designs
        for name in self.hidden_fields_for_design():
            self.fields[name].required = False
        self.arm_rows = self._arm_rows(args[0] if args else kwargs.get("data"))

    def _chosen_design(self) -> str:
        if self.is_bound and not self.locked:
            value = self.data.get("design", "")
        else:
            value = self.initial.get("design") or self.fields["design"].initial or ""
        return value if value in Design.values else Design.SEQUENTIAL

    @property
    def chosen_design(self) -> str:  # the page's design: in a template, ``form.design`` is the *field*
        return self.design

    def hidden_fields_for_design(self) -> list[str]:
        """Fields the chosen design does not use: not shown, not required, their input ignored."""
        return [name for name, designs in DESIGN_FIELDS.items() if self.design not in designs]

    def default_arms_by_design(self) -> dict[str, list[dict[str, str]]]:
        """What the arm rows become when the design changes (the page swaps them until edited)."""
        return {
            design: [{"name": a.name, "label": a.label, "kind": a.kind} for a in default_arms(design)]
            for design in Design.values
        }

    def blank_arm_row(self) -> ArmRowForm:
        return ArmRowForm(prefix="arm-__i__", initial={"kind": ArmKind.AI})

    def _arm_rows(self, data: Any) -> list[ArmRowForm]:
        """One small form per arm: posted rows (``arm-<i>-...``), else the study's arms or the design's."""
        if data is not None and not self.locked:
            indices = sorted({int(m.group(1)) for key in data for m in [ARM_KEY.match(key)] if m})[:MAX_ARMS]
            rows = [ArmRowForm(data, prefix=f"arm-{i}") for i in indices]
            return [row for row in rows if not row.is_blank()]
        if self.study is not None:
            specs = [ArmSpec(a.name, a.label, a.kind, a.assist or {}) for a in self.study.arms.all()]
        else:
            specs = default_arms(self.design)
        return [
            ArmRowForm(
                prefix=f"arm-{i}",
                initial={"name": a.name, "label": a.label, "kind": a.kind,
                         "faulty_rate": (a.assist or {}).get("faulty_rate") or None},
                disabled=self.locked,
            )
            for i, a in enumerate(specs)
        ]

    def clean_training_cases(self) -> list[str]:
        return [key for key in re.split(r"[\s,]+", self.cleaned_data.get("training_cases") or "") if key]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.hidden_fields_for_design():  # what the design does not use keeps its default
            self.errors.pop(name, None)
            data[name] = self.initial.get(name, self.fields[name].initial)
        for row in self.arm_rows:
            if row.is_bound:
                row.is_valid()  # parses the row: cleaned_data holds its valid fields
                self._check_assist(row)
        # every row checked (a list, not a generator: all problems, not the first)
        rows_valid = all([row.is_valid() for row in self.arm_rows if row.is_bound])
        if self.errors or not rows_valid:
            return data
        try:
            parse_study_settings(self.settings_dict())
        except SettingsError as exc:
            for problem in exc.problems:
                name = problem.split(":")[0].removeprefix("settings.").replace("ai.", "ai_")
                self.add_error(name if name in self.fields else None, problem.split(": ", 1)[-1])
        if not self.locked:
            self.arm_errors = arm_problems(data["design"], self.arm_specs())
        return data

    @staticmethod
    def _check_assist(row: ArmRowForm) -> None:
        """The arm's AI options against the one arm schema (readerstudy.core.study_settings), on the row's field."""
        data = row.cleaned_data
        # An unaided row's (hidden) faulty rate is not used, so it is not checked either.
        if data.get("kind") != ArmKind.AI or data.get("faulty_rate") is None:
            return
        for problem in assist_problems(data["kind"], {"faulty_rate": data["faulty_rate"]}, prefix=""):
            key, _, message = problem.partition(": ")
            row.add_error("faulty_rate" if key == "faulty_rate" else None, message or problem)

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return valid and not self.arm_errors and all(row.is_valid() for row in self.arm_rows if row.is_bound)

    def error_summary(self) -> list[dict[str, str]]:
        """Every problem on the page, each with a link to its field (arm rows included)."""
        if not self.is_bound:
            return []
        items = [{"href": "", "label": "", "message": str(e)} for e in self.non_field_errors()]
        for name, errors in self.errors.items():
            if name == NON_FIELD_ERRORS or name not in self.fields:
                continue
            for error in errors:
                items.append({"href": f"#{self[name].auto_id}", "label": str(self[name].label),
                              "message": str(error)})
        for number, row in enumerate(self.arm_rows, start=1):
            for name, errors in (row.errors if row.is_bound else {}).items():
                target = row[name].auto_id if name in row.fields else row["name"].auto_id
                for error in errors:
                    field = str(row.fields[name].label).lower() if name in row.fields else ""
                    label = (gettext("Arm %(number)s, %(field)s") % {"number": number, "field": field}
                             if field else gettext("Arm %(number)s") % {"number": number})
                    items.append({"href": f"#{target}", "label": label, "message": str(error)})
        items += [{"href": "#arms", "label": gettext("Arms"), "message": problem} for problem in self.arm_errors]
        return items

    def settings_dict(self) -> dict[str, Any]:
        data = self.cleaned_data
        settings = {name: data.get(name) for name in SETTINGS_FIELDS}
        settings["stratify_by"] = settings["stratify_by"] or ""
        settings["training_cases"] = list(data.get("training_cases") or [])
        settings["ai"] = {"top_k": data["ai_top_k"], "show_probabilities": data["ai_show_probabilities"]}
        return settings

    def arm_specs(self) -> list[ArmSpec]:
        """The arm rows (or the design's defaults), with the AI display options on AI arms."""
        data = self.cleaned_data
        specs = [row.spec() for row in self.arm_rows if row.is_bound and row.is_valid()]
        if not specs:
            specs = [ArmSpec(a.name, a.label, a.kind) for a in default_arms(data["design"])]
        display = {"top_k": data["ai_top_k"], "show_probabilities": data["ai_show_probabilities"]}
        return [
            ArmSpec(
                arm.name,
                arm.label,
                arm.kind,
                {**display, "faulty_rate": 0.0, **arm.assist} if arm.kind == ArmKind.AI else {},
            )
            for arm in specs
        ]

    def service_kwargs(self) -> dict[str, Any]:
        """Arguments for services.studies.study_create / the ``changes`` of study_update."""
        data = self.cleaned_data
        fields = (
            "title",
            "description",
            "case_set",
            "design",
            "model_version",
            "instructions",
            "consent_text",
            "consent_version",
        )
        result = {name: data[name] for name in fields}
        result["settings"] = self.settings_dict()
        if data.get("slug"):
            result["slug"] = data["slug"]
        if data.get("seed") is not None:
            result["seed"] = data["seed"]
        return result


def initial_from_study(study: Study) -> dict[str, Any]:
    try:
        settings = parse_study_settings(study.settings)
    except SettingsError:
        settings = StudySettings()
    initial: dict[str, Any] = {
        name: getattr(study, name)
        for name in (
            "title",
            "slug",
            "description",
            "design",
            "seed",
            "instructions",
            "consent_text",
            "consent_version",
        )
    }
    initial.update({name: getattr(settings, name) for name in SETTINGS_FIELDS})
    initial.update(
        case_set=study.case_set_id,
        model_version=study.model_version_id,
        training_cases=", ".join(settings.training_cases),
        ai_top_k=settings.ai.top_k,
        ai_show_probabilities=settings.ai.show_probabilities,
    )
    return initial


class SiteForm(forms.Form):
    site_name = forms.CharField(max_length=100, label=_("Site name"))
    country = forms.CharField(max_length=60, required=False, label=_("Country"))
    default_language = forms.ChoiceField(choices=StudyLanguage.choices, label=_("Default language"))


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.READER, label=_("Role"))
    kind = forms.ChoiceField(
        choices=[("single", _("Single-use link (one person)")), ("open", _("Open link (several people)"))],
        label=_("Kind"),
        initial="single",
        widget=forms.RadioSelect,
    )
    count = forms.IntegerField(min_value=1, max_value=200, initial=1, label=_("How many single-use links"))
    max_uses = forms.IntegerField(min_value=1, required=False, label=_("Cap for an open link (empty: none)"))
    email = forms.EmailField(required=False, label=_("Email"), help_text=_("Optional: only this address may use the link."))
    label = forms.CharField(
        max_length=100,
        required=False,
        label=_("Label (optional)"),
        help_text=_("A note for you, shown beside the link: e.g. “sent to clinic A”."),
    )
    expires_at = forms.DateTimeField(
        required=False,
        label=_("Expires (optional)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    site = forms.ModelChoiceField(
        queryset=Site.objects.none(), required=False, label=_("Site (optional)"),
        help_text=_("Readers who join through the link belong to this site."),
    )

    def __init__(self, *args, study: Study | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if study is not None:
            self.fields["site"].queryset = study.sites.all()

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError(_("The expiry must be in the future."))
        return value
