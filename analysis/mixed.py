"""The primary reading-level analysis: a mixed model of outcome ~ arm with crossed random effects.

Wraps `analysis.glmm` (imported lazily: it is the heavy part) and derives what a reader study
reports from the fit: the treatment odds ratio with a Wald CI and a likelihood-ratio p-value
against the model without `arm`, and the model-implied accuracy in each arm.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

if TYPE_CHECKING:
    from analysis.glmm import GlmmResult

Z_975 = 1.959964
ARM_TERM = "arm"


def default_formula(outcome: str) -> str:
    return f"{outcome} ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)"


@dataclass(frozen=True)
class TreatmentEffect:
    """Arm effect: odds ratio (binomial) or mean difference (gaussian), Wald CI, LRT p."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    # profile-likelihood CI (lme4 confint(method = "profile")), when requested with ci="profile"
    profile_ci_low: float | None = None
    profile_ci_high: float | None = None

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        if self.profile_ci_low is None:
            del out["profile_ci_low"], out["profile_ci_high"]
        return out


@dataclass(frozen=True)
class ArmEstimate:
    """Model-implied outcome in one arm.

    conditional: at random effects 0 (a typical reader on a typical case);
    marginal: averaged over the normal random effects (population-averaged accuracy).
    """

    arm: str
    conditional: float
    marginal: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MixedModelSummary:
    formula: str
    family: str
    method: str | None
    converged: bool
    log_likelihood: float | None
    n_obs: int
    fixed_effects: tuple[dict, ...]
    random_effects: tuple[dict, ...]
    treatment_odds_ratio: TreatmentEffect | None
    treatment_effect: TreatmentEffect | None
    lrt: dict | None
    arm_estimates: tuple[ArmEstimate, ...]
    warnings: tuple[str, ...] = ()
    error: str | None = None
    reduced_from: str | None = None  # the requested formula when a simpler one is reported
    boundary: tuple[str, ...] = ()  # random-effect groups with variance estimated at 0
    attempts: tuple[dict, ...] = ()  # every formula tried, in order: {formula, outcome}

    def to_dict(self) -> dict:
        empty = {"estimate": None, "ci_low": None, "ci_high": None, "p_value": None}
        return {
            "formula": self.formula,
            "family": self.family,
            "method": self.method,
            "converged": self.converged,
            "log_likelihood": self.log_likelihood,
            "n_obs": self.n_obs,
            "fixed_effects": [dict(row) for row in self.fixed_effects],
            "treatment_odds_ratio": (
                self.treatment_odds_ratio.to_dict() if self.treatment_odds_ratio else empty
            ),
            "treatment_effect": self.treatment_effect.to_dict() if self.treatment_effect else empty,
            "likelihood_ratio_test": self.lrt,
            "arm_estimates": {a.arm: a.to_dict() for a in self.arm_estimates},
            "random_effects": [dict(row) for row in self.random_effects],
            "warnings": list(self.warnings),
            "error": self.error,
            "reduced_from": self.reduced_from,
            "boundary": list(self.boundary),
            "attempts": [dict(a) for a in self.attempts],
        }


def model_data(data: pd.DataFrame, treatment: str) -> pd.DataFrame:
    """The readings with `arm` coded 0 = control, 1 = treatment (other columns kept)."""
    out = data.copy()
    out["arm"] = (out["arm"] == treatment).astype(int)
    return out


def reduced_formula(formula: str, term: str = ARM_TERM) -> str | None:
    """The formula without the fixed `arm` term, or None if it has no such term."""
    lhs, _, rhs = formula.partition("~")
    terms = [t.strip() for t in _split_top_level(rhs)]
    if term not in terms:
        return None
    kept = [t for t in terms if t != term] or ["1"]
    return f"{lhs.strip()} ~ {' + '.join(kept)}"


def fallback_formulas(formula: str) -> list[str]:
    """The formula, then ever simpler ones, in the documented fallback order.

    Random terms are dropped one at a time: terms with more grouping factors (interactions such as
    ``(1|case:arm)``) before main terms, the last written first, down to one random term. For the
    default model: full, without (1|case:arm), without (1|reader:arm) too, then (1|reader) alone.
    """
    lhs, _, rhs = formula.partition("~")
    terms = [t.strip() for t in _split_top_level(rhs)]
    random = [t for t in terms if t.startswith("(") and "|" in t]
    order = sorted(
        range(len(random)), key=lambda i: (-random[i].count(":"), -i)
    )  # the first in this order is dropped first
    out = [formula]
    dropped: set[str] = set()
    for index in order[: max(0, len(random) - 1)]:
        dropped.add(random[index])
        kept = [t for t in terms if t not in dropped]
        out.append(f"{lhs.strip()} ~ {' + '.join(kept)}")
    return out


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "+" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def fit_mixed_model(
    data: pd.DataFrame,
    *,
    outcome: str,
    control: str,
    treatment: str,
    formula: str | None,
    binary: bool,
    fallback: bool = True,
    ci: str = "wald",
) -> MixedModelSummary:
    """Fit the mixed model; failures come back as a summary with `error` set, never raised.

    If the requested model raises or does not converge, the next formula of `fallback_formulas`
    is fitted, and so on; the first that converges is reported with `reduced_from` set to the
    requested formula and a warning saying why. If none converges, the first fit that ran at
    all is reported with its non-convergence warnings; if none ran, `error` says why each failed.
    ci="profile" adds the profile-likelihood CI of the arm effect next to the Wald one.
    """
    if ci not in ("wald", "profile"):
        raise ValueError(f"ci must be 'wald' or 'profile', not {ci!r}")
    formula = formula or default_formula(outcome)
    family = "binomial" if binary else "gaussian"
    frame = model_data(data.dropna(subset=[outcome]), treatment)
    try:
        from analysis.glmm import fit_glmm, likelihood_ratio_test
    except ImportError as exc:  # the engine ships separately; the rest of the report stands
        return _failed(formula, family, len(frame), f"mixed-model engine unavailable: {exc}")
    chosen, attempts, notes = fit_first_converging(
        frame, formula, family=family, fallback=fallback, profile_arm=ci == "profile"
    )
    attempts, notes = list(attempts), list(notes)
    if chosen is None:
        detail = " | ".join(f"{a['formula']}: {a['outcome']}" for a in attempts)
        summary = _failed(formula, family, len(frame), f"no mixed model could be fitted ({detail})")
        return replace(summary, attempts=tuple(attempts))
    lrt = None
    reduced_text = reduced_formula(chosen.formula)
    if reduced_text:
        try:
            reduced = fit_glmm(frame, reduced_text, family=family)
            lrt = likelihood_ratio_test(chosen, reduced)
        except Exception as exc:  # noqa: BLE001 - the Wald p-value still stands
            notes.append(
                f"likelihood-ratio test unavailable ({type(exc).__name__}: {exc}); p-value is Wald z"
            )
    summary = summarise(chosen, lrt, control=control, treatment=treatment, family=family)
    return replace(
        summary,
        warnings=(*notes, *summary.warnings),
        reduced_from=formula if chosen.formula != formula else None,
        attempts=tuple(attempts),
    )


def fit_first_converging(
    frame: pd.DataFrame, formula: str, *, family: str, fallback: bool = True, profile_arm: bool = False
) -> tuple[GlmmResult | None, tuple[dict, ...], tuple[str, ...]]:
    """(fit, attempts, notes): the first formula of `fallback_formulas` whose fit converges.

    If none converges, the first fit that ran at all, with a note saying so; None if none ran.
    `attempts` lists each formula tried and its outcome; the notes say why a simpler model is
    reported. Shared by the two-arm and the k-arm mixed model, so both fall back the same way.
    profile_arm adds the profile-likelihood CI of `arm` to candidates that have that term.
    """
    from analysis.glmm import fit_glmm

    candidates = fallback_formulas(formula) if fallback else [formula]
    attempts: list[dict] = []
    first_ran = chosen = None
    for candidate in candidates:
        profile = (ARM_TERM,) if profile_arm and reduced_formula(candidate) else ()
        try:
            fit = fit_glmm(frame, candidate, family=family, **({"profile": profile} if profile else {}))
        except Exception as exc:  # noqa: BLE001 - report any fitting failure, keep the analysis
            attempts.append({"formula": candidate, "outcome": f"failed: {type(exc).__name__}: {exc}"})
            continue
        if fit.converged:
            attempts.append({"formula": candidate, "outcome": "converged"})
            chosen = fit
            break
        reasons = "; ".join(w for w in fit.warnings if not w.startswith("boundary")) or "not converged"
        attempts.append({"formula": candidate, "outcome": f"did not converge: {reasons}"})
        first_ran = first_ran or fit
    notes: list[str] = []
    if chosen is None and first_ran is not None:
        chosen = first_ran
        notes.append(
            f"no model in the fallback order converged; reporting the non-converged fit of {chosen.formula}"
        )
    if chosen is not None and chosen.formula != formula:
        why = attempts[0]["outcome"]
        notes.insert(
            0,
            f"the requested model {formula} {why}; reported instead: {chosen.formula} (fallback order: "
            "interaction terms dropped first, last written first)",
        )
    return chosen, tuple(attempts), tuple(notes)


def _failed(formula: str, family: str, n_obs: int, message: str) -> MixedModelSummary:
    return MixedModelSummary(
        formula, family, None, False, None, n_obs, (), (), None, None, None, (), (), message
    )


def summarise(
    full: GlmmResult, lrt: tuple[float, float, float] | None, *, control: str, treatment: str, family: str
) -> MixedModelSummary:
    """Reader-study summary of a GlmmResult and an optional (chi2, df, p) LRT."""
    fixed = tuple(
        {"term": fe.term, "estimate": fe.estimate, "se": fe.se, "z": fe.z, "p_value": fe.p_value}
        for fe in full.fixed_effects
    )
    random_effects = tuple(
        {"group": effect.group, "variance": effect.variance}
        # random slopes (arm|reader): the model column and the correlation, as results.json has them
        | {key: getattr(effect, key) for key in ("term", "corr") if getattr(effect, key, None) is not None}
        for effect in full.random_effects
    )
    arm = next((fe for fe in full.fixed_effects if fe.term == ARM_TERM), None)
    lrt_dict = None
    if lrt is not None:
        chi2, df, p = lrt
        lrt_dict = {"statistic": float(chi2), "df": float(df), "p_value": float(p)}
    effect = odds = None
    if arm is not None:
        p_value = lrt_dict["p_value"] if lrt_dict else arm.p_value
        effect = _wald(arm.estimate, arm.se, p_value, transform=lambda x: x)
        if family == "binomial":
            odds = _wald(arm.estimate, arm.se, p_value, transform=math.exp)
        profile = {row[0]: row for row in getattr(full, "profile_ci", ())}.get(ARM_TERM)
        if profile is not None:
            low, high = profile[2], profile[3]
            effect = replace(effect, profile_ci_low=low, profile_ci_high=high)
            if odds is not None:
                odds = replace(odds, profile_ci_low=_exp(low), profile_ci_high=_exp(high))
    return MixedModelSummary(
        formula=full.formula,
        family=family,
        method=full.method,
        converged=bool(full.converged),
        log_likelihood=float(full.log_likelihood),
        n_obs=int(full.n_obs),
        fixed_effects=fixed,
        random_effects=random_effects,
        treatment_odds_ratio=odds,
        treatment_effect=effect,
        lrt=lrt_dict,
        arm_estimates=arm_estimates(full, family, control, treatment),
        warnings=tuple(str(w) for w in full.warnings),
        boundary=tuple(getattr(full, "boundary", ())),
    )


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def _wald(estimate: float, se: float, p_value: float, transform) -> TreatmentEffect:
    def safe(value: float) -> float:
        # Under (quasi-)separation the logit estimate and SE explode; exp() of them is +inf, not an error.
        try:
            return transform(value)
        except OverflowError:
            return math.inf

    return TreatmentEffect(
        estimate=safe(estimate),
        ci_low=safe(estimate - Z_975 * se),
        ci_high=safe(estimate + Z_975 * se),
        p_value=p_value,
    )


def arm_estimates(full: GlmmResult, family: str, control: str, treatment: str) -> tuple[ArmEstimate, ...]:
    """Outcome per arm implied by the fixed effects (only for intercept + arm models)."""
    terms = {fe.term: fe.estimate for fe in full.fixed_effects}
    if set(terms) != {"(Intercept)", ARM_TERM}:
        return ()
    total_variance = sum(
        max(effect.variance, 0.0) for effect in full.random_effects if getattr(effect, "term", None) != ARM_TERM
    )
    out = []
    for arm, code in ((control, 0), (treatment, 1)):
        eta = terms["(Intercept)"] + code * terms[ARM_TERM]
        if family == "binomial":
            variance = total_variance + code * _slope_variance(full.random_effects)
            out.append(ArmEstimate(arm, float(special.expit(eta)), marginal_probability(eta, variance)))
        else:
            out.append(ArmEstimate(arm, float(eta), float(eta)))
    return tuple(out)


def _slope_variance(effects) -> float:
    """Extra variance of the linear predictor in the treatment arm from (arm|g): var + 2 cov."""
    extra = 0.0
    for effect in effects:
        if getattr(effect, "term", None) != ARM_TERM:
            continue
        base = next((e for e in effects if e.group == effect.group and e.term == "(Intercept)"), None)
        corr = effect.corr if effect.corr is not None and math.isfinite(effect.corr) else 0.0  # NaN: a zero SD
        cov = corr * math.sqrt(max(base.variance, 0.0) * effect.variance) if base is not None else 0.0
        extra += effect.variance + 2.0 * cov
    return extra


def marginal_probability(eta: float, variance: float, points: int = 40) -> float:
    """E[expit(eta + u)], u ~ N(0, variance), by Gauss-Hermite quadrature."""
    if variance <= 0:
        return float(special.expit(eta))
    nodes, weights = _hermite(points)
    values = special.expit(eta + math.sqrt(2 * variance) * nodes)
    return float(np.sum(weights * values) / math.sqrt(math.pi))


@functools.lru_cache(maxsize=8)
def _hermite(points: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.hermite.hermgauss(points)


@functools.lru_cache(maxsize=256)
def logit_for_marginal(probability: float, variance: float) -> float:
    """The conditional intercept eta whose marginal probability (see above) is `probability`."""
    from scipy.optimize import brentq

    target = float(probability)
    return float(brentq(lambda eta: marginal_probability(eta, variance) - target, -30, 30))
