"""Frozen result objects of a mixed-model fit and the likelihood-ratio test between two fits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class FixedEffect:
    term: str
    estimate: float
    se: float
    z: float
    p_value: float  # two-sided, from the normal distribution (Wald z)


@dataclass(frozen=True)
class RandomEffect:
    group: str  # as written in the formula ("reader", "case:arm"); "Residual" for gaussian fits
    variance: float
    # random-slope terms (arm|reader) only: the model column ("(Intercept)", "arm") and, for the
    # slopes, the correlation with the term's first column (lme4's VarCorr); None otherwise
    term: str | None = None
    corr: float | None = None

    def to_dict(self) -> dict:
        """group and variance, plus term and corr where they apply."""
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class GlmmResult:
    formula: str
    family: str  # "binomial" | "gaussian"
    method: str  # "Laplace (ML)", "ML" or "REML"
    converged: bool
    log_likelihood: float
    n_obs: int
    fixed_effects: tuple[FixedEffect, ...]
    random_effects: tuple[RandomEffect, ...]
    warnings: tuple[str, ...]
    # random-effect groups whose variance is estimated at the boundary 0 (singular fit)
    boundary: tuple[str, ...] = ()
    # profile-likelihood confidence intervals: (term, level, low, high), as confint(method = "profile")
    profile_ci: tuple[tuple[str, float, float, float], ...] = ()
    # relative covariance parameters at the optimum (a warm start for refits of similar data)
    theta: tuple[float, ...] = field(default=(), repr=False, compare=False)
    # covariance of the fixed-effect estimates, rows in fixed_effects order (for contrasts)
    vcov: tuple[tuple[float, ...], ...] = field(default=(), repr=False, compare=False)

    def fixed(self, term: str) -> FixedEffect:
        for effect in self.fixed_effects:
            if effect.term == term:
                return effect
        names = ", ".join(e.term for e in self.fixed_effects)
        raise KeyError(f"no fixed effect {term!r}; terms are: {names}")

    def random(self, group: str, term: str | None = None) -> RandomEffect:
        """The (first) variance of ``group``; ``term`` picks a column of a slope term ("arm")."""
        for effect in self.random_effects:
            if effect.group == group and (term is None or effect.term == term):
                return effect
        raise KeyError(f"no random effect {group!r}")

    def profile_interval(self, term: str) -> tuple[float, float]:
        """(low, high) of the profile-likelihood CI of `term` on the linear-predictor scale."""
        for name, _level, low, high in self.profile_ci:
            if name == term:
                return low, high
        raise KeyError(f"no profile interval for {term!r}; fit with profile=({term!r},)")

    def odds_ratio(self, term: str, level: float = 0.95) -> dict[str, float]:
        """exp(estimate) with a Wald confidence interval; meaningful for the binomial family."""
        effect = self.fixed(term)
        half = stats.norm.ppf(0.5 + level / 2.0) * effect.se
        return {
            "estimate": float(np.exp(effect.estimate)),
            "ci_low": float(np.exp(effect.estimate - half)),
            "ci_high": float(np.exp(effect.estimate + half)),
            "p_value": effect.p_value,
        }

    def to_dict(self) -> dict:
        return {
            "formula": self.formula,
            "family": self.family,
            "method": self.method,
            "converged": self.converged,
            "log_likelihood": self.log_likelihood,
            "n_obs": self.n_obs,
            "fixed_effects": [asdict(e) for e in self.fixed_effects],
            "random_effects": [e.to_dict() for e in self.random_effects],
            "warnings": list(self.warnings),
            "boundary": list(self.boundary),
            "profile_ci": [
                {"term": t, "level": lv, "ci_low": lo, "ci_high": hi} for t, lv, lo, hi in self.profile_ci
            ],
        }


def fixed_effect(term: str, estimate: float, se: float) -> FixedEffect:
    z = estimate / se if se > 0 else float("nan")
    p = float(2.0 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")
    return FixedEffect(term=term, estimate=float(estimate), se=float(se), z=float(z), p_value=p)


def _n_parameters(result: GlmmResult) -> int:
    correlations = sum(1 for e in result.random_effects if getattr(e, "corr", None) is not None)
    return len(result.fixed_effects) + len(result.random_effects) + correlations


def likelihood_ratio_test(full: GlmmResult, reduced: GlmmResult) -> tuple[float, int, float]:
    """(chi2, df, p) for nested ML fits on the same rows.

    Testing a variance at its boundary of 0 this way is conservative (the null distribution is a
    50:50 mixture of chi2_0 and chi2_1); the plain chi2 p-value is returned, as R's anova() does.
    """
    if full.family != reduced.family:
        raise ValueError("likelihood-ratio test needs two fits of the same family")
    if full.n_obs != reduced.n_obs:
        raise ValueError(f"fits use different rows ({full.n_obs} vs {reduced.n_obs} observations)")
    if "REML" in (full.method, reduced.method):
        full_terms = {e.term for e in full.fixed_effects}
        if full_terms != {e.term for e in reduced.fixed_effects}:
            raise ValueError("REML likelihoods are not comparable across fixed effects; refit with ML")
    df = _n_parameters(full) - _n_parameters(reduced)
    if df <= 0:
        raise ValueError("the full model must have more parameters than the reduced one")
    # an optimiser can leave the larger model a hair below the smaller one; that is no evidence
    chi2 = max(0.0, 2.0 * (full.log_likelihood - reduced.log_likelihood))
    return chi2, df, float(stats.chi2.sf(chi2, df))
