"""Forms of the analysis pages: start an analysis run, plan a study's power."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from readerstudy.models import Study
from readerstudy.services.analysis_runs import (
    AGREEMENT_WEIGHTS,
    ANALYSIS_KINDS,
    COMPARE_FAMILIES,
    INTERACTION_COLUMNS,
    MRMC_FOMS,
    MRMC_METHODS,
    OUTCOMES,
    RATINGS,
    default_arms,
)
from readerstudy.services.power_runs import MAX_N_SIM, POWER_DESIGNS, power_defaults


class AnalysisForm(forms.Form):
    kind = forms.ChoiceField(label=_("Analysis"), choices=[(k, v) for k, v in ANALYSIS_KINDS.items() if k != "power"],
                             initial="compare", required=False)  # power has its own form (analysis_power)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=list(OUTCOMES.items()))
    control = forms.ChoiceField(label=_("Control arm"))
    treatment = forms.ChoiceField(label=_("Treatment arm"))
    arms = forms.MultipleChoiceField(label=_("Arms compared with the control (several arms)"), required=False)
    rating = forms.ChoiceField(label=_("Rating (agreement)"), choices=list(RATINGS.items()), required=False,
                               initial="top1")
    weights = forms.ChoiceField(label=_("Kappa weights (agreement, ordered ratings)"), required=False, initial="none",
                                choices=[(w, w) for w in AGREEMENT_WEIGHTS])
    family = forms.ChoiceField(label=_("Model family (compare)"), choices=list(COMPARE_FAMILIES.items()), required=False,
                               initial="")
    interaction = forms.ChoiceField(label=_("Subgroup interaction (compare)"), choices=list(INTERACTION_COLUMNS.items()),
                                    required=False, initial="")
    method = forms.ChoiceField(label=_("MRMC method"), choices=list(MRMC_METHODS.items()), required=False, initial="auto")
    fom = forms.ChoiceField(label=_("MRMC figure of merit"), choices=list(MRMC_FOMS.items()), required=False,
                            initial="auc")
    threshold = forms.FloatField(label=_("Malignancy threshold (sensitivity / specificity)"), required=False,
                                 min_value=0, max_value=100)
    margin = forms.FloatField(label=_("Non-inferiority margin (optional, e.g. 0.05)"), required=False,
                              min_value=0.0001, max_value=0.9999)

    def __init__(self, *args, study: Study, design=None, **kwargs):
        super().__init__(*args, **kwargs)
        arms = [(a.name, a.label) for a in study.arms.order_by("order")]
        self.fields["control"].choices = arms
        self.fields["treatment"].choices = arms
        self.fields["arms"].choices = arms
        control, treatment = default_arms(study)
        self.initial.setdefault("control", control)
        self.initial.setdefault("treatment", treatment)
        self.initial.setdefault("arms", [name for name, _label in arms if name != control])
        if design is not None:  # offer only the MRMC methods valid for the design the readings follow
            self.fields["method"].choices = [("auto", gettext("Default for this %(design)s design") % {"design": design.describe()})] + [
                (m, MRMC_METHODS[m]) for m in MRMC_METHODS if m in design.valid_methods]

    def clean(self):
        data = super().clean()
        for name in ("kind", "rating", "weights", "method", "fom"):  # optional on the page: empty means the default
            data[name] = data.get(name) or self.fields[name].initial
        return data


def _counts(value: str, name: str) -> list[int]:
    parts = [p for p in re.split(r"[,;\s]+", value or "") if p]
    if not parts:
        raise forms.ValidationError(f"give at least one number of {name}")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise forms.ValidationError(f"numbers of {name} must be whole numbers separated by commas "
                                    f"(got {value!r})") from None


class PowerForm(forms.Form):
    readers = forms.CharField(label="Readers (first = the planned study; more values, e.g. 10, 20, 30, give the curve)",
                              initial="20")
    cases = forms.CharField(label="Cases (first = the planned study; more values give the curve)", initial="60")
    design = forms.ChoiceField(choices=list(POWER_DESIGNS.items()), initial="sequential")
    control_accuracy = forms.FloatField(label="Expected accuracy, control arm", min_value=0.001, max_value=0.999)
    treatment_accuracy = forms.FloatField(label="Expected accuracy, AI arm", min_value=0.001, max_value=0.999)
    var_reader = forms.FloatField(label="Variance: reader (logit scale)", min_value=0, max_value=20)
    var_case = forms.FloatField(label="Variance: case", min_value=0, max_value=20)
    var_reader_arm = forms.FloatField(label="Variance: reader × arm", min_value=0, max_value=20)
    var_case_arm = forms.FloatField(label="Variance: case × arm", min_value=0, max_value=20)
    n_sim = forms.IntegerField(label="Simulated studies per point", initial=500, min_value=1, max_value=MAX_N_SIM)
    alpha = forms.FloatField(label="Two-sided alpha", initial=0.05, min_value=0.0001, max_value=0.4999)

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, prefix="power", **kwargs)
        self.defaults = power_defaults(study)
        for name in ("control_accuracy", "treatment_accuracy", "var_reader", "var_case", "var_reader_arm",
                     "var_case_arm"):
            self.initial.setdefault(name, self.defaults[name])

    def clean_readers(self) -> list[int]:
        return _counts(self.cleaned_data.get("readers"), "readers")

    def clean_cases(self) -> list[int]:
        return _counts(self.cleaned_data.get("cases"), "cases")
