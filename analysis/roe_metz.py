"""Roe-Metz simulation of continuous MRMC ratings (Roe & Metz, Acad Radiol 1997;4:298-303), with the
designs the platform runs: fully crossed, split-plot (g blocks), reader subsets (quotas) and unpaired
(parallel reader groups). Used to check that the MRMC variances are unbiased and cover.

X[t, r, c] = mu_t * truth_c + R_r + C_c + (tR)_tr + (tC)_tc + (RC)_rc + E_trc, all effects normal
with the variances given (one set for diseased and non-diseased cases, as in Roe & Metz's "HH").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ROE_METZ_DESIGNS = ("fully_crossed", "split_plot", "reader_subset", "unpaired")


@dataclass(frozen=True)
class RoeMetz:
    n_readers: int = 6
    n_negative: int = 30
    n_positive: int = 30
    mu: tuple[float, float] = (1.0, 1.0)  # separation in arm 0 and arm 1 (delta = 0: null)
    var_r: float = 0.011
    var_c: float = 0.1
    var_tr: float = 0.011
    var_tc: float = 0.1
    var_rc: float = 0.2
    var_e: float = 0.589
    design: str = "fully_crossed"
    n_blocks: int = 2  # split-plot
    read_fraction: float = 0.6  # reader_subset: each reader reads this share of the cases


def simulate_roe_metz(spec: RoeMetz, rng: np.random.Generator) -> pd.DataFrame:
    """Columns reader, case, arm ('0', '1'), rating, truth, correct (rating above the case-class midpoint)."""
    n_r, n_c = spec.n_readers, spec.n_negative + spec.n_positive
    truth = np.r_[np.zeros(spec.n_negative), np.ones(spec.n_positive)]
    g = lambda var, *shape: rng.normal(0.0, np.sqrt(var), shape)  # noqa: E731
    reader, case = g(spec.var_r, n_r), g(spec.var_c, n_c)
    rc = g(spec.var_rc, n_r, n_c)
    scores = np.empty((2, n_r, n_c))
    for t in range(2):
        scores[t] = (
            spec.mu[t] * truth[None, :] + reader[:, None] + case[None, :] + g(spec.var_tr, n_r)[:, None]
            + g(spec.var_tc, n_c)[None, :] + rc + g(spec.var_e, n_r, n_c)
        )
    read = _design(spec, rng, n_r, n_c)
    t_idx, r_idx, c_idx = np.nonzero(read)
    rating = scores[t_idx, r_idx, c_idx]
    midpoint = np.array(spec.mu)[t_idx] / 2
    called = rating > midpoint
    return pd.DataFrame({
        "reader": [f"R{r + 1}" for r in r_idx],
        "case": [f"C{c + 1}" for c in c_idx],
        "arm": t_idx.astype(str),
        "rating": rating,
        "truth": truth[c_idx],
        "correct": (called == (truth[c_idx] == 1)).astype(float),
    })


def _design(spec: RoeMetz, rng: np.random.Generator, n_r: int, n_c: int) -> np.ndarray:
    read = np.zeros((2, n_r, n_c), dtype=bool)
    if spec.design == "fully_crossed":
        read[:] = True
    elif spec.design == "split_plot":
        # blocks of readers and of cases (each block has both diseased and non-diseased cases)
        reader_block = np.arange(n_r) % spec.n_blocks
        neg_block = np.arange(spec.n_negative) % spec.n_blocks
        pos_block = np.arange(spec.n_positive) % spec.n_blocks
        case_block = np.r_[neg_block, pos_block]
        read[:] = (reader_block[:, None] == case_block[None, :])[None]
    elif spec.design == "reader_subset":
        for r in range(n_r):
            chosen = rng.random(n_c) < spec.read_fraction
            read[:, r, chosen] = True
    elif spec.design == "unpaired":
        arm_of_reader = np.arange(n_r) % 2
        for r in range(n_r):
            read[arm_of_reader[r], r, :] = True
    else:
        raise ValueError(f"unknown design {spec.design!r} (use {', '.join(ROE_METZ_DESIGNS)})")
    return read
