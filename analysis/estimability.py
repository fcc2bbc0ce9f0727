"""Whether a reported estimate can be trusted as a number: separation, boundary fits, non-convergence.

Used by the HTML report and the web results page alike, so that neither shows an absurd number
without the warning that qualifies it, and an estimate that is not estimable says so.
"""

from __future__ import annotations

import math

# |log odds ratio| beyond this (OR above ~1,100 or below 1/1,100) or a CI wider than 10^4-fold means
# the likelihood has no finite maximum in practice: (quasi-)complete separation.
SEPARATION_LOG_OR = 7.0
SEPARATION_CI_RATIO = 1e4
BOUNDARY_VARIANCE = 1e-8


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def glmm_effect(glmm: dict | None) -> dict | None:
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
