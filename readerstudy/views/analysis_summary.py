"""What the results page shows of a run's results.json: each number with the warnings that qualify it.

Rules (issue 17, statistician): an estimate that is not estimable says so instead of a number;
separation, boundary fits and non-convergence are shown beside the estimate they concern; a
Gaussian outcome's mixed-model effect is a difference in means, never an odds ratio; the model
beside the readers is compared on the outcome analysed.
"""

from __future__ import annotations

import math

import pandas as pd

from readerstudy.models import Reading, Study

# |log odds ratio| beyond this (OR above ~1,100 or below 1/1,100) or a CI wider than 10^4-fold means
# the likelihood has no finite maximum in practice: (quasi-)complete separation.
SEPARATION_LOG_OR = 7.0
SEPARATION_CI_RATIO = 1e4
BOUNDARY_VARIANCE = 1e-8

MODEL_OUTCOMES = {"correct_top1": "top1", "correct_top3": "top3"}


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def glmm_row(glmm: dict | None) -> dict | None:
    """The mixed model's treatment effect for the results table, with its warnings."""
    if not glmm:
        return None
    binary = glmm.get("family") == "binomial"
    label = "Mixed-model odds ratio" if binary else "Mixed-model difference in means"
    effect = (glmm.get("treatment_odds_ratio") if binary else glmm.get("treatment_effect")) or {}
    row = {"label": label, "formula": glmm.get("formula"), "estimate": effect.get("estimate"),
           "ci_low": effect.get("ci_low"), "ci_high": effect.get("ci_high"), "p_value": effect.get("p_value"),
           "estimable": True, "reason": "", "warnings": []}
    if glmm.get("error"):
        return row | {"estimable": False, "reason": f"not estimable: the model could not be fitted ({glmm['error']})"}
    warnings = row["warnings"]
    if not glmm.get("converged", True):
        warnings.append("the fit did not converge: treat the estimate with caution")
    for effect_row in glmm.get("random_effects") or []:
        variance = effect_row.get("variance")
        if _finite(variance) and variance < BOUNDARY_VARIANCE:
            warnings.append(f"boundary fit: the {effect_row.get('group')} variance is estimated as 0")
    warnings += [str(w) for w in glmm.get("warnings") or []]
    estimate, low, high = row["estimate"], row["ci_low"], row["ci_high"]
    if not _finite(estimate):
        return row | {"estimable": False, "reason": "not estimable: the fit gave no finite treatment effect"}
    if binary and (estimate <= 0 or abs(math.log(estimate)) > SEPARATION_LOG_OR or not _finite(high)
                   or not _finite(low) or low <= 0 or high / low > SEPARATION_CI_RATIO):
        return row | {"estimable": False, "reason": (
            "not estimable: (quasi-)separation — the outcome is (almost) always the same in one arm, so the "
            "odds ratio has no finite estimate; use the reader-level difference above")}
    return row


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
        f"The model gives no {outcome.replace('_', ' ')}; it is compared on the top-1 diagnosis.")
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
            "valid_methods": design.get("valid_methods") or []}


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
