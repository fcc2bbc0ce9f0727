"""Agreement (`python -m analysis agreement`, DESIGN 5.2a `agreement`): intra-reader, inter-reader, ICC.

- intra_reader: repeat reads (same reader, case and arm read twice; the export's `repeat` column
  marks the second read). Per reader Cohen's kappa and % agreement over their repeat pairs, the
  mean over readers, and readers below a kappa threshold flagged as a data-quality warning.
- inter_reader: per arm, Fleiss' kappa over the readers of each case (the generalisation to a
  varying number of ratings per case; with a constant number it is Fleiss 1971, as statsmodels'
  ``fleiss_kappa``) and the mean pairwise Cohen's kappa (weighted if asked). The treatment-minus-
  control difference of Fleiss' kappa gets a two-way (readers x cases) bootstrap CI; a reader
  drawn twice is never paired with itself (pairs of the same reader are left out of the
  agreement counts), so resampling does not manufacture agreement.
- icc: for numeric ratings, Shrout-Fleiss ICCs from the two-way ANOVA of the complete case x
  reader table of each arm, with psych::ICC's F-based confidence limits: ICC(2,1) (single
  random rater, absolute agreement) and ICC(2,k) (mean of k raters) headline, all six kept.

Weights (none | linear | quadratic) apply to Cohen's kappa of ordered numeric ratings: agreement
weight 1 - |a - b| / range or 1 - ((a - b) / range)^2 over the observed scale values.
The rating `top1` means the first code of the differential (the top-1 diagnosis).

Long module: three families of agreement (intra-reader, inter-reader, ICC) share the pairing of
readings and the weighting of the ordinal scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.bootstrap import Interval, percentile_interval
from analysis.readings import InputError, as_label, require_arms, require_columns, split_differential

WEIGHTS = ("none", "linear", "quadratic")
DEFAULT_KAPPA_THRESHOLD = 0.4
TOP1 = "top1"


# --- kappa ---------------------------------------------------------------------------------------


def weight_matrix(categories: Sequence, weights: str) -> np.ndarray:
    """Agreement weights between categories (1 on the diagonal)."""
    k = len(categories)
    if weights == "none":
        return np.eye(k)
    values = np.asarray(categories, float)
    span = values.max() - values.min() if k > 1 else 1.0
    distance = np.abs(values[:, None] - values[None, :]) / (span or 1.0)
    return 1 - distance if weights == "linear" else 1 - distance**2


def cohen_kappa(a: Sequence, b: Sequence, *, weights: str = "none", categories: Sequence | None = None) -> float:
    """Cohen's kappa of two paired rating vectors (NaN when chance agreement is 1)."""
    a, b = list(a), list(b)
    if not a:
        return math.nan
    categories = sorted(set(a) | set(b)) if categories is None else list(categories)
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    return kappa_from_table(table, weight_matrix(categories, weights))


def kappa_from_table(table: np.ndarray, w: np.ndarray) -> float:
    p = table / table.sum()
    observed = float((w * p).sum())
    expected = float((w * np.outer(p.sum(1), p.sum(0))).sum())
    return (observed - expected) / (1 - expected) if expected < 1 - 1e-12 else math.nan


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from a cases x categories count table (cases with >= 2 ratings).

    The number of ratings may vary by case: P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)).
    """
    counts = np.asarray(counts, float)
    n = counts.sum(1)
    keep = n >= 2
    counts, n = counts[keep], n[keep]
    if len(n) == 0:
        return math.nan
    p_case = ((counts * (counts - 1)).sum(1) / (n * (n - 1))).mean()
    p_cat = counts.sum(0) / n.sum()
    expected = float((p_cat**2).sum())
    return float((p_case - expected) / (1 - expected)) if expected < 1 - 1e-12 else math.nan


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderRepeat:
    reader: str
    n_pairs: int
    kappa: float
    percent_agreement: float
    flagged: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class IntraReader:
    n_pairs: int
    readers: tuple[ReaderRepeat, ...]
    mean_kappa: float
    pooled_kappa: float
    threshold: float
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "n_pairs": self.n_pairs,
            "n_readers": len(self.readers),
            "mean_kappa": self.mean_kappa,
            "pooled_kappa": self.pooled_kappa,
            "threshold": self.threshold,
            "per_reader": [r.to_dict() for r in self.readers],
            "flagged_readers": [r.reader for r in self.readers if r.flagged],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ArmAgreement:
    n_readers: int
    n_cases: int
    fleiss_kappa: Interval
    mean_pairwise_kappa: float
    mean_pairwise_agreement: float
    n_reader_pairs: int

    def to_dict(self) -> dict:
        return {
            "n_readers": self.n_readers,
            "n_cases": self.n_cases,
            "fleiss_kappa": self.fleiss_kappa.estimate,
            "fleiss_kappa_ci": [self.fleiss_kappa.ci_low, self.fleiss_kappa.ci_high],
            "mean_pairwise_kappa": self.mean_pairwise_kappa,
            "mean_pairwise_agreement": self.mean_pairwise_agreement,
            "n_reader_pairs": self.n_reader_pairs,
        }


@dataclass(frozen=True)
class IccRow:
    type: str
    icc: float
    f: float
    df1: float
    df2: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return {
            "type": self.type, "estimate": self.icc, "F": self.f, "df1": self.df1, "df2": self.df2,
            "p_value": self.p_value, "ci_low": self.ci_low, "ci_high": self.ci_high,
        }


@dataclass(frozen=True)
class IccResult:
    n_cases: int
    n_readers: int
    rows: tuple[IccRow, ...]
    note: str | None = None

    def row(self, name: str) -> IccRow:
        return next(r for r in self.rows if r.type == name)

    def to_dict(self) -> dict:
        return {
            "n_cases": self.n_cases,
            "n_readers": self.n_readers,
            "icc2_1": self.row("ICC2").to_dict(),
            "icc2_k": self.row("ICC2k").to_dict(),
            "table": [r.to_dict() for r in self.rows],
            "note": self.note,
        }


@dataclass(frozen=True)
class AgreementResult:
    rating: str
    weights: str
    arms: tuple[str, ...]
    control: str | None
    treatment: str | None
    numeric: bool
    intra_reader: IntraReader | None
    inter_reader: Mapping[str, ArmAgreement]
    difference: Interval | None
    difference_pairwise: float | None
    icc: Mapping[str, IccResult]
    replicates: int
    seed: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        inter: dict = {arm: block.to_dict() for arm, block in self.inter_reader.items()}
        if self.difference is not None:
            inter["difference"] = {
                "of": "fleiss_kappa",
                "treatment_minus_control": f"{self.treatment} - {self.control}",
                **self.difference.to_dict(),
                "mean_pairwise_kappa": self.difference_pairwise,
            }
        return {
            "rating": self.rating,
            "weights": self.weights,
            "arms": list(self.arms),
            "control": self.control,
            "treatment": self.treatment,
            "intra_reader": self.intra_reader.to_dict() if self.intra_reader else None,
            "inter_reader": inter,
            "icc": {arm: r.to_dict() for arm, r in self.icc.items()} if self.numeric else None,
            "bootstrap": {"replicates": self.replicates, "seed": self.seed, "over": "readers and cases"},
            "notes": list(self.notes),
        }


# --- the analysis --------------------------------------------------------------------------------


def agreement(
    readings: pd.DataFrame,
    *,
    rating: str,
    weights: str = "none",
    control: str | None = None,
    treatment: str | None = None,
    kappa_threshold: float = DEFAULT_KAPPA_THRESHOLD,
    replicates: int = 1000,
    seed: int = 0,
    reader_col: str = "reader",
    case_col: str = "case",
    arm_col: str = "arm",
) -> AgreementResult:
    if weights not in WEIGHTS:
        raise InputError(f"--weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    data = _normalise(readings, rating, reader_col, case_col, arm_col)
    arms = tuple(sorted(data["arm"].unique()))
    if control is not None or treatment is not None:
        if control is None or treatment is None:
            raise InputError("give both --control and --treatment (or neither)")
        control, treatment = as_label(control), as_label(treatment)
        require_arms(data, "arm", [control, treatment])
        arms = (control, treatment)
        data = data[data["arm"].isin(arms)]
    numeric = _is_numeric(data["value"])
    if weights != "none" and not numeric:
        raise InputError(f"weighted kappa needs numeric (ordered) ratings; column '{rating}' is not numeric")
    if numeric:
        data = data.assign(value=pd.to_numeric(data["value"]))
    categories = sorted(data["value"].unique())
    notes: list[str] = []
    first, repeats = _split_repeats(data)
    intra = _intra_reader(repeats, categories, weights, kappa_threshold, notes)
    readers = sorted(first["reader"].unique())
    cases = sorted(first["case"].unique())
    boot = _FleissBootstrap(first, readers, cases, categories, replicates, seed)
    inter, replicate_kappas = {}, {}
    for arm in arms:
        subset = first[first["arm"] == arm]
        estimate, boot_kappa = boot.kappa(arm)
        replicate_kappas[arm] = (estimate, boot_kappa)
        pairwise = _pairwise(subset, categories, weights)
        inter[arm] = ArmAgreement(
            n_readers=int(subset["reader"].nunique()),
            n_cases=int((subset.groupby("case").size() >= 2).sum()),
            fleiss_kappa=percentile_interval(estimate, boot_kappa),
            mean_pairwise_kappa=pairwise[0],
            mean_pairwise_agreement=pairwise[1],
            n_reader_pairs=pairwise[2],
        )
    difference = difference_pairwise = None
    if control is not None:
        (c_est, c_boot), (t_est, t_boot) = replicate_kappas[control], replicate_kappas[treatment]
        difference = percentile_interval(t_est - c_est, t_boot - c_boot)
        difference_pairwise = inter[treatment].mean_pairwise_kappa - inter[control].mean_pairwise_kappa
    icc = {arm: icc_table(_complete_matrix(first[first["arm"] == arm])) for arm in arms} if numeric else {}
    return AgreementResult(
        rating=rating,
        weights=weights,
        arms=arms,
        control=control,
        treatment=treatment,
        numeric=numeric,
        intra_reader=intra,
        inter_reader=inter,
        difference=difference,
        difference_pairwise=difference_pairwise,
        icc={arm: r for arm, r in icc.items() if r is not None},
        replicates=replicates,
        seed=seed,
        notes=tuple(notes),
    )


def _normalise(readings: pd.DataFrame, rating: str, reader_col: str, case_col: str, arm_col: str) -> pd.DataFrame:
    source = "differential" if rating == TOP1 and TOP1 not in readings.columns else rating
    require_columns(readings, [reader_col, case_col, arm_col, source])
    if source == "differential":
        values = readings["differential"].map(lambda d: (split_differential(d) or [None])[0])
    else:
        values = readings[source]
    frame = pd.DataFrame(
        {
            "reader": readings[reader_col].map(as_label),
            "case": readings[case_col].map(as_label),
            "arm": readings[arm_col].map(as_label),
            "value": values,
            "repeat": pd.to_numeric(readings["repeat"], errors="coerce").fillna(0)
            if "repeat" in readings.columns
            else 0,
            "order": np.arange(len(readings)),
        }
    )
    frame = frame[frame["value"].notna() & (frame["value"].astype(str).str.strip() != "")]
    if frame.empty:
        raise InputError(f"column '{rating}' has no ratings")
    return frame.reset_index(drop=True)


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def _split_repeats(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First reads (one per reader, case, arm) and the repeat pairs (first read, second read)."""
    ordered = data.sort_values(["repeat", "order"], kind="stable")
    rank = ordered.groupby(["reader", "case", "arm"]).cumcount()
    first = ordered[rank == 0]
    second = ordered[rank == 1]
    pairs = first.merge(second, on=["reader", "case", "arm"], suffixes=("_1", "_2"))
    return first, pairs


def _intra_reader(
    pairs: pd.DataFrame, categories: list, weights: str, threshold: float, notes: list[str]
) -> IntraReader | None:
    if pairs.empty:
        notes.append("no repeat reads (same reader, case and arm twice): intra-reader agreement left out")
        return None
    rows, warnings = [], []
    for reader, subset in pairs.groupby("reader", sort=True):
        kappa = cohen_kappa(subset["value_1"], subset["value_2"], weights=weights, categories=categories)
        agree = float((subset["value_1"] == subset["value_2"]).mean())
        flagged = bool(np.isfinite(kappa) and kappa < threshold)
        if flagged:
            warnings.append(
                f"reader {reader}: intra-reader kappa {kappa:.2f} below {threshold:g} over {len(subset)} repeat pair(s)"
            )
        rows.append(ReaderRepeat(str(reader), len(subset), kappa, agree, flagged))
    finite = [r.kappa for r in rows if np.isfinite(r.kappa)]
    return IntraReader(
        n_pairs=len(pairs),
        readers=tuple(rows),
        mean_kappa=float(np.mean(finite)) if finite else math.nan,
        pooled_kappa=cohen_kappa(pairs["value_1"], pairs["value_2"], weights=weights, categories=categories),
        threshold=threshold,
        warnings=tuple(warnings),
    )


def _pairwise(subset: pd.DataFrame, categories: list, weights: str) -> tuple[float, float, int]:
    """Mean Cohen's kappa and % agreement over reader pairs with at least 2 cases in common."""
    wide = subset.pivot_table(index="case", columns="reader", values="value", aggfunc="first")
    kappas, agreements = [], []
    for a, b in combinations(wide.columns, 2):
        both = wide[[a, b]].dropna()
        if len(both) < 2:
            continue
        kappa = cohen_kappa(both[a], both[b], weights=weights, categories=categories)
        agreements.append(float((both[a] == both[b]).mean()))
        if np.isfinite(kappa):
            kappas.append(kappa)
    mean = lambda x: float(np.mean(x)) if x else math.nan  # noqa: E731
    return mean(kappas), mean(agreements), len(agreements)


class _FleissBootstrap:
    """Fleiss' kappa per arm under shared reader and case resampling (see the module docstring)."""

    def __init__(
        self, first: pd.DataFrame, readers: list, cases: list, categories: list, replicates: int, seed: int
    ) -> None:
        rng = np.random.default_rng(seed)
        self.first = first
        self.reader_index = {r: i for i, r in enumerate(readers)}
        self.case_index = {c: i for i, c in enumerate(cases)}
        self.category_index = {c: i for i, c in enumerate(categories)}
        self.shape = (len(readers), len(cases), len(categories))
        self.replicates = replicates
        self.w = rng.multinomial(len(readers), np.full(len(readers), 1 / len(readers)), replicates).astype(float)
        self.v = rng.multinomial(len(cases), np.full(len(cases), 1 / len(cases)), replicates).astype(float)

    def kappa(self, arm: str) -> tuple[float, np.ndarray]:
        subset = self.first[self.first["arm"] == arm]
        r = subset["reader"].map(self.reader_index).to_numpy(int)
        c = subset["case"].map(self.case_index).to_numpy(int)
        k = subset["value"].map(self.category_index).to_numpy(int)
        n_r, n_c, n_k = self.shape
        x = np.zeros((n_r, n_c * n_k))
        x[r, c * n_k + k] = 1.0
        estimate = self._kappa(np.ones((1, n_r)), np.ones((1, n_c)), x)[0]
        out = np.empty(self.replicates)
        for start in range(0, self.replicates, 100):
            stop = min(start + 100, self.replicates)
            out[start:stop] = self._kappa(self.w[start:stop], self.v[start:stop], x)
        return float(estimate), out

    def _kappa(self, w: np.ndarray, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        n_c, n_k = self.shape[1], self.shape[2]
        counts = (w @ x).reshape(len(w), n_c, n_k)
        self_pairs = ((w**2) @ x).reshape(len(w), n_c, n_k)
        n = counts.sum(2)
        agree = (counts**2 - self_pairs).sum(2)
        pairs = n**2 - self_pairs.sum(2)
        valid = pairs > 0
        weight = v * valid
        with np.errstate(invalid="ignore", divide="ignore"):
            p_case = np.where(valid, agree / np.where(valid, pairs, 1), 0.0)
            observed = (weight * p_case).sum(1) / weight.sum(1)
            p_cat = (weight[:, :, None] * counts).sum(1) / (weight * n).sum(1)[:, None]
            expected = (p_cat**2).sum(1)
            return np.where(expected < 1 - 1e-12, (observed - expected) / (1 - expected), np.nan)


# --- ICC -----------------------------------------------------------------------------------------


def _complete_matrix(subset: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """Cases x readers with every cell rated: drop incomplete cases, then sparse readers if needed."""
    wide = subset.pivot_table(index="case", columns="reader", values="value", aggfunc="first")
    note = None
    dropped_readers = 0
    while wide.shape[1] >= 2:
        complete = wide.dropna()
        if len(complete) >= 3 or wide.shape[1] == 2:
            break
        worst = wide.isna().sum().idxmax()
        wide = wide.drop(columns=worst)
        dropped_readers += 1
    complete = wide.dropna()
    left_out = subset["case"].nunique() - len(complete)
    if left_out or dropped_readers:
        note = (
            f"ICC over the complete case x reader table: {left_out} case(s) and {dropped_readers} reader(s) "
            "left out for missing ratings"
        )
    return complete.to_numpy(float), note


def icc_table(matrix_and_note: tuple[np.ndarray, str | None], alpha: float = 0.05) -> IccResult | None:
    """Shrout-Fleiss ICCs of an n x k table, as psych::ICC(x, lmer = FALSE)."""
    x, note = matrix_and_note
    n, k = x.shape if x.ndim == 2 else (0, 0)
    if n < 2 or k < 2:
        return None
    grand = x.mean()
    ss_rows = k * ((x.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(0) - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ss_error = ss_total - ss_rows - ss_cols
    msb = ss_rows / (n - 1)
    msj = ss_cols / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_error) / (n * (k - 1))
    icc1 = (msb - msw) / (msb + (k - 1) * msw)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    icc3 = (msb - mse) / (msb + (k - 1) * mse)
    icc1k = (msb - msw) / msb
    icc2k = (msb - mse) / (msb + (msj - mse) / n)
    icc3k = (msb - mse) / msb
    f11, df11n, df11d = msb / msw, n - 1, n * (k - 1)
    f21, df21n, df21d = msb / mse, n - 1, (n - 1) * (k - 1)
    p11, p21 = stats.f.sf(f11, df11n, df11d), stats.f.sf(f21, df21n, df21d)
    q = 1 - alpha / 2
    f1l, f1u = f11 / stats.f.ppf(q, df11n, df11d), f11 * stats.f.ppf(q, df11d, df11n)
    f3l, f3u = f21 / stats.f.ppf(q, df21n, df21d), f21 * stats.f.ppf(q, df21d, df21n)
    fj = msj / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u, f2l = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
    l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
    u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
    rows = (
        IccRow("ICC1", icc1, f11, df11n, df11d, p11, (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        IccRow("ICC2", icc2, f21, df21n, df21d, p21, l2, u2),
        IccRow("ICC3", icc3, f21, df21n, df21d, p21, (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        IccRow("ICC1k", icc1k, f11, df11n, df11d, p11, 1 - 1 / f1l, 1 - 1 / f1u),
        IccRow("ICC2k", icc2k, f21, df21n, df21d, p21, l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        IccRow("ICC3k", icc3k, f21, df21n, df21d, p21, 1 - 1 / f3l, 1 - 1 / f3u),
    )
    rows = tuple(IccRow(r.type, *(float(getattr(r, f)) for f in ("icc", "f", "df1", "df2", "p_value", "ci_low",
                                                                     "ci_high"))) for r in rows)
    return IccResult(n_cases=int(n), n_readers=int(k), rows=rows, note=note)
