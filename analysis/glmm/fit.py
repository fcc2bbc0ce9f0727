"""fit_glmm: formula + data -> GlmmResult, for logit GLMMs (Laplace) and linear mixed models.

Long module: the Laplace fit, its optimiser fallbacks and the likelihood-ratio path share the
penalised IRLS state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from analysis.formula import parse_formula
from analysis.glmm.binomial import BinomialLaplace
from analysis.glmm.design import Design, build_design
from analysis.glmm.gaussian import GaussianProfile
from analysis.glmm.linalg import ReStructure
from analysis.glmm.result import GlmmResult, RandomEffect, fixed_effect
from analysis.glmm.slopes import SlopeLaplace, SlopeStructure, hessian, minimise_bounded

SINGULAR_TOL = 1e-4  # lme4's isSingular(): a relative SD below this counts as 0
GRADIENT_TOL = 2e-3  # lme4's check.conv.grad: max |Hessian-scaled gradient|
HESSIAN_STEP = 1e-4  # lme4's deriv12 delta; we difference the analytic gradient instead
SEPARATION_LOGIT = 10.0  # |beta| beyond this on the logit scale means a probability of ~0 or ~1
ESCAPE_PROBE = 1e-2  # theta at which the slope is probed when an optimum sits at theta = 0
ESCAPE_RESTART = 0.5  # theta restarted from when the deviance falls away from 0
PROFILE_TOL = 1e-5  # |zeta - z| at which a profile limit is accepted
ITERATION_LIMIT = "optimiser did not converge within 1000 iterations"
FAILURES = ("model failed", "penalised IRLS", "optimiser")  # warnings that mean converged=False


def fit_glmm(
    data: pd.DataFrame,
    formula: str,
    family: str = "binomial",
    reml: bool = False,
    *,
    engine: str = "auto",
    profile: tuple[str, ...] = (),
    level: float = 0.95,
    start: GlmmResult | None = None,
    standard_errors: bool = True,
) -> GlmmResult:
    """Fit ``formula`` (lme4 syntax) by maximum likelihood.

    Random intercepts ``(1|g)`` use the block engines below; a model with a correlated random
    slope ``(arm|reader)`` is routed by structure to the dense general-Lambda engine of
    ``analysis.glmm.slopes`` (lme4's parameterisation; no profile CIs there).

    binomial: logit link, Laplace approximation as lme4::glmer(nAGQ = 1); standard errors from
    the finite-difference Hessian over (theta, beta) like lme4's default vcov().
    gaussian: lme4::lmer's profiled deviance, ML by default or REML with ``reml=True``.
    engine: "auto" (by structure), "sparse" (block elimination, ``analysis.glmm.sparse``) or
    "dense" (one-term elimination); all give the same numbers to rounding.
    profile: fixed-effect terms that get a profile-likelihood CI at ``level`` (lme4's
    ``confint(method = "profile")``; each costs a few refits, so none by default).
    start: a previous fit of the same formula (e.g. on similar simulated data): its theta and
    beta are the starting point instead of theta = 1 and the GLM (warm start).
    standard_errors: False skips the Hessian (SEs are NaN): enough for likelihood-ratio tests.
    """
    if family not in ("binomial", "gaussian"):
        raise ValueError(f"family must be 'binomial' or 'gaussian', not {family!r}")
    if reml and family != "gaussian":
        raise ValueError("REML is defined for the gaussian family only")
    parsed = parse_formula(formula)
    if not parsed.random_terms:
        raise ValueError(f"formula {formula!r} has no random term such as (1|reader)")
    design = build_design(data, parsed, family)
    if design.has_slopes:
        return _route_slopes(formula, design, family, reml, engine, profile, standard_errors)
    structure = ReStructure(design.codes, design.n_levels, engine)
    notes = _design_warnings(design)
    for term in profile:
        if term not in design.column_names:
            raise ValueError(
                f"cannot profile {term!r}: fixed-effect terms are {', '.join(design.column_names)}"
            )
    if profile and reml:
        raise ValueError("profile intervals of fixed effects need an ML fit (reml=False)")
    x0 = None
    if start is not None and len(start.theta) == len(design.codes):
        x0 = np.concatenate([start.theta, [e.estimate for e in start.fixed_effects]])
        if len(x0) != len(design.codes) + design.X.shape[1] or not np.all(np.isfinite(x0)):
            x0 = None
    options = FitOptions(profile, level, x0, standard_errors)
    with _single_threaded_blas():
        if family == "binomial":
            return _fit_binomial(formula, design, structure, notes, options)
        return _fit_gaussian(formula, design, structure, reml, notes, options)


def _route_slopes(
    formula: str, design: Design, family: str, reml: bool, engine: str, profile: tuple, standard_errors: bool
) -> GlmmResult:
    """Random slopes go to the dense general-Lambda engine (``analysis.glmm.slopes``)."""
    if profile:
        raise ValueError("profile intervals are not available for random-slope models yet")
    if engine == "sparse":
        raise ValueError("random-slope models use the dense engine (engine='auto' or 'dense')")
    with _single_threaded_blas():
        return fit_slopes(formula, design, family, reml, _design_warnings(design), standard_errors)


@dataclass(frozen=True)
class FitOptions:
    profile: tuple[str, ...] = ()
    level: float = 0.95
    x0: np.ndarray | None = None
    standard_errors: bool = True


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """One BLAS thread while fitting; threadpoolctl is optional.

    The dense blocks are at most a few thousand wide, and on shared machines (web workers,
    parallel power simulations) OpenBLAS threads oversubscribe the cores: the 200,000-reading
    benchmark ran 8x slower with them on a loaded 2-core machine.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _design_warnings(design: Design) -> list[str]:
    notes = []
    if design.n_dropped:
        notes.append(f"{design.n_dropped} rows with missing values were dropped")
    if design.dropped_columns:
        notes.append(
            "fixed-effect model matrix is rank deficient; dropped: " + ", ".join(design.dropped_columns)
        )
    for group, levels in zip(design.groups, design.n_levels, strict=True):
        if levels < 2:
            notes.append(f"random effect {group!r} has a single level; its variance is not identifiable")
    return notes


def _glm_start(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Logistic regression by IRLS, a starting point for beta; capped because of separation."""
    beta = np.zeros(X.shape[1])
    for _ in range(25):
        mu = np.clip(expit(X @ beta), 1e-6, 1 - 1e-6)
        w = mu * (1 - mu)
        step = np.linalg.lstsq(X.T @ (X * w[:, None]), X.T @ (y - mu), rcond=None)[0]
        beta = np.clip(beta + step, -15.0, 15.0)
        if np.max(np.abs(step), initial=0.0) < 1e-8:
            break
    return beta


def _hessian(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Central differences of the analytic gradient (theta may step below 0: the deviance is even in it)."""
    columns = []
    for j in range(len(x)):
        step = np.zeros(len(x))
        step[j] = HESSIAN_STEP
        columns.append((gradient(x + step) - gradient(x - step)) / (2 * HESSIAN_STEP))
    h = np.column_stack(columns)
    return (h + h.T) / 2


def _newton_polish(problem: BinomialLaplace, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A few Newton steps from the quasi-Newton optimum; returns x and the Hessian there.

    L-BFGS-B stops on relative changes of a deviance in the 10^5 range; the Newton step with the
    Hessian we need for standard errors anyway removes what is left. Thetas at 0 stay there
    (their gradient is 0 by symmetry, so the Newton step leaves them alone).
    """
    n_theta = problem.n_theta
    gradient = lambda z: problem.value_and_gradient(z)[1]  # noqa: E731
    for _ in range(3):
        value, g = problem.value_and_gradient(x)
        h = _hessian(gradient, x)
        try:
            step = -np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return x, h
        candidate = _fold_theta(x + step, n_theta)
        if problem.deviance(candidate) > value + 1e-9 * abs(value):
            return x, h
        x = candidate
        if np.max(np.abs(step)) < 1e-3:  # the Hessian barely moves over such a step
            return x, h
    return x, _hessian(gradient, x)


ValueAndGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _fold_theta(x: np.ndarray, n_theta: int) -> np.ndarray:
    """|theta|, with values below lme4's singularity tolerance set to the boundary 0."""
    x = x.copy()
    theta = np.abs(x[:n_theta])
    theta[theta < SINGULAR_TOL] = 0.0
    x[:n_theta] = theta
    return x


def _lbfgs(fun: ValueAndGradient, x0: np.ndarray, n_theta: int) -> tuple[np.ndarray, bool]:
    """Unconstrained over theta: the deviance is even in each theta, so theta may cross 0.

    With a bound at 0 instead, a step projected onto the bound lands where the gradient is
    exactly 0 by symmetry and the optimiser stops there even when the deviance falls inside.
    """
    opt = minimize(
        fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-7}
    )
    # "ABNORMAL_TERMINATION_IN_LNSRCH" at this ftol means no further progress is possible,
    # which is convergence for our purpose; running out of iterations is not
    return _fold_theta(opt.x, n_theta), opt.nit < 1000


def _escapable(fun: ValueAndGradient, x: np.ndarray, n_theta: int) -> np.ndarray:
    """Thetas at 0 although the deviance falls when they grow (probed a little inside)."""
    escapable = np.zeros(n_theta, bool)
    for k in np.flatnonzero(x[:n_theta] == 0):
        probe = x.copy()
        probe[k] = ESCAPE_PROBE
        escapable[k] = fun(probe)[1][k] < 0
    return escapable


def _minimise(fun: ValueAndGradient, x0: np.ndarray, n_theta: int) -> tuple[np.ndarray, bool]:
    x, ok = _lbfgs(fun, x0, n_theta)
    for _ in range(n_theta):
        escapable = _escapable(fun, x, n_theta)
        if not escapable.any():
            break
        restart = x.copy()
        restart[:n_theta][escapable] = ESCAPE_RESTART
        candidate, candidate_ok = _lbfgs(fun, restart, n_theta)
        if fun(candidate)[0] >= fun(x)[0]:
            break
        x, ok = candidate, candidate_ok
    return x, ok


def _hessian_vcov(h: np.ndarray, x: np.ndarray, n_theta: int) -> np.ndarray | None:
    """lme4: 2 * solve(H)[beta, beta]; None when that is not positive definite.

    Rows of thetas on the boundary are left out: their cross-derivatives are 0 by symmetry, so
    the beta block is unchanged, and a flat direction at 0 cannot make the inverse fail.
    """
    keep = np.ones(len(x), bool)
    keep[:n_theta] = x[:n_theta] != 0
    n_free_theta = int(keep[:n_theta].sum())
    try:
        v = 2.0 * np.linalg.inv(h[np.ix_(keep, keep)])[n_free_theta:, n_free_theta:]
    except np.linalg.LinAlgError:
        return None
    v = (v + v.T) / 2
    if not np.all(np.isfinite(v)) or np.linalg.eigvalsh(v).min() <= 0:
        return None
    return v


def _scaled_gradient(h: np.ndarray, g: np.ndarray) -> float | None:
    """max |chol(H)^-T g|, lme4's convergence criterion; None when H is not positive definite."""
    try:
        lower = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return None
    return float(np.max(np.abs(np.linalg.solve(lower, g))))


def _convergence_warnings(h: np.ndarray, g: np.ndarray, x: np.ndarray, n_theta: int) -> list[str]:
    free = ~((np.arange(len(x)) < n_theta) & (x == 0))  # a theta on the boundary is not free
    scaled = _scaled_gradient(h[np.ix_(free, free)], g[free])
    if scaled is None:
        return ["Hessian of the deviance is not positive definite: the model may be unidentifiable"]
    if scaled > GRADIENT_TOL:
        return [f"model failed to converge: max|scaled gradient| = {scaled:.3g} (tol = {GRADIENT_TOL})"]
    return []


def _optimiser_warnings(ok: bool, problem, design, theta: np.ndarray) -> list[str]:
    """What the outer optimiser and the inner penalised IRLS left unfinished, and components at zero."""
    warnings = [] if ok else [ITERATION_LIMIT]
    if problem.pirls_failures:
        warnings.append(f"penalised IRLS did not converge in {problem.pirls_failures} evaluations")
    return warnings + _singular_warnings(design.groups, theta)


def _singular_warnings(groups: tuple[str, ...], theta: np.ndarray) -> list[str]:
    return [
        f"boundary (singular) fit: variance of (1|{group}) estimated as 0"
        for group, t in zip(groups, theta, strict=True)
        if abs(t) < SINGULAR_TOL
    ]


def _separation_warnings(names: tuple[str, ...], beta: np.ndarray) -> list[str]:
    return [
        f"possible complete separation: estimate of {name!r} is {b:.3g} on the logit scale"
        for name, b in zip(names, beta, strict=True)
        if abs(b) > SEPARATION_LOGIT
    ]


def _fit_binomial(
    formula: str, design: Design, structure: ReStructure, notes: list[str], options: FitOptions = FitOptions()
) -> GlmmResult:
    problem = BinomialLaplace(design.y, design.X, structure)
    k = structure.n_terms
    x0 = options.x0
    if x0 is None:
        x0 = np.concatenate([np.ones(k), _glm_start(design.y, design.X)])  # lme4 also starts at theta = 1
    x, ok = _minimise(problem.value_and_gradient, x0, k)
    warnings = list(notes)
    if not options.standard_errors:
        deviance = problem.deviance(x)
        theta, beta = np.abs(x[:k]), x[k:]
        warnings += _optimiser_warnings(ok, problem, design, theta)
        nan = np.full((len(beta), len(beta)), np.nan)
        converged = not any(w.startswith(FAILURES) for w in warnings)
        return _result(
            formula,
            "binomial",
            "Laplace (ML)",
            converged,
            -deviance / 2,
            design,
            beta,
            nan,
            theta**2,
            warnings,
            theta=theta,
        )
    x, h = _newton_polish(problem, x)
    deviance, g = problem.value_and_gradient(x)
    theta, beta = np.abs(x[:k]), x[k:]
    vcov = _hessian_vcov(h, x, k)
    if vcov is None:
        warnings.append(
            "covariance from the finite-difference Hessian is not positive definite; "
            "standard errors use the conditional (RX) estimate instead"
        )
        vcov = problem.rx_vcov(theta, beta)
    warnings += _convergence_warnings(h, g, x, k)
    warnings += _optimiser_warnings(ok, problem, design, theta)
    warnings += _separation_warnings(design.column_names, beta)
    converged = not any(w.startswith(FAILURES) for w in warnings)
    intervals = []
    for term in options.profile:
        j = design.column_names.index(term)
        se = float(np.sqrt(vcov[j, j]))
        interval = _profile_binomial(design, structure, x, j, deviance, se, options.level)
        intervals.append((term, options.level, *interval))
    return _result(
        formula,
        "binomial",
        "Laplace (ML)",
        converged,
        -deviance / 2,
        design,
        beta,
        vcov,
        theta**2,
        warnings,
        theta=theta,
        profile_ci=tuple(intervals),
    )


def _profile_root(
    zeta: Callable[[float], float], estimate: float, se: float, level: float
) -> tuple[float, float]:
    """Where the signed root deviance zeta(b) = sign(b - estimate) sqrt(dev(b) - dev) is -/+ z.

    zeta is close to linear in b (exactly so for a Gaussian likelihood), so a secant through
    (estimate, 0) started at the Wald limit converges in a few refits; brentq takes over if not.
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2.0))
    out = []
    for side in (-1.0, 1.0):
        target = side * z
        b, value = estimate + target * se, None
        for _ in range(8):
            value = zeta(b)
            if abs(value - target) < PROFILE_TOL:
                break
            if value * side <= 1e-8:  # flat profile: step out
                b = estimate + 2.0 * (b - estimate)
                continue
            b = estimate + (b - estimate) * target / value
        if value is None or abs(value - target) >= PROFILE_TOL:
            low, high = sorted((estimate, estimate + 4.0 * target * se))
            while (zeta(high if side > 0 else low) - target) * side < 0:
                if side > 0:
                    high = estimate + 2.0 * (high - estimate)
                else:
                    low = estimate + 2.0 * (low - estimate)
            b = brentq(lambda t, goal=target: zeta(t) - goal, low, high, xtol=1e-10)
        out.append(float(b))
    return out[0], out[1]


def _profile_binomial(
    design: Design,
    structure: ReStructure,
    x_hat: np.ndarray,
    j: int,
    deviance: float,
    se: float,
    level: float,
) -> tuple[float, float]:
    """Profile CI of beta_j: refit (theta, other betas) with beta_j fixed, as an offset."""
    k = structure.n_terms
    keep = [c for c in range(design.X.shape[1]) if c != j]
    problem = BinomialLaplace(design.y, design.X[:, keep], structure)
    estimate = float(x_hat[k + j])
    starts = {1.0: np.delete(x_hat, k + j), -1.0: np.delete(x_hat, k + j)}

    def zeta(b: float) -> float:
        side = 1.0 if b >= estimate else -1.0
        problem.offset = design.X[:, j] * b
        x, _ = _minimise(problem.value_and_gradient, starts[side], k)
        starts[side] = x  # warm start for the next point on this side
        return side * float(np.sqrt(max(problem.deviance(x) - deviance, 0.0)))

    return _profile_root(zeta, estimate, se, level)


def _central_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    eye = np.eye(len(x)) * step
    return np.array([(f(x + e) - f(x - e)) / (2 * step) for e in eye])


def _gaussian_objective(profile: GaussianProfile) -> ValueAndGradient:
    # theta enters only through theta^2 and products, so the deviance is even: |theta| is allowed
    objective = lambda t: profile.deviance(np.abs(t))  # noqa: E731
    return lambda t: (objective(t), _central_gradient(objective, t))


def _fit_gaussian(
    formula: str,
    design: Design,
    structure: ReStructure,
    reml: bool,
    notes: list[str],
    options: FitOptions = FitOptions(),
) -> GlmmResult:
    profile = GaussianProfile(design.y, design.X, structure, reml)
    k = structure.n_terms
    start = options.x0[:k] if options.x0 is not None else np.ones(k)
    theta, ok = _minimise(_gaussian_objective(profile), start, k)
    solution = profile.solve(theta)
    sigma2 = profile.sigma2(solution)
    warnings = list(notes)
    if not ok:
        warnings.append(ITERATION_LIMIT)
    warnings += _singular_warnings(design.groups, theta)
    variances = np.append(sigma2 * theta**2, sigma2)
    vcov = sigma2 * np.linalg.inv(solution.rx)
    deviance = profile.deviance(theta)
    intervals = []
    for term in options.profile:
        j = design.column_names.index(term)
        interval = _profile_gaussian(
            design, structure, theta, solution.beta, j, deviance, vcov, options.level
        )
        intervals.append((term, options.level, *interval))
    return _result(
        formula,
        "gaussian",
        "REML" if reml else "ML",
        ok,
        -deviance / 2,
        design,
        solution.beta,
        vcov,
        variances,
        warnings,
        groups=(*design.groups, "Residual"),
        theta=theta,
        profile_ci=tuple(intervals),
    )


def _profile_gaussian(
    design: Design,
    structure: ReStructure,
    theta_hat: np.ndarray,
    beta: np.ndarray,
    j: int,
    deviance: float,
    vcov: np.ndarray,
    level: float,
) -> tuple[float, float]:
    """Profile CI of beta_j for an ML linear mixed model: y - x_j b refitted over theta."""
    k = structure.n_terms
    keep = [c for c in range(design.X.shape[1]) if c != j]
    estimate = float(beta[j])
    starts = {1.0: theta_hat.copy(), -1.0: theta_hat.copy()}

    def zeta(b: float) -> float:
        side = 1.0 if b >= estimate else -1.0
        shifted = GaussianProfile(design.y - design.X[:, j] * b, design.X[:, keep], structure, reml=False)
        theta, _ = _minimise(_gaussian_objective(shifted), starts[side], k)
        starts[side] = theta
        return side * float(np.sqrt(max(shifted.deviance(theta) - deviance, 0.0)))

    return _profile_root(zeta, estimate, float(np.sqrt(vcov[j, j])), level)


def _result(
    formula: str,
    family: str,
    method: str,
    converged: bool,
    log_likelihood: float,
    design: Design,
    beta: np.ndarray,
    vcov: np.ndarray,
    variances: np.ndarray,
    warnings: list[str],
    groups: tuple[str, ...] | None = None,
    theta: np.ndarray | None = None,
    profile_ci: tuple = (),
) -> GlmmResult:
    se = np.sqrt(np.diag(vcov))
    return GlmmResult(
        formula=formula,
        family=family,
        method=method,
        converged=converged,
        log_likelihood=float(log_likelihood),
        n_obs=len(design.y),
        fixed_effects=tuple(
            fixed_effect(n, b, s) for n, b, s in zip(design.column_names, beta, se, strict=True)
        ),
        random_effects=tuple(
            RandomEffect(group=g, variance=float(v))
            for g, v in zip(groups or design.groups, variances, strict=True)
        ),
        warnings=tuple(warnings),
        boundary=tuple(
            g for g, v in zip(groups or design.groups, variances, strict=True) if g != "Residual" and v == 0.0
        ),
        vcov=tuple(tuple(float(c) for c in row) for row in vcov),
        profile_ci=tuple(profile_ci),
        theta=tuple(float(t) for t in theta) if theta is not None else (),
    )


def laplace_deviance_fit(
    y: np.ndarray, X: np.ndarray, structure: ReStructure, x0: np.ndarray | None = None
) -> tuple[float, np.ndarray, bool]:
    """Minimum Laplace deviance (-2 logLik) of a logit GLMM on prepared arrays, without SEs.

    For loops over simulated studies that share X and the random-effect structure (power): the
    structure's index arrays are built once, and ``x0`` (theta, beta) warm-starts the optimiser.
    Returns (deviance, x at the optimum, converged).
    """
    k = structure.n_terms
    problem = BinomialLaplace(y, X, structure)
    if x0 is None:
        x0 = np.concatenate([np.ones(k), _glm_start(y, X)])
    x, ok = _minimise(problem.value_and_gradient, x0, k)  # callers limit BLAS threads once
    return float(problem.deviance(x)), x, bool(ok and problem.pirls_failures == 0)


def _slope_random_effects(
    design: Design, structure: SlopeStructure, theta: np.ndarray, scale: float
) -> tuple[list[RandomEffect], list[str], list[str]]:
    """Variances per term column and each slope's correlation with the term's first column.

    Also returns the groups at the boundary (a diagonal of T at 0) and their warnings.
    """
    effects, boundary, warnings = [], [], []
    blocks = structure.blocks(theta)
    for group, names, block in zip(design.groups, design.re_names, blocks, strict=True):
        cov = scale * block @ block.T
        sd = np.sqrt(np.diag(cov))
        labelled = names != ("(Intercept)",)
        for j, name in enumerate(names):
            corr = None
            if j > 0:
                corr = float(cov[0, j] / (sd[0] * sd[j])) if sd[0] > 0 and sd[j] > 0 else float("nan")
            effects.append(
                RandomEffect(group=group, variance=float(cov[j, j]), term=name if labelled else None, corr=corr)
            )
        at_zero = [names[j] for j in range(len(names)) if abs(block[j, j]) < SINGULAR_TOL]
        if at_zero:
            boundary.append(group)
            warnings.append(
                f"boundary (singular) fit: ({' + '.join('1' if n == '(Intercept)' else n for n in names)}"
                f"|{group}) has a zero direction "
                f"(diagonal of its factor for {', '.join(at_zero)} estimated as 0)"
            )
    return effects, boundary, warnings


def fit_slopes(
    formula: str, design: Design, family: str, reml: bool, notes: list[str], standard_errors: bool = True
) -> GlmmResult:
    """Random-slope models on the dense general-Lambda engine (see ``analysis.glmm.slopes``)."""
    structure = SlopeStructure(design.codes, design.n_levels, design.re_values)
    k = structure.n_theta
    warnings = list(notes)
    p = design.X.shape[1]
    if family == "binomial":
        problem = SlopeLaplace(design.y, design.X, structure)
        x0 = np.concatenate([structure.theta_start, _glm_start(design.y, design.X)])
        lower = np.concatenate([structure.lower, np.full(p, -np.inf)])
        x, ok = minimise_bounded(problem.deviance, x0, lower)
        deviance = problem.deviance(x)
        theta, beta = x[:k], x[k:]
        vcov = np.full((p, p), np.nan)
        if standard_errors:
            free = ~((lower == 0) & (x == 0))
            h = hessian(problem.deviance, x, free)
            n_free_theta = int(free[:k].sum())
            try:
                vcov = 2.0 * np.linalg.inv(h)[n_free_theta:, n_free_theta:]
                vcov = (vcov + vcov.T) / 2
                if np.linalg.eigvalsh(vcov).min() <= 0:
                    raise np.linalg.LinAlgError
            except np.linalg.LinAlgError:
                warnings.append(
                    "covariance from the finite-difference Hessian is not positive definite; "
                    "standard errors use the conditional (RX) estimate instead"
                )
                vcov = problem.rx_vcov(theta, beta)
        if problem.pirls_failures:
            warnings.append(f"penalised IRLS did not converge in {problem.pirls_failures} evaluations")
        warnings += _separation_warnings(design.column_names, beta)
        scale, method, extra = 1.0, "Laplace (ML)", []
    else:
        profile = GaussianProfile(design.y, design.X, structure, reml)
        theta, ok = minimise_bounded(profile.deviance, structure.theta_start, structure.lower)
        solution = profile.solve(theta)
        scale = profile.sigma2(solution)
        beta, vcov = solution.beta, scale * np.linalg.inv(solution.rx)
        deviance = profile.deviance(theta)
        method = "REML" if reml else "ML"
        extra = [RandomEffect(group="Residual", variance=float(scale))]
    if not ok:
        warnings.append(ITERATION_LIMIT)
    effects, boundary, singular = _slope_random_effects(design, structure, theta, scale)
    warnings += singular
    se = np.sqrt(np.diag(vcov))
    return GlmmResult(
        formula=formula,
        family=family,
        method=method,
        converged=not any(w.startswith(FAILURES) for w in warnings),
        log_likelihood=float(-deviance / 2),
        n_obs=len(design.y),
        fixed_effects=tuple(
            fixed_effect(n, b, s) for n, b, s in zip(design.column_names, beta, se, strict=True)
        ),
        random_effects=tuple(effects + extra),
        warnings=tuple(warnings),
        boundary=tuple(boundary),
        vcov=tuple(tuple(float(c) for c in row) for row in vcov),
        theta=tuple(float(t) for t in theta),
    )
