"""Non-inferiority of treatment versus control with a pre-specified margin.

H0: treatment - control <= -margin against H1: treatment - control > -margin, tested one-sided at
level alpha (0.025 by default, the FDA/EMA convention matching a two-sided 95 % CI). The decision is
read from the lower bound of the one-sided (1 - alpha) confidence interval: non-inferior when
bound > -margin. Co-primary endpoints (sensitivity and specificity) are combined by the
intersection-union test: non-inferior only when every endpoint is (Berger, Technometrics 1982), each
at the full alpha, with no multiplicity adjustment needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from analysis.readings import InputError

DEFAULT_ALPHA = 0.025
NON_INFERIOR = "non-inferior"
NOT_SHOWN = "non-inferiority not shown"


@dataclass(frozen=True)
class NonInferiority:
    margin: float
    alpha: float
    estimate: float
    se: float
    df: float | None  # None or inf: normal
    bound: float
    p_value: float
    decision: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def validate_margin(margin: float, alpha: float = DEFAULT_ALPHA) -> None:
    if not (margin > 0 and math.isfinite(margin)):
        raise InputError(f"--margin must be a positive number (the largest acceptable loss), got {margin}")
    if not 0 < alpha < 0.5:
        raise InputError(f"--alpha must be between 0 and 0.5 (one-sided), got {alpha}")


def non_inferiority(*, estimate: float, se: float, df: float | None, margin: float,
                    alpha: float = DEFAULT_ALPHA) -> NonInferiority:
    """One-sided test that treatment - control > -margin, from the estimate, its SE and df."""
    validate_margin(margin, alpha)
    normal = df is None or math.isinf(df)
    if not (se > 0) or (not normal and not df > 0):
        return NonInferiority(margin, alpha, estimate, se, df, math.nan, math.nan, "not estimable")
    q = float(stats.norm.ppf(1 - alpha)) if normal else float(stats.t.ppf(1 - alpha, df))
    bound = estimate - q * se
    t = (estimate + margin) / se
    p = float(stats.norm.sf(t)) if normal else float(stats.t.sf(t, df))
    return NonInferiority(margin, alpha, estimate, se, df, bound, p, NON_INFERIOR if bound > -margin else NOT_SHOWN)


def intersection_union(tests: dict[str, NonInferiority]) -> dict:
    """Co-primary decision: non-inferior only when every endpoint is."""
    decisions = {name: test.decision for name, test in tests.items()}
    if any(d == "not estimable" for d in decisions.values()):
        overall = "not estimable"
    else:
        overall = NON_INFERIOR if all(d == NON_INFERIOR for d in decisions.values()) else NOT_SHOWN
    return {
        "rule": "intersection-union: non-inferior only if every co-primary endpoint is",
        "decision": overall,
        "p_value": max(t.p_value for t in tests.values()),
        "endpoints": {name: test.to_dict() for name, test in tests.items()},
    }


def glmm_non_inferiority(glmm, *, margin: float, alpha: float = DEFAULT_ALPHA, control_rate: float | None = None) -> dict:
    """Non-inferiority from the mixed model's treatment effect (Wald, normal), `margin` on the outcome scale.

    Gaussian: treatment - control difference in means against -margin. Binomial: the margin is a loss of
    accuracy (proportion), turned into an odds-ratio margin at the control arm's marginal accuracy p0,
    OR_margin = odds(p0 - margin) / odds(p0); non-inferior when the one-sided lower bound of the OR exceeds it.
    """
    from analysis.estimability import glmm_effect

    validate_margin(margin, alpha)
    base = {"engine": "glmm", "margin": margin, "alpha": alpha}
    if glmm is None:
        return base | {"decision": "not estimable", "reason": "no mixed model was fitted"}
    checked = glmm_effect(glmm.to_dict())
    if not checked["estimable"]:
        return base | {"decision": "not estimable", "reason": checked["reason"]}
    z = float(stats.norm.ppf(0.975))
    effect = glmm.treatment_effect
    if glmm.family != "binomial":
        se = (effect.ci_high - effect.ci_low) / (2 * z)
        return base | {"scale": "difference in means"} | non_inferiority(
            estimate=effect.estimate, se=se, df=None, margin=margin, alpha=alpha).to_dict()
    marginal = {a.arm: a.marginal for a in glmm.arm_estimates}
    p0 = next(iter(marginal.values()), None) if marginal else control_rate
    if p0 is None or not 0 < p0 - margin < 1 or not 0 < p0 < 1:
        return base | {"decision": "not estimable", "reason": f"control accuracy {p0} leaves no room for the margin"}
    log_margin = math.log((p0 - margin) / (1 - p0 + margin)) - math.log(p0 / (1 - p0))
    beta, se = effect.estimate, (effect.ci_high - effect.ci_low) / (2 * z)
    q = float(stats.norm.ppf(1 - alpha))
    bound = beta - q * se
    p = float(stats.norm.sf((beta - log_margin) / se)) if se > 0 else math.nan
    return base | {
        "scale": "odds ratio", "control_accuracy": p0, "margin_odds_ratio": math.exp(log_margin),
        "estimate": math.exp(beta), "bound": math.exp(bound), "p_value": p,
        "decision": NON_INFERIOR if bound > log_margin else NOT_SHOWN,
    }
