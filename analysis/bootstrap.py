"""Two-way (readers x cases) bootstrap of ratio statistics over readings.

Each replicate draws readers with replacement and, independently, cases with replacement; a
reading of reader r on case c then counts w_r * v_c times (w, v the multiplicities drawn). A
statistic sum(num) / sum(den) over readings is, per replicate, ``w' N v / w' D v`` where N and D
are the reader x case matrices of cell sums, so thousands of replicates cost a few matrix
products. Differences of two statistics are taken replicate by replicate (same draw), so the CI
of a difference keeps the correlation of its two parts.

Percentile intervals. The two-way bootstrap counts the reading-level (residual) variance twice
and is therefore somewhat conservative (Field & Welsh 2007); it never ignores the clustering
of readings within readers and within cases, which pooled binomial intervals do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_REPLICATES = 2000


@dataclass(frozen=True)
class Interval:
    """Point estimate with a two-way bootstrap percentile 95 % CI."""

    estimate: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high}


class TwoWayBootstrap:
    """One set of reader and case multiplicities, shared by every statistic computed with it."""

    def __init__(self, n_readers: int, n_cases: int, *, replicates: int = DEFAULT_REPLICATES, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.n_readers, self.n_cases, self.replicates = n_readers, n_cases, replicates
        self.reader_weights = rng.multinomial(n_readers, np.full(n_readers, 1.0 / n_readers), replicates)
        self.case_weights = rng.multinomial(n_cases, np.full(n_cases, 1.0 / n_cases), replicates)

    def _totals(self, reader: np.ndarray, case: np.ndarray, values: np.ndarray) -> np.ndarray:
        cells = np.bincount(
            reader * self.n_cases + case, weights=values, minlength=self.n_readers * self.n_cases
        ).reshape(self.n_readers, self.n_cases)
        return np.einsum("br,bc,rc->b", self.reader_weights, self.case_weights, cells, optimize=True)

    def ratio(
        self, reader: np.ndarray, case: np.ndarray, num: np.ndarray, den: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """sum(num) / sum(den) and its replicates (NaN where a replicate has no denominator)."""
        num, den = np.asarray(num, float), np.asarray(den, float)
        total_den = den.sum()
        estimate = float(num.sum() / total_den) if total_den > 0 else float("nan")
        if len(num) == 0:
            return estimate, np.full(self.replicates, np.nan)
        boot_num = self._totals(reader, case, num)
        boot_den = self._totals(reader, case, den)
        with np.errstate(invalid="ignore", divide="ignore"):
            replicates = np.where(boot_den > 0, boot_num / np.where(boot_den > 0, boot_den, 1), np.nan)
        return estimate, replicates


def percentile_interval(estimate: float, replicates: np.ndarray, level: float = 0.95) -> Interval:
    finite = replicates[np.isfinite(replicates)]
    if not np.isfinite(estimate) or finite.size < 10:
        return Interval(float(estimate), float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))
