"""The k-arm mixed model of `compare --arms` (analysis.multi_arm): fit, contrasts, LRTs, Holm.

    outcome ~ arm + random terms, arm a k-level factor with the control as reference level

Each AI arm's coefficient with a Wald CI and z p; its likelihood-ratio p against the same model
with that arm pooled with the control in the fixed part (random terms keep the k-level arm, so
the two models are nested and differ by b_arm alone); the omnibus LRT of all arms equal; Holm
over the AI arms. Fitted with compare's fallback order (analysis.mixed.fit_first_converging).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import special

from analysis.estimability import SEPARATION_CI_RATIO, SEPARATION_LOG_OR
from analysis.formula import parse_formula
from analysis.interaction import holm
from analysis.mixed import (
    ARM_TERM,
    Z_975,
    ArmEstimate,
    _split_top_level,
    default_formula,
    fit_first_converging,
    marginal_probability,
    reduced_formula,
)

P_METHODS = ("lrt", "wald")


@dataclass(frozen=True)
class ArmContrast:
    """One AI arm against the control in the k-arm mixed model."""

    arm: str
    term: str  # the model column, "arm" + the arm's label (R's name)
    coefficient: float  # log odds ratio (binomial) or difference in means (gaussian)
    se: float
    z: float
    estimate: float  # odds ratio (binomial) or difference in means
    ci_low: float
    ci_high: float
    p_value_wald: float
    p_value_lrt: float | None
    lrt_statistic: float | None
    p_value: float  # the one adjusted: the LRT's unless p_method is "wald" or the LRT failed
    p_value_holm: float
    estimable: bool = True
    reason: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ArmsModel:
    """The k-arm mixed model; a failed fit comes back with `error` set and no contrasts."""

    formula: str
    family: str
    effect: str  # "odds_ratio" | "difference"
    p_method: str
    converged: bool
    method: str | None
    log_likelihood: float | None
    n_obs: int
    fixed_effects: tuple[dict, ...]
    random_effects: tuple[dict, ...]
    lrt: dict | None  # omnibus: all arms equal (df k - 1)
    contrasts: tuple[ArmContrast, ...]
    arm_estimates: tuple[ArmEstimate, ...]
    warnings: tuple[str, ...] = ()
    error: str | None = None
    reduced_from: str | None = None
    boundary: tuple[str, ...] = ()
    attempts: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        out |= {
            "fixed_effects": [dict(row) for row in self.fixed_effects],
            "random_effects": [dict(row) for row in self.random_effects],
            "contrasts": {c.arm: c.to_dict() for c in self.contrasts},
            "arm_estimates": {a.arm: a.to_dict() for a in self.arm_estimates},
            "warnings": list(self.warnings),
            "boundary": list(self.boundary),
            "attempts": [dict(a) for a in self.attempts],
            "p_adjust": "holm",
        }
        return out


def fit_arms_model(
    valid: pd.DataFrame, *, outcome: str, arms: tuple[str, ...], formula: str | None, binary: bool,
    p_method: str = "lrt",
) -> ArmsModel:
    """Fit the k-arm model with compare's fallbacks; failures come back in `error`, never raised."""
    formula = formula or default_formula(outcome)
    family = "binomial" if binary else "gaussian"
    effect = "odds_ratio" if binary else "difference"
    frame = valid.dropna(subset=[outcome]).copy()
    frame["arm"] = pd.Categorical(frame["arm"], categories=list(arms))
    empty = ArmsModel(formula, family, effect, p_method, False, None, None, len(frame), (), (), None, (), ())
    try:
        fixed = parse_formula(formula).fixed_terms
    except ValueError as exc:
        return _error(empty, f"cannot read the formula: {exc}")
    if (ARM_TERM,) not in fixed:
        return _error(empty, f"the formula {formula} has no fixed 'arm' term: nothing to compare")
    if frame[outcome].nunique() < 2:  # a zero-variance fit reports se 0 and p 0 for a zero effect
        return _error(empty, f"'{outcome}' has the same value in every reading: nothing to compare")
    chosen, attempts, notes = fit_first_converging(frame, formula, family=family)
    if chosen is None:
        detail = " | ".join(f"{a['formula']}: {a['outcome']}" for a in attempts)
        return _error(empty, f"no mixed model could be fitted ({detail})", attempts)
    notes = list(notes)
    nested = not any(ARM_TERM in term and term != (ARM_TERM,) for term in fixed)
    if not nested:
        notes.append("arm also enters an interaction in the formula: likelihood-ratio tests left out, "
                     "p-values are Wald z")
    omnibus = _omnibus_lrt(frame, chosen, family, notes) if nested else None
    contrasts = _contrasts(frame, chosen, arms, binary, family, p_method if nested else "wald", notes)
    return ArmsModel(
        formula=chosen.formula, family=family, effect=effect, p_method=p_method, converged=bool(chosen.converged),
        method=chosen.method, log_likelihood=float(chosen.log_likelihood), n_obs=int(chosen.n_obs),
        fixed_effects=tuple(
            {"term": fe.term, "estimate": fe.estimate, "se": fe.se, "z": fe.z, "p_value": fe.p_value}
            for fe in chosen.fixed_effects
        ),
        random_effects=tuple(e.to_dict() for e in chosen.random_effects),
        lrt=omnibus, contrasts=contrasts, arm_estimates=arm_estimates(chosen, arms, family),
        warnings=(*notes, *(str(w) for w in chosen.warnings)),
        reduced_from=formula if chosen.formula != formula else None,
        boundary=tuple(getattr(chosen, "boundary", ())), attempts=attempts,
    )


def _error(empty: ArmsModel, message: str, attempts: tuple[dict, ...] = ()) -> ArmsModel:
    fields = dict(empty.__dict__) | {"error": message, "attempts": attempts}
    return ArmsModel(**fields)


def _omnibus_lrt(frame: pd.DataFrame, full, family: str, notes: list[str]) -> dict | None:
    """All arms equal: the model without arm (df k - 1)."""
    from analysis.glmm import fit_glmm, likelihood_ratio_test

    try:
        reduced = fit_glmm(frame, reduced_formula(full.formula), family=family, standard_errors=False)
        chi2, df, p = likelihood_ratio_test(full, reduced)
    except Exception as exc:  # noqa: BLE001 - the contrasts still stand
        notes.append(f"omnibus likelihood-ratio test unavailable ({type(exc).__name__}: {exc})")
        return None
    return {"statistic": float(chi2), "df": int(df), "p_value": float(p), "reduced_formula": reduced.formula}


def pooled_formula(formula: str, column: str) -> str:
    """`formula` with the fixed `arm` term replaced by `column` (random terms keep `arm`)."""
    lhs, _, rhs = formula.partition("~")
    terms = [t.strip() for t in _split_top_level(rhs)]
    return f"{lhs.strip()} ~ {' + '.join(column if t == ARM_TERM else t for t in terms)}"


def _pooled_column(frame: pd.DataFrame) -> str:
    name = "arm_pooled"
    while name in frame.columns:
        name = "_" + name
    return name


def _lrt_one_arm(frame: pd.DataFrame, full, arms: tuple[str, ...], arm: str, family: str) -> tuple[float, float]:
    """(chi2, p) of b_arm = 0: the same model with `arm` pooled with the control in the fixed part."""
    from analysis.glmm import fit_glmm, likelihood_ratio_test

    column = _pooled_column(frame)
    levels = [a for a in arms if a != arm]
    pooled = frame["arm"].astype(object).where(frame["arm"] != arm, arms[0])
    reduced_frame = frame.assign(**{column: pd.Categorical(pooled, categories=levels)})
    reduced = fit_glmm(reduced_frame, pooled_formula(full.formula, column), family=family, standard_errors=False)
    chi2, _, p = likelihood_ratio_test(full, reduced)
    return float(chi2), float(p)


def _contrasts(frame, full, arms, binary, family, p_method, notes) -> tuple[ArmContrast, ...]:
    terms = {fe.term: fe for fe in full.fixed_effects}
    rows = []
    for arm in arms[1:]:
        fe = terms.get(ARM_TERM + arm)
        if fe is None:
            notes.append(f"arm '{arm}' has no coefficient in the fitted model (aliased): not estimable")
            continue
        lrt = None
        if p_method == "lrt":
            try:
                lrt = _lrt_one_arm(frame, full, arms, arm, family)
            except Exception as exc:  # noqa: BLE001 - the Wald p-value still stands
                notes.append(f"likelihood-ratio test for arm '{arm}' unavailable ({type(exc).__name__}: {exc}); "
                             "its p-value is Wald z")
        rows.append((arm, fe, lrt))
    chosen = [lrt[1] if lrt is not None else fe.p_value for _, fe, lrt in rows]
    adjusted = holm(chosen)
    return tuple(
        _contrast(arm, fe, lrt, p, p_holm, binary)
        for (arm, fe, lrt), p, p_holm in zip(rows, chosen, adjusted, strict=True)
    )


def _contrast(arm: str, fe, lrt, p: float, p_holm: float, binary: bool) -> ArmContrast:
    transform = _exp if binary else float
    low, high = fe.estimate - Z_975 * fe.se, fe.estimate + Z_975 * fe.se
    estimable, reason = _estimable(fe.estimate, fe.se, binary)
    return ArmContrast(
        arm=arm, term=fe.term, coefficient=fe.estimate, se=fe.se, z=fe.z, estimate=transform(fe.estimate),
        ci_low=transform(low), ci_high=transform(high), p_value_wald=fe.p_value,
        p_value_lrt=lrt[1] if lrt is not None else None, lrt_statistic=lrt[0] if lrt is not None else None,
        p_value=p, p_value_holm=p_holm, estimable=estimable, reason=reason,
    )


def _estimable(coefficient: float, se: float, binary: bool) -> tuple[bool, str]:
    """Same rule as analysis.estimability: no finite effect, or (quasi-)separation on the logit scale."""
    if not (math.isfinite(coefficient) and math.isfinite(se)):
        return False, "not estimable: the fit gave no finite effect"
    if binary and (abs(coefficient) > SEPARATION_LOG_OR or 2 * Z_975 * se > math.log(SEPARATION_CI_RATIO)):
        return False, ("not estimable: (quasi-)separation — the outcome is (almost) always the same in one "
                       "arm, so the odds ratio has no finite estimate; use the reader-level means")
    return True, ""


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def arm_estimates(full, arms: tuple[str, ...], family: str) -> tuple[ArmEstimate, ...]:
    """Outcome per arm implied by the fixed effects (only for intercept + arm models).

    conditional: at random effects 0; marginal: averaged over the normal random intercepts (the
    sum of their variances, interaction terms included, as compare's two-arm estimates).
    """
    terms = {fe.term: fe.estimate for fe in full.fixed_effects}
    wanted = {"(Intercept)", *(ARM_TERM + arm for arm in arms[1:])}
    if set(terms) != wanted:
        return ()
    variance = sum(max(e.variance, 0.0) for e in full.random_effects if e.group != "Residual")
    out = []
    for arm in arms:
        eta = terms["(Intercept)"] + terms.get(ARM_TERM + arm, 0.0)
        if family == "binomial":
            out.append(ArmEstimate(arm, float(special.expit(eta)), marginal_probability(eta, variance)))
        else:
            out.append(ArmEstimate(arm, float(eta), float(eta)))
    return tuple(out)

