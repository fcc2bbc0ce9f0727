"""Linear mixed model: lme4's profiled deviance over theta (Bates et al. 2015, JSS 67(1), sec. 3).

For fixed theta the mixed-model equations give beta, u and the penalised residual sum of squares
r2 in closed form; sigma is profiled out, so only theta is optimised:

    ML:   log|L|^2 + n (1 + log(2 pi r2 / n))
    REML: log|L|^2 + log|RX|^2 + (n - p) (1 + log(2 pi r2 / (n - p)))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.glmm.linalg import Factor, ReStructure


@dataclass
class LinearSolution:
    beta: np.ndarray
    u: np.ndarray
    r2: float
    rx: np.ndarray  # RX'RX, the Schur complement of the fixed effects
    logdet_a: float


class GaussianProfile:
    def __init__(self, y: np.ndarray, X: np.ndarray, structure: ReStructure, reml: bool) -> None:
        self.y, self.X, self.s, self.reml = y, X, structure, reml
        self.n, self.p = X.shape
        self.ones = np.ones(self.n)
        self.xtx, self.xty = X.T @ X, X.T @ y

    def solve(self, theta: np.ndarray) -> LinearSolution:
        s = self.s
        factor = Factor(s, theta, self.ones)
        zty = s.z_lambda_t(theta, self.y)
        ztx = np.column_stack([s.z_lambda_t(theta, self.X[:, j]) for j in range(self.p)])
        a_ztx = factor.solve(ztx)
        rx = self.xtx - ztx.T @ a_ztx
        beta = np.linalg.solve(rx, self.xty - a_ztx.T @ zty)
        u = factor.solve(zty - ztx @ beta)
        resid = self.y - self.X @ beta - s.z_lambda(theta, u)
        return LinearSolution(beta, u, float(resid @ resid + u @ u), rx, factor.logdet())

    def deviance(self, theta: np.ndarray) -> float:
        sol = self.solve(theta)
        if self.reml:
            dof = self.n - self.p
            logdet_rx = float(np.linalg.slogdet(sol.rx)[1])
            return sol.logdet_a + logdet_rx + dof * (1.0 + np.log(2.0 * np.pi * sol.r2 / dof))
        return sol.logdet_a + self.n * (1.0 + np.log(2.0 * np.pi * sol.r2 / self.n))

    def sigma2(self, sol: LinearSolution) -> float:
        return sol.r2 / (self.n - self.p if self.reml else self.n)
