"""Cumulative-link mixed models (ordinal outcomes), as R's ordinal::clmm with its defaults.

    logit P(Y <= j) = theta_j - (X beta + Z b),   b_k ~ N(0, sigma_k^2) per random intercept term

with flexible thresholds theta_1 < ... < theta_{J-1}, fitted by maximum likelihood with the
Laplace approximation (clmm's nAGQ = 1): for spherical u (b = Lambda u) the conditional modes u*
maximise log p(y | u) - |u|^2 / 2 (Newton with step halving), and

    logLik = log p(y | u*) - |u*|^2 / 2 - log|Lambda Z' W Z Lambda + I| / 2,

W the observed information -d^2 log p / d eta^2 per reading at u* (clmm's `phi2`). The outer
optimisation is over (theta_1, log increments, beta, sigma) by L-BFGS (the likelihood is even in
each sigma, so sigma is unconstrained and a variance can reach 0); standard errors come from
the central-difference Hessian of -logLik over all parameters (thresholds and beta block of its
inverse), like clmm's Hess = TRUE. Random terms are intercepts, any number, crossed or nested
(``(1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)``); linear algebra as in analysis.glmm:
the term with most levels is eliminated through its diagonal block, the rest is a dense Cholesky.

Checked against ordinal 2022.11.16 fits stored in tests/fixtures/clmm/ (R call in make.R).

Long module: the cumulative-link mixed model (likelihood, gradient, Laplace step, thresholds) is one
numerical unit checked against ordinal::clmm.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from analysis.formula import parse_formula

Z_975 = 1.959964
BOUNDARY_SD = 1e-4  # a random-effect SD below this (relative to 1 on the logit scale) counts as 0
NEWTON_TOL = 1e-10
NEWTON_MAX_ITER = 100


# --- design --------------------------------------------------------------------------------------


@dataclass
class OrdinalDesign:
    y: np.ndarray  # 0..J-1 category index
    levels: tuple[str, ...]  # category labels in order
    X: np.ndarray  # fixed effects without intercept
    names: tuple[str, ...]
    groups: tuple[str, ...]
    codes: tuple[np.ndarray, ...]
    n_levels: tuple[int, ...]
    n_dropped: int


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def build_ordinal_design(data: pd.DataFrame, formula: str) -> OrdinalDesign:
    parsed = parse_formula(formula)
    if not parsed.random_terms:
        raise ValueError(f"formula {formula!r} has no random term such as (1|reader)")
    missing = [v for v in parsed.variables if v not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in the data: {', '.join(repr(m) for m in missing)}")
    frame = data[list(parsed.variables)].dropna()
    dropped = len(data) - len(frame)
    response = frame[parsed.response]
    numeric = pd.to_numeric(response, errors="coerce")
    if numeric.notna().all():
        values = sorted(numeric.unique())
        levels = tuple(_label(float(v)) for v in values)
        y = np.searchsorted(np.asarray(values, float), numeric.to_numpy(float))
    elif isinstance(response.dtype, pd.CategoricalDtype) and response.cat.ordered:
        present = [c for c in response.cat.categories if (response == c).any()]
        levels = tuple(str(c) for c in present)
        y = response.map({c: i for i, c in enumerate(present)}).to_numpy(int)
    else:
        raise ValueError(f"ordinal outcome '{parsed.response}' must be an ordered integer scale")
    if len(levels) < 3:
        raise ValueError(f"ordinal outcome '{parsed.response}' has {len(levels)} level(s); use the binomial GLMM for 2")
    columns, names = [], []
    for term in parsed.fixed_terms:
        values = np.ones(len(frame))
        for variable in term:
            column = pd.to_numeric(frame[variable], errors="coerce")
            if column.isna().any():
                raise ValueError(f"fixed effect '{variable}' must be numeric (code factors as 0/1 columns)")
            values = values * column.to_numpy(float)
        columns.append(values)
        names.append(":".join(term))
    X = np.column_stack(columns) if columns else np.zeros((len(frame), 0))
    codes, n_levels, groups = [], [], []
    for term in parsed.random_terms:
        if term.slopes or not term.intercept:
            raise ValueError(f"random slopes ({term.group}) are not supported for ordinal models; use (1|{term.group})")
        key = frame[list(term.factors)].astype(str).agg(":".join, axis=1)
        code, uniques = pd.factorize(key, sort=True)
        codes.append(code.astype(np.intp))
        n_levels.append(len(uniques))
        groups.append(term.group)
    return OrdinalDesign(y.astype(np.intp), levels, X, tuple(names), tuple(groups), tuple(codes), tuple(n_levels),
                         dropped)


# --- linear algebra ------------------------------------------------------------------------------


class _Structure:
    """Index arrays for A = Lambda Z' W Z Lambda + I with the largest term eliminated first."""

    def __init__(self, codes: tuple[np.ndarray, ...], n_levels: tuple[int, ...]) -> None:
        self.codes, self.n_levels, self.k = codes, n_levels, len(codes)
        self.offsets = np.concatenate([[0], np.cumsum(n_levels)]).astype(np.intp)
        self.q = int(self.offsets[-1])
        self.lead = int(np.argmax(n_levels))
        self.rest = [t for t in range(self.k) if t != self.lead]
        starts = np.concatenate([[0], np.cumsum([n_levels[t] for t in self.rest])]).astype(np.intp)
        self.rest_start = dict(zip(self.rest, starts[:-1], strict=True))
        self.qr = int(starts[-1])
        self.q1 = n_levels[self.lead]
        if self.qr > 8000:
            raise ValueError(f"random terms other than the largest have {self.qr} levels; at most 8000 are supported")
        self.pos = {t: self.rest_start[t] + codes[t] for t in self.rest}
        self.cross = {t: codes[self.lead] * self.qr + self.pos[t] for t in self.rest}
        self.pairs = {(a, b): self.pos[a] * self.qr + self.pos[b] for a in self.rest for b in self.rest}
        self.lead_index = self.offsets[self.lead] + np.arange(self.q1)
        self.rest_index = (
            np.concatenate([self.offsets[t] + np.arange(n_levels[t]) for t in self.rest])
            if self.rest else np.empty(0, np.intp)
        )

    def z_lambda(self, sd: np.ndarray, u: np.ndarray) -> np.ndarray:
        out = np.zeros(len(self.codes[0]))
        for t in range(self.k):
            out += sd[t] * u[self.offsets[t] + self.codes[t]]
        return out

    def z_lambda_t(self, sd: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.concatenate([sd[t] * np.bincount(self.codes[t], v, self.n_levels[t]) for t in range(self.k)])


class _Factor:
    def __init__(self, s: _Structure, sd: np.ndarray, w: np.ndarray) -> None:
        self.s = s
        lead = s.lead
        self.d = 1.0 + sd[lead] ** 2 * np.bincount(s.codes[lead], w, s.q1)
        if not s.rest:
            self.chol, self.c = None, None
            return
        c = np.zeros(s.q1 * s.qr)
        for t in s.rest:
            c += np.bincount(s.cross[t], w * (sd[lead] * sd[t]), s.q1 * s.qr)
        self.c = c.reshape(s.q1, s.qr)
        a22 = np.zeros(s.qr * s.qr)
        for (a, b), flat in s.pairs.items():
            a22 += np.bincount(flat, w * (sd[a] * sd[b]), s.qr * s.qr)
        a22 = a22.reshape(s.qr, s.qr)
        a22[np.diag_indices(s.qr)] += 1.0
        scaled = self.c / np.sqrt(self.d)[:, None]
        schur = a22 - scaled.T @ scaled
        self.chol = cho_factor(schur, lower=True, check_finite=False)

    def logdet(self) -> float:
        value = float(np.sum(np.log(self.d)))
        if self.chol is not None:
            value += 2.0 * float(np.sum(np.log(np.diag(self.chol[0]))))
        return value

    def solve(self, b: np.ndarray) -> np.ndarray:
        s = self.s
        b1 = b[s.lead_index]
        out = np.empty_like(b)
        if self.chol is None:
            out[s.lead_index] = b1 / self.d
            return out
        x2 = cho_solve(self.chol, b[s.rest_index] - self.c.T @ (b1 / self.d), check_finite=False)
        out[s.rest_index] = x2
        out[s.lead_index] = (b1 - self.c @ x2) / self.d
        return out


# --- the Laplace likelihood ----------------------------------------------------------------------


def _logistic_density(x: np.ndarray) -> np.ndarray:
    p = expit(x)
    return p * (1 - p)


class _ClmmProblem:
    def __init__(self, design: OrdinalDesign) -> None:
        self.d = design
        self.s = _Structure(design.codes, design.n_levels)
        self.n_cut = len(design.levels) - 1
        self.p = design.X.shape[1]
        self.k = len(design.groups)
        self.u = np.zeros(self.s.q)
        self.upper = design.y  # index of theta_j above: y=j uses theta_j (upper) and theta_{j-1}
        self.has_upper = design.y < self.n_cut
        self.has_lower = design.y > 0
        self.evaluations = 0
        self.inner_failures = 0

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        j = self.n_cut
        theta = np.cumsum(np.concatenate([[x[0]], np.exp(x[1:j])]))
        return theta, x[j : j + self.p], np.abs(x[j + self.p :])  # even in each SD: no bound at 0

    def pack(self, theta: np.ndarray, beta: np.ndarray, sd: np.ndarray) -> np.ndarray:
        return np.concatenate([[theta[0]], np.log(np.diff(theta)), beta, sd])

    def _terms(self, theta: np.ndarray, eta: np.ndarray):
        """log p, d log p / d eta and the observed information per reading."""
        y = self.d.y
        up = np.where(self.has_upper, np.concatenate([theta, [0.0]])[np.minimum(y, self.n_cut)] - eta, np.inf)
        lo = np.where(self.has_lower, np.concatenate([[0.0], theta])[y] - eta, -np.inf)
        # p = F(up) - F(lo), computed stably on the side where it does not cancel
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            log_p = np.where(
                lo > 0,
                log_expit(-lo) + np.log1p(-np.exp(np.minimum(log_expit(-up) - log_expit(-lo), -1e-300))),
                log_expit(up) + np.log1p(-np.exp(np.minimum(log_expit(lo) - log_expit(up), -1e-300))),
            )
        p = np.exp(log_p)
        f_up = np.where(self.has_upper, _logistic_density(np.where(self.has_upper, up, 0.0)), 0.0)
        f_lo = np.where(self.has_lower, _logistic_density(np.where(self.has_lower, lo, 0.0)), 0.0)
        g_up = np.where(self.has_upper, f_up * (1 - 2 * expit(np.where(self.has_upper, up, 0.0))), 0.0)
        g_lo = np.where(self.has_lower, f_lo * (1 - 2 * expit(np.where(self.has_lower, lo, 0.0))), 0.0)
        score = -(f_up - f_lo) / p  # d log p / d eta
        info = score**2 - (g_up - g_lo) / p
        return log_p, score, info

    def modes(self, theta: np.ndarray, beta: np.ndarray, sd: np.ndarray) -> tuple[float, np.ndarray]:
        """Penalised log-likelihood at the conditional modes and the modes (warm-started)."""
        fixed = self.d.X @ beta
        u = self.u.copy()
        log_p, score, info = self._terms(theta, fixed + self.s.z_lambda(sd, u))
        value = float(log_p.sum() - u @ u / 2)
        for _ in range(NEWTON_MAX_ITER):
            factor = _Factor(self.s, sd, info)
            step = factor.solve(self.s.z_lambda_t(sd, score) - u)
            scale = 1.0
            while True:
                trial = u + scale * step
                t_log_p, t_score, t_info = self._terms(theta, fixed + self.s.z_lambda(sd, trial))
                t_value = float(t_log_p.sum() - trial @ trial / 2)
                if t_value >= value - 1e-12 * abs(value) or scale < 1e-10:
                    break
                scale /= 2
            u, value, score, info = trial, t_value, t_score, t_info
            if np.max(np.abs(scale * step), initial=0.0) < NEWTON_TOL:
                break
        else:
            self.inner_failures += 1
        self.u = u
        return value, u

    def neg_loglik(self, x: np.ndarray) -> float:
        self.evaluations += 1
        theta, beta, sd = self.unpack(x)
        if not np.all(np.isfinite(theta)):
            return np.inf
        value, u = self.modes(theta, beta, sd)
        _, _, info = self._terms(theta, self.d.X @ beta + self.s.z_lambda(sd, u))
        if np.any(info < 0):
            return np.inf
        return -(value - _Factor(self.s, sd, info).logdet() / 2)


def _gradient(f, x: np.ndarray, step: float = 1e-5) -> np.ndarray:
    g = np.empty(len(x))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = step
        g[i] = (f(x + e) - f(x - e)) / (2 * step)
    return g


def _hessian(f, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    n = len(x)
    h = np.empty((n, n))
    f0 = f(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = step
        h[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / step**2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = step
            h[i, j] = h[j, i] = (
                f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            ) / (4 * step**2)
    return h


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClmmFit:
    formula: str
    link: str
    converged: bool
    log_likelihood: float
    n_obs: int
    levels: tuple[str, ...]
    thresholds: tuple[dict, ...]
    fixed_effects: tuple[dict, ...]
    random_effects: tuple[dict, ...]
    warnings: tuple[str, ...]
    seconds: float
    vcov: tuple[tuple[float, ...], ...] = field(default=(), repr=False, compare=False)

    def fixed(self, term: str) -> dict:
        return next(row for row in self.fixed_effects if row["term"] == term)

    def to_dict(self) -> dict:
        return {
            "formula": self.formula,
            "link": self.link,
            "method": "Laplace (ML)",
            "converged": self.converged,
            "log_likelihood": self.log_likelihood,
            "n_obs": self.n_obs,
            "levels": list(self.levels),
            "thresholds": [dict(t) for t in self.thresholds],
            "fixed_effects": [dict(f) for f in self.fixed_effects],
            "random_effects": [dict(r) for r in self.random_effects],
            "warnings": list(self.warnings),
            "seconds": self.seconds,
        }


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """One BLAS thread: the dense blocks are small and threads oversubscribe shared machines (3x slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def fit_clmm(data: pd.DataFrame, formula: str) -> ClmmFit:
    """Fit ``formula`` (lme4 syntax; the response an ordered integer scale) by Laplace ML, logit link."""
    with _single_threaded_blas():
        return _fit_clmm(data, formula)


def _fit_clmm(data: pd.DataFrame, formula: str) -> ClmmFit:
    started = time.perf_counter()
    design = build_ordinal_design(data, formula)
    problem = _ClmmProblem(design)
    counts = np.bincount(design.y, minlength=len(design.levels))
    cumulative = np.cumsum(counts)[:-1] / len(design.y)
    theta0 = np.log(cumulative / (1 - cumulative))
    x0 = problem.pack(theta0, np.zeros(problem.p), np.full(problem.k, 0.5))
    fun = problem.neg_loglik
    opt = minimize(
        lambda x: (fun(x), _gradient(fun, x)), x0, jac=True, method="L-BFGS-B",
        options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-8},
    )
    x = opt.x
    theta, beta, sd = problem.unpack(x)
    boundary = sd < BOUNDARY_SD
    warnings = []
    if design.n_dropped:
        warnings.append(f"{design.n_dropped} rows with missing values were dropped")
    for group, at_zero in zip(design.groups, boundary, strict=True):
        if at_zero:
            warnings.append(f"boundary (singular) fit: variance of (1|{group}) estimated as 0")
    # Hessian over (theta, beta, sd) on the natural scale, like clmm; boundary SDs are left out
    free = ~np.concatenate([np.zeros(len(theta) + len(beta), bool), boundary])
    natural = np.concatenate([theta, beta, sd])

    def on_natural(z: np.ndarray) -> float:
        full = natural.copy()
        full[free] = z
        t, b, s = full[: len(theta)], full[len(theta) : len(theta) + len(beta)], full[len(theta) + len(beta) :]
        if np.any(np.diff(t) <= 0):
            return np.inf
        return fun(problem.pack(t, b, np.abs(s)))

    hess = _hessian(on_natural, natural[free])
    try:
        vcov_free = np.linalg.inv(hess)
        ok = np.all(np.isfinite(vcov_free)) and np.all(np.diag(vcov_free)[: len(theta) + len(beta)] > 0)
    except np.linalg.LinAlgError:
        ok = False
    n_fixed = len(theta) + len(beta)
    if ok:
        vcov = vcov_free[:n_fixed, :n_fixed]
    else:
        vcov = np.full((n_fixed, n_fixed), np.nan)
        warnings.append("Hessian of the log-likelihood is not positive definite: standard errors unavailable")
    grad = _gradient(fun, x)[: n_fixed]
    converged = bool(ok and np.max(np.abs(grad)) < 1e-3 and problem.inner_failures == 0)
    if not converged and ok:
        warnings.append(f"model may not have converged: max|gradient| = {np.max(np.abs(grad)):.2g}")
    se = np.sqrt(np.diag(vcov))
    thresholds = tuple(
        {"between": f"{design.levels[j]}|{design.levels[j + 1]}", "estimate": float(theta[j]), "se": float(se[j])}
        for j in range(len(theta))
    )
    fixed = []
    for i, name in enumerate(design.names):
        b, s = float(beta[i]), float(se[len(theta) + i])
        z = b / s if s > 0 else math.nan
        fixed.append({"term": name, "estimate": b, "se": s, "z": z,
                      "p_value": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else math.nan})
    return ClmmFit(
        formula=formula,
        link="logit",
        converged=converged,
        log_likelihood=-float(fun(x)),
        n_obs=len(design.y),
        levels=design.levels,
        thresholds=thresholds,
        fixed_effects=tuple(fixed),
        random_effects=tuple(
            {"group": g, "variance": float(0.0 if z else s**2)}
            for g, s, z in zip(design.groups, sd, boundary, strict=True)
        ),
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
        vcov=tuple(tuple(float(v) for v in row) for row in vcov),
    )


# --- the reader-study summary (compare --family ordinal) ----------------------------------------


@dataclass(frozen=True)
class ClmmSummary:
    """results.json `clmm` (DESIGN 5.2a); arm coded 0 = control, 1 = treatment."""

    control: str
    treatment: str
    fit: ClmmFit | None
    treatment_odds_ratio: dict | None
    lrt: dict | None
    predicted: dict
    predicted_conditional: dict
    proportional_odds: dict | None
    error: str | None = None

    def to_dict(self) -> dict:
        base = self.fit.to_dict() if self.fit else {
            "formula": None, "link": "logit", "converged": False, "log_likelihood": None, "thresholds": [],
            "fixed_effects": [], "random_effects": [], "warnings": [],
        }
        return {
            **base,
            "treatment_odds_ratio": self.treatment_odds_ratio,
            "likelihood_ratio_test": self.lrt,
            "predicted": self.predicted,
            "predicted_conditional": self.predicted_conditional,
            "proportional_odds": self.proportional_odds,
            "odds_ratio_means": f"odds of a higher category with {self.treatment} vs {self.control}",
            "error": self.error,
        }


def _category_probabilities(theta: np.ndarray, eta: float, variance: float) -> np.ndarray:
    """P(Y = j) at linear predictor eta, averaged over b ~ N(0, variance) (Gauss-Hermite, 40 nodes)."""
    nodes, weights = np.polynomial.hermite.hermgauss(40)
    shifts = np.sqrt(2 * variance) * nodes if variance > 0 else np.zeros(1)
    weights = weights / np.sqrt(np.pi) if variance > 0 else np.ones(1)
    cumulative = expit(theta[None, :] - eta - shifts[:, None])  # nodes x cuts
    full = np.column_stack([np.zeros(len(shifts)), cumulative, np.ones(len(shifts))])
    return weights @ np.diff(full, axis=1)


def _reduced(formula: str) -> str:
    from analysis.mixed import reduced_formula

    return reduced_formula(formula)


def clmm_analysis(
    data: pd.DataFrame, *, outcome: str, control: str, treatment: str, formula: str | None = None,
    proportional_odds_check: bool = True,
) -> ClmmSummary:
    """Fit the CLMM of `outcome` on arm; failures come back in `error`, never raised."""
    from analysis.mixed import default_formula, model_data

    formula = formula or default_formula(outcome)
    frame = model_data(data.dropna(subset=[outcome]), treatment)
    try:
        full = fit_clmm(frame, formula)
        reduced_text = _reduced(formula)
        reduced = fit_clmm(frame, reduced_text) if reduced_text else None
    except Exception as exc:  # noqa: BLE001 - the rest of the comparison stands
        return ClmmSummary(control, treatment, None, None, None, {}, {}, None, f"{type(exc).__name__}: {exc}")
    lrt = None
    if reduced is not None:
        chi2 = max(0.0, 2 * (full.log_likelihood - reduced.log_likelihood))
        lrt = {"statistic": chi2, "df": 1, "p_value": float(stats.chi2.sf(chi2, 1))}
    odds = None
    arm = next((f for f in full.fixed_effects if f["term"] == "arm"), None)
    if arm is not None:
        half = Z_975 * arm["se"]
        odds = {
            "estimate": _exp(arm["estimate"]),
            "ci_low": _exp(arm["estimate"] - half),
            "ci_high": _exp(arm["estimate"] + half),
            "p_value": lrt["p_value"] if lrt else arm["p_value"],
            "wald_p_value": arm["p_value"],
        }
    predicted, conditional = {}, {}
    if {f["term"] for f in full.fixed_effects} == {"arm"}:
        theta = np.array([t["estimate"] for t in full.thresholds])
        variance = sum(r["variance"] for r in full.random_effects)
        for name, code in ((control, 0), (treatment, 1)):
            eta = code * arm["estimate"]
            predicted[name] = dict(zip(full.levels, map(float, _category_probabilities(theta, eta, variance)),
                                       strict=True))
            conditional[name] = dict(zip(full.levels, map(float, _category_probabilities(theta, eta, 0.0)),
                                         strict=True))
    po = _proportional_odds(frame, outcome, formula, full) if proportional_odds_check and arm else None
    return ClmmSummary(control, treatment, full, odds, lrt, predicted, conditional, po)


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def _proportional_odds(frame: pd.DataFrame, outcome: str, formula: str, full: ClmmFit) -> dict:
    """The binomial GLMM of 'above cut-point j' at each cut: under proportional odds every arm log-OR
    estimates the CLMM's arm coefficient."""
    from analysis.glmm import fit_glmm

    design_levels = full.levels
    values = pd.to_numeric(frame[outcome], errors="coerce")
    rhs = formula.partition("~")[2]
    cuts = []
    for j in range(len(design_levels) - 1):
        threshold = float(design_levels[j])
        binary = frame.assign(_above=(values > threshold).astype(float).where(values.notna()))
        try:
            fit = fit_glmm(binary, f"_above ~{rhs}", family="binomial")
            effect = fit.fixed("arm")
            cuts.append({"cut": f"> {design_levels[j]}", "estimate": effect.estimate, "se": effect.se,
                         "ci_low": effect.estimate - Z_975 * effect.se, "ci_high": effect.estimate + Z_975 * effect.se,
                         "converged": bool(fit.converged)})
        except Exception as exc:  # noqa: BLE001 - one cut failing leaves the others
            cuts.append({"cut": f"> {design_levels[j]}", "estimate": None, "se": None, "error": str(exc)})
    clmm_arm = full.fixed("arm")["estimate"]
    finite = [c["estimate"] for c in cuts if c.get("estimate") is not None]
    outside = [c["cut"] for c in cuts if c.get("ci_low") is not None and not c["ci_low"] <= clmm_arm <= c["ci_high"]]
    return {
        "clmm_arm_estimate": clmm_arm,
        "cuts": cuts,
        "max_abs_difference": max((abs(e - clmm_arm) for e in finite), default=None),
        "cuts_excluding_clmm_estimate": outside,
        "note": "log odds ratios of the arm for 'above the cut' from binomial GLMMs with the same random terms; "
        "under proportional odds each estimates the CLMM's arm coefficient",
    }
