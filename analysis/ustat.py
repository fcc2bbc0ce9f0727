"""U-statistic MRMC analysis for any design (Gallas 2006, 2008, 2009; iMRMC's uStat11.jointD).

The figure of merit is a mean of a kernel over the readings (reader, case) the design contains:
percent correct (any 0/1 per-reading score), sensitivity and specificity at a threshold (the
kernel on diseased or on non-diseased cases only), or the empirical AUC (the kernel
psi(x_positive, x_negative) over each reader's pairs of one non-diseased and one diseased case).
Every observed reading (reading pair for the AUC) has equal weight, as in iMRMC's
``uStat11.jointD``; in a fully crossed or a balanced design that is the reader-averaged value.

The variance of that mean is a linear combination of second-order product moments E[s s'] of two
observations, one moment for each pattern of shared indices (same reader or not, same case or
not; for the AUC the non-diseased and the diseased case separately: 8 moments). Each moment is
estimated without bias by the average of s s' over the observation pairs with exactly that
pattern (inclusion-exclusion over the shared indices), and the coefficients are the shares of
pairs with each pattern, so the estimate is unbiased for any design matrix (Gallas, Bandos,
Samuelson & Wagner, Commun Stat Theory Methods 2009;38:2586-603). It equals theta^2 minus the
unbiased estimate of mu^2 from the pairs that share nothing (Gallas, Acad Radiol 2006;13:353-62).

Difference of two arms: var(A - B) = var(A) + var(B) - 2 cov(A, B), the covariance from the cross
moments of A's and B's observations (same reader and/or case across arms).

Degrees of freedom (Satterthwaite form of Hillis, Acad Radiol 2008): df = (r - 1) (r var / s2)^2
with s2 the sample variance over readers of the per-reader values (per-reader differences for the
difference), bounded below by r - 1 as in ORH; readers who read in one arm only (unpaired designs)
combine the two arms' df by Welch-Satterthwaite. Each arm's t interval is built on the logit scale
(delta method) so it stays inside [0, 1]; the difference's on the original scale. Normal (Wald) intervals
are reported beside, as iMRMC gives them.

Long module: the U-statistic moments, their design-general variance and the reported figures of
merit are one derivation (Gallas 2009).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.design_detect import Design, detect_design
from analysis.readings import InputError

USTAT_FOMS = ("percent_correct", "sensitivity", "specificity", "auc")
AXES = ("reader", "a", "b")  # "a": the case (non-diseased case for the AUC), "b": the diseased case


@dataclass(frozen=True)
class Kernel:
    """Kernel values and design (0/1) of one arm: (readers, a-cases, b-cases)."""

    values: np.ndarray
    design: np.ndarray

    @property
    def weighted(self) -> np.ndarray:
        return self.values * self.design

    @property
    def n_obs(self) -> float:
        return float(self.design.sum())

    @property
    def mean(self) -> float:
        return float(self.weighted.sum() / self.n_obs) if self.n_obs else math.nan

    def per_reader(self) -> np.ndarray:
        """Each reader's mean kernel (NaN for readers without observations)."""
        num = self.weighted.sum(axis=(1, 2))
        den = self.design.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _shared_sums(x: np.ndarray, y: np.ndarray) -> dict[frozenset, float]:
    """S(U): sum over observation pairs agreeing at least on the axes in U of x[obs] y[obs']."""
    out = {}
    for k in range(len(AXES) + 1):
        for shared in itertools.combinations(range(len(AXES)), k):
            free = tuple(i for i in range(len(AXES)) if i not in shared)
            out[frozenset(shared)] = float(np.sum(x.sum(axis=free) * y.sum(axis=free)))
    return out


def _exact_pattern_sums(x: np.ndarray, y: np.ndarray) -> dict[frozenset, float]:
    """Sums over pairs agreeing on exactly the axes of each pattern (Moebius inversion)."""
    at_least = _shared_sums(x, y)
    return {
        pattern: sum((-1) ** (len(u) - len(pattern)) * value for u, value in at_least.items() if pattern <= u)
        for pattern in at_least
    }


def pattern_name(pattern: frozenset, fom: str) -> str:
    """iMRMC-style names: r1c0 = same reader, different case; for the AUC r1n0p1 (neg, pos)."""
    r = int(0 in pattern)
    if fom == "auc":
        return f"r{r}n{int(1 in pattern)}p{int(2 in pattern)}"
    return f"r{r}c{int(1 in pattern)}"


@dataclass(frozen=True)
class Moments:
    """Product moments, their coefficients and the variance (or covariance) they give."""

    moments: dict[str, float]
    coefficients: dict[str, float]
    value: float
    components: dict[str, float]

    def to_dict(self) -> dict:
        return {
            "moments": self.moments,
            "coefficients": self.coefficients,
            "components": self.components,
        }


def moments(a: Kernel, b: Kernel, fom: str) -> Moments:
    """Covariance of the means of kernels a and b (the variance when a is b), unbiased."""
    num = _exact_pattern_sums(a.weighted, b.weighted)
    den = _exact_pattern_sums(a.design, b.design)
    scale = a.n_obs * b.n_obs
    m, c = {}, {}
    skip_b = fom != "auc"  # single-case kernels: the b axis is a dummy of size 1
    for pattern in num:
        if skip_b and 2 not in pattern:
            continue
        name = pattern_name(pattern, fom)
        m[name] = num[pattern] / den[pattern] if den[pattern] > 0 else 0.0
        c[name] = den[pattern] / scale if scale else math.nan
    none_shared = pattern_name(frozenset({2}) if skip_b else frozenset(), fom)
    c[none_shared] -= 1.0  # subtract the squared mean, estimated by the pairs sharing nothing
    value = float(sum(c[k] * m[k] for k in m))
    mu2 = m[none_shared]
    components = {"reader": 0.0, "case": 0.0, "reader_case": 0.0}
    for pattern in num:
        if skip_b and 2 not in pattern:
            continue
        name = pattern_name(pattern, fom)
        cases_shared = bool(pattern & ({1} if skip_b else {1, 2}))
        if name == none_shared:
            continue
        part = c[name] * (m[name] - mu2)
        key = "reader_case" if (0 in pattern and cases_shared) else ("reader" if 0 in pattern else "case")
        components[key] += part
    return Moments(m, c, value, components)


# --- kernels from a readings table ---------------------------------------------------------------


def kernels(
    data: pd.DataFrame, *, score: str, truth: str | None, arms: tuple[str, str], fom: str, threshold: float | None
) -> tuple[dict[str, Kernel], tuple[str, ...], int, int]:
    """Kernel arrays of the two arms over the union of readers; (kernels, readers, n_a, n_b)."""
    if fom not in USTAT_FOMS:
        raise InputError(f"unknown figure of merit '{fom}' (use {', '.join(USTAT_FOMS)})")
    rows = data[data["arm"].isin(arms)].dropna(subset=[score]).drop_duplicates(["reader", "case", "arm"])
    if truth is not None and fom != "percent_correct":
        rows = rows.dropna(subset=[truth])
        if not set(np.unique(rows[truth].to_numpy(float))) <= {0.0, 1.0}:
            raise InputError(f"truth column '{truth}' must be 0/1")
    readers = tuple(sorted(rows["reader"].unique(), key=_natural))
    r_index = {r: i for i, r in enumerate(readers)}
    if fom == "percent_correct":
        values = rows[score].to_numpy(float)
        if not set(np.unique(values)) <= {0.0, 1.0}:
            raise InputError(f"percent correct needs a 0/1 score; column '{score}' has other values")
        return _single(rows, score, arms, readers, r_index, None), readers, rows["case"].nunique(), 1
    if truth is None:
        raise InputError(f"{fom} needs a truth column (--truth)")
    if fom in ("sensitivity", "specificity"):
        if threshold is None:
            raise InputError(f"{fom} needs --threshold")
        positive = fom == "sensitivity"
        subset = rows[rows[truth] == (1 if positive else 0)]
        if subset.empty:
            raise InputError(f"no {'diseased' if positive else 'non-diseased'} cases for {fom}")
        called = (subset[score] >= threshold) if positive else (subset[score] < threshold)
        subset = subset.assign(_k=called.astype(float))
        return _single(subset, "_k", arms, readers, r_index, None), readers, subset["case"].nunique(), 1
    return _auc_kernels(rows, score, truth, arms, readers, r_index)


def _single(rows, column, arms, readers, r_index, _):
    cases = sorted(rows["case"].unique(), key=_natural)
    c_index = {c: i for i, c in enumerate(cases)}
    out = {}
    for arm in arms:
        values = np.zeros((len(readers), len(cases), 1))
        design = np.zeros_like(values)
        part = rows[rows["arm"] == arm]
        ri = part["reader"].map(r_index).to_numpy(int)
        ci = part["case"].map(c_index).to_numpy(int)
        values[ri, ci, 0] = part[column].to_numpy(float)
        design[ri, ci, 0] = 1.0
        out[arm] = Kernel(values, design)
    return out


def _auc_kernels(rows, score, truth, arms, readers, r_index):
    truth_by_case = rows.groupby("case")[truth].agg(["min", "max"])
    conflicting = truth_by_case.index[truth_by_case["min"] != truth_by_case["max"]]
    if len(conflicting):
        raise InputError(f"truth column '{truth}' differs within case '{conflicting[0]}'")
    negatives = sorted(truth_by_case.index[truth_by_case["min"] == 0], key=_natural)
    positives = sorted(truth_by_case.index[truth_by_case["min"] == 1], key=_natural)
    if len(negatives) < 2 or len(positives) < 2:
        raise InputError(
            f"the AUC needs at least 2 diseased and 2 non-diseased cases (have {len(positives)} and {len(negatives)})"
        )
    n_index = {c: i for i, c in enumerate(negatives)}
    p_index = {c: i for i, c in enumerate(positives)}
    out = {}
    for arm in arms:
        neg = np.full((len(readers), len(negatives)), np.nan)
        pos = np.full((len(readers), len(positives)), np.nan)
        part = rows[rows["arm"] == arm]
        is_pos = part[truth].to_numpy(float) == 1
        ri = part["reader"].map(r_index).to_numpy(int)
        scores = part[score].to_numpy(float)
        cases = part["case"].to_numpy(object)
        neg[ri[~is_pos], [n_index[c] for c in cases[~is_pos]]] = scores[~is_pos]
        pos[ri[is_pos], [p_index[c] for c in cases[is_pos]]] = scores[is_pos]
        x, y = pos[:, None, :], neg[:, :, None]  # (readers, negatives, positives)
        with np.errstate(invalid="ignore"):
            psi = (x > y) + 0.5 * (x == y)
        design = (~np.isnan(y) & ~np.isnan(x)).astype(float)
        out[arm] = Kernel(np.where(design > 0, psi, 0.0), design)
    return out, readers, len(negatives), len(positives)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UstatArm:
    mean: float
    var: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    ci_normal_low: float
    ci_normal_high: float
    n_readers: int
    n_observations: int
    per_reader: dict[str, float]
    decomposition: Moments

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "decomposition"}
        out.update(self.decomposition.to_dict())
        return out


@dataclass(frozen=True)
class UstatDifference:
    estimate: float
    var: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    ci_normal_low: float
    ci_normal_high: float
    p_value_normal: float
    covariance: Moments
    paired_readers: int

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "covariance"}
        out["covariance"] = self.covariance.to_dict() | {"value": self.covariance.value}
        return out


@dataclass(frozen=True)
class UstatResult:
    fom: str
    score: str
    truth: str | None
    threshold: float | None
    control: str
    treatment: str
    arms: dict[str, UstatArm]
    difference: UstatDifference
    design: Design
    n_cases: tuple[int, int]  # (a, b): cases; for the AUC (non-diseased, diseased)
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "method": "ustat",
            "fom": self.fom,
            "score": self.score,
            "truth": self.truth,
            "threshold": self.threshold,
            "control": self.control,
            "treatment": self.treatment,
            "weighting": "each observed reading (reading pair for the AUC) weighs the same (iMRMC uStat11.jointD)",
            **{arm: block.to_dict() for arm, block in self.arms.items()},
            "difference": self.difference.to_dict(),
            "design": self.design.to_dict(),
            "n_cases": list(self.n_cases),
            "warnings": list(self.warnings),
        }


def hillis_type_df(var: float, per_reader: np.ndarray) -> float:
    """(r - 1) (r var / s2)^2 over the readers with a value, bounded below by r - 1."""
    values = per_reader[np.isfinite(per_reader)]
    r = values.size
    if r < 2 or not var > 0:
        return math.nan
    s2 = float(values.var(ddof=1))
    if s2 <= 0:
        return math.inf
    return float((r - 1) * max(1.0, r * var / s2) ** 2)


def logit_interval(mean: float, se: float, q: float) -> tuple[float, float]:
    """Interval of a proportion-type mean built on the logit scale (delta method), inside (0, 1)."""
    if not (0 < mean < 1) or not se > 0 or not math.isfinite(q):
        return math.nan, math.nan
    half = q * se / (mean * (1 - mean))
    centre = math.log(mean / (1 - mean))
    return 1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))


def welch_df(var_a: float, df_a: float, var_b: float, df_b: float) -> float:
    if not (var_a + var_b) > 0:
        return math.nan
    terms = [v * v / d for v, d in ((var_a, df_a), (var_b, df_b)) if v > 0 and math.isfinite(d) and d > 0]
    return float((var_a + var_b) ** 2 / sum(terms)) if terms else math.inf


def _quantile(df: float, level: float = 0.975) -> float:
    if math.isnan(df):
        return math.nan
    return float(stats.norm.ppf(level)) if math.isinf(df) else float(stats.t.ppf(level, df))


def _arm(kernel: Kernel, readers: tuple[str, ...], fom: str) -> UstatArm:
    decomposition = moments(kernel, kernel, fom)
    var = decomposition.value
    se = math.sqrt(var) if var > 0 else math.nan
    per_reader = kernel.per_reader()
    df = hillis_type_df(var, per_reader)
    mean = kernel.mean
    q, z = _quantile(df), _quantile(math.inf)
    low, high = logit_interval(mean, se, q)
    return UstatArm(
        mean, var, se, df, low, high, mean - z * se, mean + z * se,
        int(np.isfinite(per_reader).sum()), int(kernel.n_obs),
        {r: float(v) for r, v in zip(readers, per_reader, strict=True) if np.isfinite(v)}, decomposition,
    )


def ustat(
    data: pd.DataFrame,
    *,
    score: str,
    control: str,
    treatment: str,
    fom: str = "auc",
    truth: str | None = None,
    threshold: float | None = None,
) -> UstatResult:
    """U-statistic MRMC analysis of `fom`: each arm and treatment - control, for any design."""
    arms = (control, treatment)
    design = detect_design(data, control=control, treatment=treatment, score=score)
    kern, readers, n_a, n_b = kernels(data, score=score, truth=truth, arms=arms, fom=fom, threshold=threshold)
    warnings = []
    for arm in arms:
        if kern[arm].n_obs == 0:
            raise InputError(f"no {fom} observations in arm '{arm}'")
        n_readers = int(np.isfinite(kern[arm].per_reader()).sum())
        if n_readers < 2:
            raise InputError(f"MRMC analysis needs at least 2 readers in arm '{arm}' (has {n_readers})")
    blocks = {arm: _arm(kern[arm], readers, fom) for arm in arms}
    cross = moments(kern[treatment], kern[control], fom)
    var = blocks[treatment].var + blocks[control].var - 2 * cross.value
    estimate = blocks[treatment].mean - blocks[control].mean
    per_t, per_c = kern[treatment].per_reader(), kern[control].per_reader()
    both = np.isfinite(per_t) & np.isfinite(per_c)
    if both.all():
        df = hillis_type_df(var, per_t - per_c)
    else:
        df = welch_df(blocks[treatment].var, blocks[treatment].df, blocks[control].var, blocks[control].df)
    for arm, block in blocks.items():
        if not block.var > 0:
            warnings.append(f"the variance of arm '{arm}' is estimated as {block.var:.3g} (not positive): no CI")
    if not var > 0:
        warnings.append(f"the variance of the difference is estimated as {var:.3g} (not positive): no CI or p")
    se = math.sqrt(var) if var > 0 else math.nan
    q, z = _quantile(df), _quantile(math.inf)
    t_stat = estimate / se if se > 0 else math.nan
    p = float(2 * stats.t.sf(abs(t_stat), df)) if math.isfinite(df) else float(2 * stats.norm.sf(abs(t_stat)))
    difference = UstatDifference(
        estimate, var, se, df, estimate - q * se, estimate + q * se, p,
        estimate - z * se, estimate + z * se, float(2 * stats.norm.sf(abs(t_stat))), cross, int(both.sum()),
    )
    return UstatResult(fom, score, truth, threshold, control, treatment, blocks, difference, design, (n_a, n_b),
                       tuple(warnings))


# --- iMRMC input files -------------------------------------------------------------------------


def read_imrmc(path: str | Path) -> pd.DataFrame:
    """An iMRMC input file (free text, ``BEGIN DATA:``, readerID,caseID,modalityID,score rows; truth rows
    with reader -1 or "truth") as a readings table ``reader, case, arm, rating, truth``."""
    text = Path(path).read_text(encoding="utf-8")
    parts = text.split("BEGIN DATA:", 1)
    if len(parts) != 2:
        raise InputError(f"{path}: not an iMRMC file (no 'BEGIN DATA:' line)")
    rows = []
    for number, line in enumerate(parts[1].splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4:
            raise InputError(f"{path}: data row {number} has {len(fields)} fields, not 4 (readerID,caseID,modalityID,score)")
        rows.append(fields)
    truth = {c: float(s) for r, c, _m, s in rows if r in ("-1", "truth")}
    readings = [(r, c, m, float(s)) for r, c, m, s in rows if r not in ("-1", "truth")]
    frame = pd.DataFrame(readings, columns=["reader", "case", "arm", "rating"])
    frame["truth"] = frame["case"].map(truth)
    return frame


def write_imrmc(data: pd.DataFrame, path: str | Path, *, score: str, truth: str, description: str = "") -> None:
    """Write readings (reader, case, arm, score, truth) as an iMRMC input file."""
    rows = data.dropna(subset=[score]).drop_duplicates(["reader", "case", "arm"])
    cases = rows.groupby("case", sort=False)[truth].first()
    lines = [description or "Readerstudy readings", "", f"NR: {rows['reader'].nunique()}",
             f"N0: {int((cases == 0).sum())}", f"N1: {int((cases == 1).sum())}", f"NM: {rows['arm'].nunique()}",
             "", "BEGIN DATA:"]
    lines += [f"-1,{case},0,{int(value)}" for case, value in cases.items()]
    lines += [f"{r.reader},{r.case},{r.arm},{getattr(r, score)}" for r in rows.itertuples(index=False)]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _natural(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
