"""Tables for statisticians beside the readings: the cases with their reference labels, and the
study model's precomputed outputs (never shown to readers: they see AI only in AI arms)."""

from __future__ import annotations

import pandas as pd

from catalog.models import Case, CaseSet
from inference.core.ranking import ranked_codes
from readerstudy.models import Study

CASE_COLUMNS = ["case_set", "case", "truth", "truth_name", "truth_group", "truth_malignant", "reference_source",
                "reference_management", "age", "sex", "body_site", "fitzpatrick", "duration", "n_images"]


def cases_table(case_set: CaseSet) -> pd.DataFrame:
    """Every case of the set with its reference labels and metadata (extra metadata as columns)."""
    from django.db.models import Count

    cases = (Case.objects.filter(case_set=case_set).select_related("reference", "reference_management")
             .annotate(n_images=Count("images")).order_by("key"))
    rows = []
    for case in cases:
        row = {
            "case_set": case_set.name, "case": case.key, "truth": case.reference.code,
            "truth_name": case.reference.name, "truth_group": case.reference.group,
            "truth_malignant": int(case.reference.malignant), "reference_source": case.reference_source,
            "reference_management": case.reference_management.code if case.reference_management else "",
            "age": case.age, "sex": case.sex, "body_site": case.body_site, "fitzpatrick": case.fitzpatrick,
            "duration": case.duration, "n_images": case.n_images,
        }
        row.update({f"extra_{key}": value for key, value in sorted((case.extra or {}).items())
                    if isinstance(value, (str, int, float, bool)) or value is None})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=CASE_COLUMNS)
    for column in ("age", "fitzpatrick"):
        frame[column] = frame[column].astype("Int64")
    return frame


def model_outputs_table(study: Study) -> pd.DataFrame:
    """The study model's outputs: one row per case, ``top1..`` and ``p_<code>`` columns."""
    from readerstudy.selectors.ai import outputs_for_study

    rows = []
    for output in outputs_for_study(study).order_by("case__key"):
        probabilities = {str(c): float(p) for c, p in (output.probabilities or {}).items()}
        top = ranked_codes(probabilities, output.top_codes)
        row = {"case": output.case.key, "model_version": output.model_version.name,
               "top1": top[0] if top else "", "top_codes": "|".join(top), "frozen": int(output.frozen)}
        row.update({f"p_{code}": p for code, p in sorted(probabilities.items())})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["case", "model_version", "top1", "top_codes", "frozen"])
