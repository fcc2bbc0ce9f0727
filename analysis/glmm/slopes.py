"""Correlated random slopes ``(x|g)``: lme4's general relative covariance factor, dense engine.

lme4 (Bates et al. 2015, JSS 67(1), sec. 2.2) writes the random effects as b = Lambda u with
u ~ N(0, sigma^2 I) (sigma = 1 for the binomial family). For a term ``(1 + x|g)`` with p model
columns, Lambda holds one p x p lower-triangular block T per level of g, the same for every
level; theta lists T's lower triangle column by column ([T11, T21, T22] for p = 2), and the
diagonal entries are bounded below by 0. The covariance of a level's effects is sigma^2 T T'.

Models with a slope term are routed here by structure (``fit_glmm`` checks the design): the
block elimination of ``linalg``/``sparse`` relies on one column per level and term, so this engine
forms Z Lambda as a sparse matrix and A = Lambda' Z' W Z Lambda + I as a dense q x q matrix
(q = sum over terms of levels x columns, at most ``MAX_LEVELS``) and factors it with LAPACK.
The deviance is the same as in ``binomial`` (Laplace, PIRLS to convergence) and ``gaussian``
(profiled ML/REML); the optimiser is L-BFGS-B over (theta, beta) (binomial) or theta (gaussian)
with lme4's bounds and central-difference gradients, followed by Newton steps on the
finite-difference Hessian, from which the binomial standard errors come as in lme4's vcov().
Not done here: the zero-boundary escape restarts of the intercept engine, profile CIs.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize

from analysis.glmm.binomial import BinomialLaplace

MAX_LEVELS = 8000  # q of the dense A: 8000^2 doubles is 0.5 GB
FD_STEP = 1e-6  # central-difference step of the gradient
HESSIAN_STEP = 1e-4  # lme4's deriv12 delta


class SlopeStructure:
    """Z (sparse, n x q), the index pattern of Lambda(theta), and the dense factor of A."""

    engine = "general"

    def __init__(
        self, codes: tuple[np.ndarray, ...], n_levels: tuple[int, ...], values: tuple[np.ndarray, ...]
    ) -> None:
        self.codes, self.n_levels = codes, n_levels
        self.n_terms = len(codes)
        self.widths = tuple(v.shape[1] for v in values)
        sizes = [lv * p for lv, p in zip(n_levels, self.widths, strict=True)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self.q = int(self.offsets[-1])
        if self.q > MAX_LEVELS:
            raise ValueError(
                f"random-slope models have {self.q} random effects in all; the dense engine for "
                f"slopes supports up to {MAX_LEVELS}"
            )
        n = len(codes[0])
        rows, cols, data = [], [], []
        lam_rows, lam_cols, lam_theta = [], [], []
        self.theta_offsets = [0]
        self.diagonal: list[int] = []
        for k, (code, value, p) in enumerate(zip(codes, values, self.widths, strict=True)):
            base = self.offsets[k] + code * p
            for j in range(p):
                rows.append(np.arange(n))
                cols.append(base + j)
                data.append(value[:, j])
            pairs = [(i, j) for j in range(p) for i in range(j, p)]  # column-major lower triangle
            start = self.theta_offsets[-1]
            level_base = self.offsets[k] + np.arange(n_levels[k]) * p
            for t, (i, j) in enumerate(pairs):
                lam_rows.append(level_base + i)
                lam_cols.append(level_base + j)
                lam_theta.append(np.full(n_levels[k], start + t))
                if i == j:
                    self.diagonal.append(start + t)
            self.theta_offsets.append(start + len(pairs))
        self.z = sparse.csr_matrix(
            (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, self.q)
        )
        self.lam_rows, self.lam_cols = np.concatenate(lam_rows), np.concatenate(lam_cols)
        self.lam_theta = np.concatenate(lam_theta)
        self.n_theta = self.theta_offsets[-1]
        self.lower = np.full(self.n_theta, -np.inf)
        self.lower[self.diagonal] = 0.0
        self.theta_start = np.zeros(self.n_theta)
        self.theta_start[self.diagonal] = 1.0  # lme4's default start
        self._cache: tuple[bytes, sparse.csr_matrix] | None = None

    def blocks(self, theta: np.ndarray) -> list[np.ndarray]:
        """The p x p lower-triangular T of each term."""
        out = []
        for k, p in enumerate(self.widths):
            block = np.zeros((p, p))
            entries = theta[self.theta_offsets[k] : self.theta_offsets[k + 1]]
            pairs = [(i, j) for j in range(p) for i in range(j, p)]
            for value, (i, j) in zip(entries, pairs, strict=True):
                block[i, j] = value
            out.append(block)
        return out

    def z_lam(self, theta: np.ndarray) -> sparse.csr_matrix:
        key = np.asarray(theta, float).tobytes()
        if self._cache is None or self._cache[0] != key:
            lam = sparse.csr_matrix(
                (theta[self.lam_theta], (self.lam_rows, self.lam_cols)), shape=(self.q, self.q)
            )
            self._cache = (key, (self.z @ lam).tocsr())
        return self._cache[1]

    def z_lambda(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        return self.z_lam(theta) @ u

    def z_lambda_t(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.z_lam(theta).T @ v

    def factor(self, theta: np.ndarray, w: np.ndarray) -> DenseGeneralFactor:
        return DenseGeneralFactor(self.z_lam(theta), w)


class DenseGeneralFactor:
    """Cholesky of A = Lambda' Z' W Z Lambda + I, dense."""

    def __init__(self, z_lam: sparse.csr_matrix, w: np.ndarray) -> None:
        weighted = sparse.diags(w) @ z_lam
        a = (z_lam.T @ weighted).toarray()
        a[np.diag_indices_from(a)] += 1.0
        self.chol = cho_factor(a, lower=True, check_finite=False)

    def logdet(self) -> float:
        return 2.0 * float(np.sum(np.log(np.diag(self.chol[0]))))

    def solve(self, b: np.ndarray) -> np.ndarray:
        return cho_solve(self.chol, b, check_finite=False)


class SlopeLaplace(BinomialLaplace):
    """glmer's Laplace deviance with a general Lambda; the modes warm-start from the last ones."""

    def __init__(self, y: np.ndarray, X: np.ndarray, structure: SlopeStructure) -> None:
        super().__init__(y, X, structure)
        self.n_theta = structure.n_theta

    def _mode_jacobian(self, theta: np.ndarray, mode) -> np.ndarray:
        return np.zeros((0, 0))  # unused: _start warm-starts from the last modes

    def _start(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(self.s.q) if self.anchor is None else self.anchor[1].copy()

    def deviance(self, x: np.ndarray) -> float:
        """As the parent's, but log|A| at the weights of the final modes, not the step before.

        The parent's factor lags one Newton step (an error of ~PIRLS_TOL in log|A|), harmless
        with its analytic gradient but noise of order 1 in second differences at step 1e-4.
        """
        mode = self.modes(x)
        w = mode.mu * (1.0 - mode.mu)
        mode.factor = self.s.factor(x[: self.n_theta], w)
        return self._laplace(mode)

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return numeric_value_and_gradient(self.deviance, x)


def numeric_value_and_gradient(f, x: np.ndarray) -> tuple[float, np.ndarray]:
    value = f(x)
    eye = np.eye(len(x)) * FD_STEP
    return value, np.array([(f(x + e) - f(x - e)) / (2 * FD_STEP) for e in eye])


def hessian(f, x: np.ndarray, free: np.ndarray, step: float = HESSIAN_STEP) -> np.ndarray:
    """lme4's deriv12: central second differences of f over the free coordinates."""
    idx = np.flatnonzero(free)
    m = len(idx)
    h = np.zeros((m, m))
    f0 = f(x)
    unit = np.eye(len(x)) * step
    for a, i in enumerate(idx):
        h[a, a] = (f(x + unit[i]) - 2 * f0 + f(x - unit[i])) / step**2
        for b in range(a):
            j = idx[b]
            h[a, b] = h[b, a] = (
                f(x + unit[i] + unit[j]) - f(x + unit[i] - unit[j])
                - f(x - unit[i] + unit[j]) + f(x - unit[i] - unit[j])
            ) / (4 * step**2)
    return h


def minimise_bounded(f, x0: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, bool]:
    """L-BFGS-B within lme4's bounds, then Newton steps on the free coordinates."""
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    opt = minimize(
        lambda z: numeric_value_and_gradient(f, z), x0, jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-8},
    )
    x, ok = opt.x.copy(), opt.nit < 1000
    x[lower == 0] = np.where(x[lower == 0] < 1e-4, 0.0, x[lower == 0])  # lme4's singular tolerance
    for _ in range(4):
        free = ~((lower == 0) & (x == 0))
        value, g = numeric_value_and_gradient(f, x)
        try:
            step = -np.linalg.solve(hessian(f, x, free), g[free])
        except np.linalg.LinAlgError:
            break
        candidate = x.copy()
        candidate[free] += step
        candidate = np.maximum(candidate, lower)
        if f(candidate) > value + 1e-10 * abs(value):
            break
        x = candidate
        if np.max(np.abs(step)) < 1e-7:
            break
    return x, ok
