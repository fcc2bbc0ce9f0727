"""What the results page shows of a run's results.json: each number with the warnings that qualify it.

Rules (issue 17, statistician): an estimate that is not estimable says so instead of a number;
separation, boundary fits and non-convergence are shown beside the estimate they concern; a
Gaussian outcome's mixed-model effect is a difference in means, never an odds ratio; the model
beside the readers is compared on the outcome analysed.
"""

from __future__ import annotations

import pandas as pd
from django.utils.translation import gettext

from analysis.estimability import glmm_effect
from readerstudy.models import Reading, Study

MODEL_OUTCOMES = {"correct_top1": "top1", "correct_top3": "top3"}


def glmm_row(glmm: dict | None) -> dict | None:
    """The mixed model's treatment effect for the results table, with its warnings."""
    return glmm_effect(glmm)


def model_rows(model: dict | None, outcome: str, roc: dict | None) -> dict | None:
    """The model beside the readers on the outcome analysed (top-1, top-3 or the malignancy AUC)."""
    if not model:
        return None
    if outcome == "malignancy_score":
        auc = model.get("malignant_auc")
        readers = {arm: block.get("mean") for arm, block in ((roc or {}).get("auc") or {}).items()}
        return {"kind": "auc", "label": "malignancy AUC", "model": auc, "readers_auc": readers}
    key = MODEL_OUTCOMES.get(outcome, "top1")
    note = "" if outcome in MODEL_OUTCOMES else (
        gettext("The model gives no %(outcome)s; it is compared on the top-1 diagnosis.")
        % {"outcome": outcome.replace("_", " ")})
    arms = [
        {"arm": arm, "readers": block[key]["readers_mean"], "difference": block[key]["difference"],
         "beaten": block[key]["readers_beaten"], "n_readers": block.get("n_readers")}
        for arm, block in (model.get("arms") or {}).items()
    ]
    label = "top-3 accuracy" if key == "top3" else "top-1 accuracy"
    return {"kind": "accuracy", "label": label, "model": model.get(key) or {}, "arms": arms, "note": note}


# --- MRMC ------------------------------------------------------------------------------------------


def mrmc_summary(payload: dict) -> dict:
    """Per-arm estimates, the difference and the non-inferiority decision of an MRMC run."""
    method = payload.get("method")
    control, treatment = _arms(payload)
    if method == "ustat":
        block = payload.get("ustat") or {}
        arms = [{"arm": a, **_pick(block.get(a) or {}, "mean")} for a in (control, treatment)]
        d = block.get("difference") or {}
        difference = {"estimate": d.get("estimate"), "ci_low": d.get("ci_low"), "ci_high": d.get("ci_high"),
                      "p_value": d.get("p_value"), "df": d.get("df"), "se": d.get("se")}
        fom = payload.get("fom", "auc")
    elif method == "splitplot":
        auc = payload.get("auc") or {}
        arms = [{"arm": a, "estimate": (auc.get("by_arm") or {}).get(a)} for a in (control, treatment)]
        difference = _test(auc.get("rrrc") or {})
        fom = "auc"
    else:
        single = payload.get("single_treatment") or {}
        arms = [{"arm": a, **_pick((single.get(a) or {}).get("rrrc") or {}, "estimate")} for a in (control, treatment)]
        difference = _test(payload.get("rrrc") or {})
        fom = "auc"
    method_label = {"ustat": "U-statistics (Gallas; iMRMC)", "splitplot": "split-plot ORH (Obuchowski 2012)",
                    "orh": "ORH (Obuchowski-Rockette-Hillis)", "dbm": "ORH / DBM"}.get(method, method)
    design = payload.get("design") or {}
    warnings = list(payload.get("warnings") or [])
    if difference.get("estimate") is not None and difference.get("ci_low") is None:
        difference["reason"] = "not estimable: the variance is not positive (no CI or p)"
    return {"method": method_label, "design": design.get("description"), "fom": fom, "arms": arms,
            "difference": difference, "non_inferiority": payload.get("non_inferiority"), "warnings": warnings,
            "valid_methods": design.get("valid_methods") or [],
            "model_vs_readers": [{"arm": arm, **entry} for arm, entry in (payload.get("model_vs_readers") or {}).items()]}


def _arms(payload: dict) -> tuple[str, str]:
    if payload.get("control") is not None:
        return payload["control"], payload["treatment"]
    block = payload.get("ustat") or {}
    return block.get("control"), block.get("treatment")


def _pick(block: dict, mean_key: str) -> dict:
    return {"estimate": block.get(mean_key), "ci_low": block.get("ci_low"), "ci_high": block.get("ci_high")}


def _test(test: dict) -> dict:
    return {"estimate": test.get("difference"), "ci_low": test.get("ci_low"), "ci_high": test.get("ci_high"),
            "p_value": test.get("p_value"), "df": test.get("df2"), "se": test.get("se")}


def study_design(study: Study, control: str, treatment: str):
    """The MRMC design the study's submitted readings follow (None without readings of both arms)."""
    from analysis.design_detect import detect_design
    from analysis.readings import InputError

    rows = list(
        Reading.objects.filter(schedule_item__study=study, schedule_item__training=False,
                               schedule_item__repeat=False, schedule_item__arm__name__in=[control, treatment])
        .values_list("schedule_item__membership_id", "schedule_item__case_id", "schedule_item__arm__name")
    )
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["reader", "case", "arm"]).astype(str)
    try:
        return detect_design(frame, control=control, treatment=treatment)
    except InputError:
        return None


# --- power ------------------------------------------------------------------------------------------


def power_summary(payload: dict) -> dict:
    """The planned study's power per test with its Monte-Carlo interval, the analytic paired-t power,
    the curve as an inline SVG figure and its table rows."""
    from django.utils.safestring import mark_safe

    from analysis.power_report import METHOD_LABELS, power_curve_svg, power_table_rows

    planned = payload.get("planned") or {}
    curve = payload.get("curve") or []
    tests = [{"method": m, "label": METHOD_LABELS.get(m, m), **e} for m, e in (planned.get("power") or {}).items()]
    return {"design": payload.get("design"), "planned": planned, "tests": tests,
            "figure": mark_safe(power_curve_svg(curve)) if curve else "",  # noqa: S308 - numbers only
            "rows": power_table_rows(curve)}
