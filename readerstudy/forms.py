"""Coordinator forms: study create/edit and invitations. They parse input; services decide."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils import timezone

from readerstudy.models import ArmKind, CaseSet, Design, Role, Study
from readerstudy.services.studies import ArmSpec, arm_problems, default_arms
from readerstudy.study_settings import SettingsError, StudySettings, parse_study_settings

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


def _model_version_queryset():
    from inference.models import ModelVersion

    return ModelVersion.objects.order_by("name")


class StudyForm(forms.Form):
    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=70,
        required=False,
        help_text="Short id used in links and exports; left empty, it is made from the title.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    case_set = forms.ModelChoiceField(queryset=CaseSet.objects.none())
    design = forms.ChoiceField(choices=Design.choices)
    arms = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        required=False,
        help_text="One arm per line: name | unaided or ai | label [| faulty rate]. The unaided (control) arm "
        "comes first. Leave empty for the design's usual arms.",
    )
    model_version = forms.ModelChoiceField(queryset=None, required=False, help_text="Needed for AI arms.")
    seed = forms.IntegerField(required=False, min_value=0, help_text="Empty: drawn at random and recorded.")
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    consent_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    consent_version = forms.CharField(max_length=30, initial="1")

    top_k = forms.IntegerField(min_value=1, max_value=5, initial=3, label="Diagnoses per answer (top-k)")
    ask_confidence = forms.BooleanField(required=False, initial=True, label="Ask confidence (1-5)")
    ask_management = forms.BooleanField(required=False, initial=True, label="Ask management")
    ask_malignancy = forms.BooleanField(required=False, label="Ask malignancy score (0-100)")
    time_limit_s = forms.IntegerField(required=False, min_value=10, label="Time limit per case (seconds)")
    feedback = forms.BooleanField(required=False, label="Show the reference diagnosis after each answer")
    allow_back = forms.BooleanField(required=False, label="Readers may skip cases and come back to them")
    block_size = forms.IntegerField(min_value=1, initial=10, label="Block size (randomised blocks)")
    washout_days = forms.IntegerField(min_value=0, initial=14, label="Washout in days (crossover)")
    training_cases = forms.CharField(
        required=False,
        label="Training cases",
        help_text="Case ids, separated by commas or spaces; read first, with "
        "feedback, and kept apart from measured readings.",
    )
    repeat_cases = forms.IntegerField(min_value=0, initial=0, label="Repeat (attention) readings per reader")
    quota = forms.IntegerField(required=False, min_value=1, label="Cases per reader (empty: all)")
    stratify_by = forms.CharField(
        required=False,
        label="Shuffle within strata of",
        help_text="e.g. fitzpatrick, body_site, reference_group, or a metadata key.",
    )
    generic_credit = forms.BooleanField(
        required=False, label="Same-group diagnoses count as correct (generic)"
    )
    max_readers = forms.IntegerField(required=False, min_value=1, label="Reader cap (empty: none)")
    completion_threshold = forms.FloatField(
        min_value=0.01,
        max_value=1,
        initial=0.95,
        label="A reader counts when this share of readings is valid",
    )

    ai_top_k = forms.IntegerField(min_value=1, max_value=10, initial=3, label="AI suggestions shown")
    ai_show_probabilities = forms.BooleanField(required=False, initial=True, label="Show AI probabilities")
    ai_faulty_rate = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=0,
        label="Faulty suggestion rate",
        help_text="Share of cases with a deliberately wrong AI suggestion.",
    )

    def __init__(self, *args: Any, study: Study | None = None, **kwargs: Any):
        if study is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_from_study(study)
        super().__init__(*args, **kwargs)
        self.study = study
        self.fields["case_set"].queryset = CaseSet.objects.select_related("taxonomy").order_by("name")
        self.fields["model_version"].queryset = _model_version_queryset()
        self.locked = study is not None and study.status != "draft"
        if self.locked:
            for name, form_field in self.fields.items():
                form_field.disabled = name not in LIVE_FIELDS

    def clean_training_cases(self) -> list[str]:
        return [key for key in re.split(r"[\s,]+", self.cleaned_data.get("training_cases") or "") if key]

    def clean_arms(self) -> list[ArmSpec] | None:
        text = (self.cleaned_data.get("arms") or "").strip()
        if not text:
            return None
        arms = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            parts = [part.strip() for part in line.split("|")]
            if len(parts) not in (3, 4) or parts[1] not in ArmKind.values:
                raise forms.ValidationError(
                    f"Line {number}: write name | unaided or ai | label [| faulty rate]."
                )
            assist: dict[str, Any] = {}
            if len(parts) == 4:
                try:
                    assist["faulty_rate"] = float(parts[3])
                except ValueError:
                    raise forms.ValidationError(f"Line {number}: the faulty rate must be a number.") from None
            arms.append(ArmSpec(name=parts[0], label=parts[2], kind=parts[1], assist=assist))
        return arms

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            parse_study_settings(self.settings_dict())
        except SettingsError as exc:
            for problem in exc.problems:
                name = problem.split(":")[0].removeprefix("settings.").replace("ai.", "ai_")
                self.add_error(name if name in self.fields else None, problem.split(": ", 1)[-1])
        if not self.locked:
            for problem in arm_problems(data["design"], self.arm_specs()):
                self.add_error("arms", problem)
        return data

    def settings_dict(self) -> dict[str, Any]:
        data = self.cleaned_data
        settings = {name: data.get(name) for name in SETTINGS_FIELDS}
        settings["stratify_by"] = settings["stratify_by"] or ""
        settings["training_cases"] = list(data.get("training_cases") or [])
        settings["ai"] = {"top_k": data["ai_top_k"], "show_probabilities": data["ai_show_probabilities"]}
        return settings

    def arm_specs(self) -> list[ArmSpec]:
        """The arms as typed (or the design's defaults), with the AI display options on AI arms."""
        data = self.cleaned_data
        arms = data.get("arms") or [ArmSpec(a.name, a.label, a.kind) for a in default_arms(data["design"])]
        display = {
            "top_k": data["ai_top_k"],
            "show_probabilities": data["ai_show_probabilities"],
            "faulty_rate": data["ai_faulty_rate"],
        }
        return [
            ArmSpec(
                arm.name, arm.label, arm.kind, {**display, **arm.assist} if arm.kind == ArmKind.AI else {}
            )
            for arm in arms
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
    arms = list(study.arms.all())
    ai_arm = next((arm for arm in arms if arm.kind == ArmKind.AI), None)
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
        ai_faulty_rate=(ai_arm.assist or {}).get("faulty_rate", 0) if ai_arm else 0,
        arms="\n".join(_arm_line(arm) for arm in arms),
    )
    return initial


def _arm_line(arm: Any) -> str:
    faulty = (arm.assist or {}).get("faulty_rate")
    return " | ".join([arm.name, arm.kind, arm.label] + ([str(faulty)] if faulty else []))


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.READER)
    kind = forms.ChoiceField(
        choices=[("single", "Single-use link (one person)"), ("open", "Open link (several people)")],
        initial="single",
        widget=forms.RadioSelect,
    )
    count = forms.IntegerField(min_value=1, max_value=200, initial=1, label="How many single-use links")
    max_uses = forms.IntegerField(min_value=1, required=False, label="Cap for an open link (empty: none)")
    email = forms.EmailField(required=False, help_text="Optional: only this address may use the link.")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires (optional)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value
