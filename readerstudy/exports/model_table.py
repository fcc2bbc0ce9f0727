"""The study model's outputs as the analysis package's model-outputs table (analysis.model_benchmark).

One row per case of the study's case set with a finished output of the study's model version:
case (the case key, as in the readings export), model_top1, model_top3 ("|"-joined), and
model_malignant_score, the summed probability of the malignant conditions of the study taxonomy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.model_benchmark import MODEL_COLUMNS
from catalog.models import Condition
from inference.core.ranking import ranked_codes
from inference.models import ModelOutput, OutputStatus
from readerstudy.models import Study


def model_benchmark_table(study: Study) -> pd.DataFrame | None:
    """The table for the study's model version, or None without a model or finished outputs (2 queries)."""
    if study.model_version_id is None:
        return None
    outputs = ModelOutput.objects.filter(
        model_version_id=study.model_version_id, case__case_set_id=study.case_set_id, status=OutputStatus.DONE
    ).values_list("case__key", "probabilities", "top_codes")
    rows = list(outputs)
    if not rows:
        return None
    malignant = set(
        Condition.objects.filter(taxonomy__case_sets=study.case_set_id, malignant=True).values_list(
            "code", flat=True
        )
    )
    table = pd.DataFrame(
        [model_row(key, probabilities, top_codes, malignant) for key, probabilities, top_codes in rows],
        columns=list(MODEL_COLUMNS),
    )
    return table.sort_values("case", kind="stable").reset_index(drop=True)


def model_row(key: str, probabilities: Any, top_codes: Any, malignant: set[str]) -> dict[str, object]:
    probabilities = probabilities if isinstance(probabilities, Mapping) else {}
    codes = ranked_codes(probabilities, top_codes)
    score = sum(float(p) for code, p in probabilities.items() if code in malignant) if probabilities else None
    return {
        "case": key,
        "model_top1": codes[0] if codes else "",
        "model_top3": "|".join(codes[:3]),
        "model_malignant_score": min(1.0, max(0.0, score)) if score is not None else None,
    }
