"""The Laplace-approximated deviance of a logit GLMM, as lme4's glmer defines it (nAGQ = 1).

For parameters (theta, beta) the conditional modes u* minimise the penalised deviance
``D(y, X beta + Z Lambda u) + |u|^2`` (penalised IRLS, u only, like glmer's second stage) and

    deviance(theta, beta) = D(y, eta*) + |u*|^2 + log |Lambda Z' W Z Lambda + I|,

with W the IRLS weights mu (1 - mu) at u*. logLik = -deviance / 2. The gradient is analytic
(envelope theorem for the first two terms, implicit differentiation of u* for the log-determinant),
which keeps the number of PIRLS solves small on large data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from analysis.glmm.linalg import Factor, ReStructure

PIRLS_TOL = 1e-8  # max |step in u|; Newton is quadratic, so the modes are then exact to ~1e-16
PIRLS_MAX_ITER = 60


@dataclass
class Mode:
    """Conditional modes and the quantities evaluated there."""

    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    factor: Factor
    converged: bool


def bernoulli_deviance(y: np.ndarray, eta: np.ndarray) -> float:
    """-2 log-likelihood of 0/1 data, stable for large |eta|."""
    return 2.0 * float(np.sum(np.logaddexp(0.0, eta) - y * eta))


class BinomialLaplace:
    """Deviance and gradient over x = (theta, beta); remembers the last modes as a warm start."""

    def __init__(
        self, y: np.ndarray, X: np.ndarray, structure: ReStructure, offset: np.ndarray | None = None
    ) -> None:
        self.y, self.X, self.s = y, X, structure
        self.offset = np.zeros(len(y)) if offset is None else offset  # fixed part not estimated
        self.n_theta = structure.n_terms
        # last solution and du*/dx there: a first-order prediction of the next modes
        self.anchor: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.pirls_failures = 0

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[: self.n_theta], x[self.n_theta :]

    def _penalised(self, fixed: np.ndarray, theta: np.ndarray, u: np.ndarray) -> tuple[float, np.ndarray]:
        eta = fixed + self.s.z_lambda(theta, u)
        return bernoulli_deviance(self.y, eta) + float(u @ u), eta

    def _start(self, x: np.ndarray) -> np.ndarray:
        if self.anchor is None:
            return np.zeros(self.s.q)
        x0, u0, jacobian = self.anchor
        shift = jacobian @ (x - x0)
        # far from the anchor the linear prediction can overshoot; then plain warm start
        return u0 + shift if np.max(np.abs(shift), initial=0.0) < 1.0 else u0.copy()

    def modes(self, x: np.ndarray) -> Mode:
        """Penalised IRLS (Newton with step halving) for u given theta and beta."""
        theta, beta = self.split(x)
        fixed = self.X @ beta + self.offset
        u = self._start(x)
        value, eta = self._penalised(fixed, theta, u)
        for _ in range(PIRLS_MAX_ITER):
            mu = expit(eta)
            factor = Factor(self.s, theta, mu * (1.0 - mu))
            step = factor.solve(self.s.z_lambda_t(theta, self.y - mu) - u)
            size = np.max(np.abs(step), initial=0.0)
            u, value, eta = self._take_step(fixed, theta, u, step, value, guard=size > 1e-3)
            if size < PIRLS_TOL:
                mode = Mode(u, eta, expit(eta), factor, True)
                self.anchor = (x.copy(), u, self._mode_jacobian(theta, mode))
                return mode
        self.pirls_failures += 1
        self.anchor = None
        return Mode(u, eta, expit(eta), factor, False)

    def _take_step(
        self, fixed: np.ndarray, theta: np.ndarray, u: np.ndarray, step: np.ndarray, value: float, guard: bool
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """Newton step, halved while it raises the penalised deviance (checked only for long steps:
        close to the mode Newton converges quadratically and the check costs a pass over the data)."""
        if not guard:
            return u + step, value, self.s.z_lambda(theta, u + step) + fixed
        scale = 1.0
        while True:
            new_value, new_eta = self._penalised(fixed, theta, u + scale * step)
            if new_value <= value + 1e-12 * abs(value) or scale < 1e-8:
                return u + scale * step, new_value, new_eta
            scale /= 2.0

    def _mode_jacobian(self, theta: np.ndarray, mode: Mode) -> np.ndarray:
        """du*/d(theta, beta) by implicit differentiation of Lambda Z'(y - mu) = u."""
        s, w = self.s, mode.mu * (1.0 - mode.mu)
        resid = self.y - mode.mu
        columns = []
        for k in range(s.n_terms):
            direct = np.zeros(s.q)
            direct[s.offsets[k] : s.offsets[k + 1]] = np.bincount(s.codes[k], resid, s.n_levels[k])
            columns.append(direct - s.z_lambda_t(theta, w * s.gather(mode.u, k)))
        columns += [-s.z_lambda_t(theta, w * self.X[:, j]) for j in range(self.X.shape[1])]
        return mode.factor.solve(np.column_stack(columns))

    def deviance(self, x: np.ndarray) -> float:
        return self._laplace(self.modes(x))

    def _laplace(self, mode: Mode) -> float:
        return bernoulli_deviance(self.y, mode.eta) + float(mode.u @ mode.u) + mode.factor.logdet()

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        mode = self.modes(x)
        return self._laplace(mode), self._gradient(self.split(x)[0], mode)

    def _gradient(self, theta: np.ndarray, mode: Mode) -> np.ndarray:
        """d deviance / d(theta, beta) at the modes.

        D + |u|^2 is stationary in u, so only its partial derivatives count. For log|A|:
        d log|A| = tr(A^-1 dA|_W) + sum_i h_i w'_i d eta_i, with leverages h = diag(Z L A^-1 L Z')
        (L = Lambda) and w' = dW/d eta; d eta includes du*/dx = A^-1 (...) from differentiating
        the mode equation L Z'(y - mu) = u, which one extra solve (``a`` below) accounts for.
        """
        s, mu, u = self.s, mode.mu, mode.u
        resid = self.y - mu
        w = mu * (1.0 - mu)
        g = mode.factor.inverse_gathers()
        leverage = sum(theta[k] * g[k] for k in range(s.n_terms))
        # v: derivative of log|A| with respect to eta at fixed u (through W = mu (1 - mu))
        v = leverage * w * (1.0 - 2.0 * mu)
        a = mode.factor.solve(s.z_lambda_t(theta, v))
        z_a = s.z_lambda(theta, a)
        grad_beta = self.X.T @ (-2.0 * resid + v - w * z_a)
        grad_theta = np.empty(s.n_terms)
        for k in range(s.n_terms):
            u_k, a_k = s.gather(u, k), s.gather(a, k)
            grad_theta[k] = (
                -2.0 * resid @ u_k  # penalised deviance at fixed u (envelope theorem)
                + 2.0 * w @ g[k]  # log|A| through Lambda at fixed W
                + (v - w * z_a) @ u_k  # log|A| through eta: direct Z E_k u part ...
                + resid @ a_k  # ... and the response of u* to theta_k
            )
        return np.concatenate([grad_theta, grad_beta])

    def rx_vcov(self, theta: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """Covariance of beta from the PIRLS normal equations with theta fixed (lme4's RX)."""
        mode = self.modes(np.concatenate([theta, beta]))
        w = mode.mu * (1.0 - mode.mu)
        wx = self.X * w[:, None]
        ztwx = np.column_stack([self.s.z_lambda_t(theta, wx[:, j]) for j in range(self.X.shape[1])])
        schur = self.X.T @ wx - ztwx.T @ mode.factor.solve(ztwx)
        return np.linalg.inv(schur)
