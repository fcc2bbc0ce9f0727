"""The model beside the readers: its standalone performance on the cases the readers read (DESIGN 3.5).

Input: the readings table and a model-outputs table with one row per case,
    case, model_top1, model_top3 ("|"-joined codes, best first), model_malignant_score (0-1,
    the summed probability of the malignant conditions).
Top-1/top-3 are exact code matches for the model and the readers alike (`correct_top_k`, computed
from each reading's differential), so neither side gets taxonomy-group credit the other lacks.

Readers are compared with the model on the cases they read: per reader and arm, the model's
accuracy on exactly that reader's cases minus the reader's accuracy, averaged over readers (with
every reader reading every case this is model accuracy minus the readers' mean). Intervals are
percentile bootstrap intervals resampling cases (readers fixed), the same case draws for the model
and the readers so the difference is paired by case; the difference also gets an interval resampling
readers and cases together, for readers as a sample of a population. The malignancy AUC is the
empirical (Mann-Whitney) AUC with a DeLong standard error.

Long module: the model's accuracy, AUC and operating point beside the readers all use the same case
alignment and the readers' sampling model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.fom import ScoreArray, empirical_auc, roc_points
from analysis.readings import InputError, as_label, correct_top_k, split_differential

MODEL_COLUMNS = ("case", "model_top1", "model_top3", "model_malignant_score")
OUTCOMES = {"top1": 1, "top3": 3}
N_BOOTSTRAP, SEED = 2000, 0
OUTCOME_DEFINITION = "exact code match of the reference diagnosis, for the model and the readers"
CI_NOTE = (
    "percentile bootstrap, 95 %, resampling cases (readers fixed), paired by case; "
    "random_readers: resampling readers and cases"
)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class ReaderAccuracy:
    reader: str
    n_cases: int
    accuracy: float
    model_accuracy: float  # the model on the same cases


@dataclass(frozen=True)
class ReadersVsModel:
    """One arm, one outcome: the readers' mean, model - readers, and how many readers the model beats."""

    arm: str
    outcome: str
    model: float  # mean over readers of the model's accuracy on each reader's cases
    readers_mean: Estimate
    difference: Estimate  # model - readers
    difference_random_readers: tuple[float, float]
    readers: tuple[ReaderAccuracy, ...]

    @property
    def n_readers(self) -> int:
        return len(self.readers)

    @property
    def n_beaten(self) -> int:
        return sum(_above(r.model_accuracy, r.accuracy) for r in self.readers)

    @property
    def n_tied(self) -> int:
        return sum(bool(np.isclose(r.model_accuracy, r.accuracy)) for r in self.readers)

    @property
    def share_beaten(self) -> float:
        return self.n_beaten / self.n_readers if self.readers else float("nan")

    def to_dict(self) -> dict:
        low, high = self.difference_random_readers
        return {
            "model": self.model,
            "readers_mean": self.readers_mean.to_dict(),
            "difference": {
                **self.difference.to_dict(),
                "ci_low_random_readers": low,
                "ci_high_random_readers": high,
            },
            "readers_beaten": {"n": self.n_beaten, "n_tied": self.n_tied, "share": self.share_beaten},
        }


@dataclass(frozen=True)
class MalignancyAuc:
    value: float
    se: float
    ci_low: float
    ci_high: float
    n_positive: int
    n_negative: int
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "method": "empirical AUC, DeLong standard error, Wald 95 % CI clipped to [0, 1]",
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
        }


@dataclass(frozen=True)
class ModelBenchmark:
    n_cases: int  # read, with a model output and a reference diagnosis: the cases everything uses
    n_cases_read: int
    cases_missing_model: tuple[str, ...]
    n_cases_unread: int  # model outputs for cases nobody read (ignored)
    top1: Estimate
    top3: Estimate
    auc: MalignancyAuc | None
    arms: tuple[str, ...]
    comparisons: tuple[ReadersVsModel, ...]
    arm_roles: Mapping[str, str] = field(default_factory=dict)
    n_bootstrap: int = N_BOOTSTRAP
    seed: int = SEED
    warnings: tuple[str, ...] = ()

    def comparison(self, arm: str, outcome: str) -> ReadersVsModel:
        return next(c for c in self.comparisons if c.arm == arm and c.outcome == outcome)

    def accuracy(self, outcome: str) -> Estimate:
        return self.top1 if outcome == "top1" else self.top3

    def to_dict(self) -> dict:
        arms = {}
        for arm in self.arms:
            block: dict = {
                "role": self.arm_roles.get(arm),
                "n_readers": self.comparison(arm, "top1").n_readers,
            }
            block |= {outcome: self.comparison(arm, outcome).to_dict() for outcome in OUTCOMES}
            arms[arm] = block
        return {
            "n_cases": self.n_cases,
            "n_cases_read": self.n_cases_read,
            "n_cases_missing_model": len(self.cases_missing_model),
            "cases_missing_model": list(self.cases_missing_model),
            "n_cases_unread": self.n_cases_unread,
            "top1": {**self.top1.to_dict(), "n": self.n_cases},
            "top3": {**self.top3.to_dict(), "n": self.n_cases},
            "malignant_auc": self.auc.to_dict() if self.auc else None,
            "roc": {"fpr": list(self.auc.fpr), "tpr": list(self.auc.tpr)} if self.auc else None,
            "arms": arms,
            "outcome_definition": OUTCOME_DEFINITION,
            "ci": CI_NOTE,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "warnings": list(self.warnings),
        }


def _above(a: float, b: float) -> bool:
    return bool(a > b and not np.isclose(a, b))


# --- input -------------------------------------------------------------------------------------


def load_model_outputs(path: str | Path) -> pd.DataFrame:
    """Read a model-outputs table from CSV or Parquet (by suffix) and validate it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot read model outputs file {path}: no such file")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={"case": str, "model_top1": str, "model_top3": str})
    except Exception as exc:  # noqa: BLE001 - any parser failure is an input error
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read model outputs file {path}: {first_line}") from exc
    if frame.empty:
        raise InputError(f"model outputs file {path} has no rows")
    return validate_model_outputs(frame)


def validate_model_outputs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per case; codes as text; the malignant score numeric in [0, 1] (empty allowed)."""
    missing = [c for c in MODEL_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"missing column(s) in model outputs: {', '.join(missing)}")
    out = frame[list(MODEL_COLUMNS)].copy()
    out["case"] = out["case"].map(as_label).astype(object)
    duplicated = out["case"][out["case"].duplicated()]
    if len(duplicated):
        raise InputError(f"model outputs have more than one row for case '{duplicated.iloc[0]}'")
    for column in ("model_top1", "model_top3"):
        out[column] = out[column].map(lambda v: "" if pd.isna(v) else str(v).strip()).astype(object)
    raw = out["model_malignant_score"]
    score = pd.to_numeric(raw, errors="coerce")
    if (score.isna() & raw.notna() & (raw.astype(str).str.strip() != "")).any():
        raise InputError("column 'model_malignant_score' in model outputs is not numeric")
    if ((score < 0) | (score > 1)).any():
        raise InputError("column 'model_malignant_score' in model outputs must lie between 0 and 1")
    out["model_malignant_score"] = score.astype(float)
    return out.reset_index(drop=True)


# --- the analysis ------------------------------------------------------------------------------


def model_benchmark(
    readings: pd.DataFrame,
    model_outputs: pd.DataFrame,
    *,
    arms: Sequence[str] | None = None,
    arm_roles: Mapping[str, str] | None = None,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = SEED,
) -> ModelBenchmark:
    """Benchmark the model against the readers of each arm on the cases both saw.

    `readings` needs columns reader, case, arm, truth and either differential or correct_top1 and
    correct_top3; truth_malignant (0/1) for the AUC. `arms` (default: all, sorted) fixes the order.
    """
    model = validate_model_outputs(model_outputs)
    data = _readings(readings, arms)
    arms = tuple(as_label(a) for a in arms) if arms is not None else tuple(sorted(data["arm"].unique()))
    truth = _case_truth(data, "truth")
    read = sorted(data["case"].unique())
    warnings = []
    no_truth = [c for c in read if c not in truth.index]
    if no_truth:
        warnings.append(f"{len(no_truth)} case(s) without a reference diagnosis left out")
    missing = tuple(c for c in read if c not in set(model["case"]))
    if missing:
        warnings.append(
            f"{len(missing)} read case(s) without a model output left out: {', '.join(missing[:10])}"
        )
    model = model.set_index("case")
    cases = [c for c in read if c in model.index and c in truth.index]
    if not cases:
        raise InputError("no read case has both a reference diagnosis and a model output")
    rng = np.random.default_rng(seed)
    weights = _case_weights(rng, len(cases), n_bootstrap)
    model_hits = {name: _model_hits(model.loc[cases], truth.loc[cases], k) for name, k in OUTCOMES.items()}
    hits = _reader_hits(data[data["case"].isin(cases)])
    comparisons = []
    for arm in arms:
        matrix = hits[hits["arm"] == arm].pivot_table(index="reader", columns="case", values=list(OUTCOMES))
        reader_weights = _reader_weights(rng, matrix.shape[0], n_bootstrap)
        for name in OUTCOMES:
            table = matrix[name].reindex(columns=cases) if len(matrix) else pd.DataFrame(columns=cases)
            comparisons.append(readers_vs_model(arm, name, table, model_hits[name], weights, reader_weights))
    return ModelBenchmark(
        n_cases=len(cases),
        n_cases_read=len(read),
        cases_missing_model=missing,
        n_cases_unread=int((~model.index.isin(read)).sum()),
        top1=_accuracy(model_hits["top1"], weights),
        top3=_accuracy(model_hits["top3"], weights),
        auc=malignancy_auc(data, model, cases),
        arms=arms,
        comparisons=tuple(comparisons),
        arm_roles=dict(arm_roles or {}),
        n_bootstrap=n_bootstrap,
        seed=seed,
        warnings=tuple(warnings),
    )


def _readings(readings: pd.DataFrame, arms: Sequence[str] | None) -> pd.DataFrame:
    needed = ["reader", "case", "arm", "truth"]
    needed += ["differential"] if "differential" in readings.columns else ["correct_top1", "correct_top3"]
    missing = [c for c in needed if c not in readings.columns]
    if missing:
        raise InputError(f"the model benchmark needs column(s) in readings: {', '.join(missing)}")
    data = readings.copy()
    for column in ("reader", "case", "arm"):
        data[column] = data[column].map(as_label).astype(object)
    if arms is not None:
        data = data[data["arm"].isin([as_label(a) for a in arms])]
    if data.empty:
        raise InputError("no readings in the arms to benchmark against the model")
    return data


def _case_truth(data: pd.DataFrame, column: str) -> pd.Series:
    """One value per case; a case with two different values is an input error."""
    known = data.dropna(subset=[column])
    known = known[known[column].astype(str).str.strip() != ""]
    values = known.groupby("case")[column].agg(lambda s: tuple(sorted(set(map(str, s)))))
    conflicting = values[values.map(len) > 1]
    if len(conflicting):
        raise InputError(f"column '{column}' differs within case '{conflicting.index[0]}'")
    return known.groupby("case")[column].first()


def _model_hits(model: pd.DataFrame, truth: pd.Series, k: int) -> np.ndarray:
    hits = []
    for top1, top3, reference in zip(model["model_top1"], model["model_top3"], truth, strict=True):
        codes = split_differential(top3) or split_differential(top1)
        if top1 and (not codes or codes[0] != top1):
            codes = [top1, *[c for c in codes if c != top1]]
        hits.append(correct_top_k(codes, str(reference), k))
    return np.asarray(hits, dtype=float)


def _reader_hits(data: pd.DataFrame) -> pd.DataFrame:
    """Top-1/top-3 per reading (exact match from the differential), averaged per reader, case and arm."""
    frame = data[["reader", "case", "arm"]].copy()
    for name, k in OUTCOMES.items():
        if "differential" in data.columns:
            frame[name] = [
                correct_top_k(split_differential(d), str(t), k)
                for d, t in zip(data["differential"], data["truth"], strict=True)
            ]
        else:
            frame[name] = pd.to_numeric(data[f"correct_{name}"], errors="coerce")
    return frame.groupby(["reader", "case", "arm"], as_index=False)[list(OUTCOMES)].mean()


def _case_weights(rng: np.random.Generator, n: int, n_bootstrap: int) -> np.ndarray:
    """How often each case is drawn in each bootstrap sample, (n_bootstrap, n)."""
    draws = rng.integers(0, n, size=(n_bootstrap, n))
    counts = np.zeros((n_bootstrap, n))
    np.add.at(counts, (np.repeat(np.arange(n_bootstrap), n), draws.ravel()), 1)
    return counts


def _reader_weights(rng: np.random.Generator, n: int, n_bootstrap: int) -> np.ndarray:
    return _case_weights(rng, n, n_bootstrap) if n else np.zeros((n_bootstrap, 0))


def _interval(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if not samples.size:
        return float("nan"), float("nan")
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def _accuracy(hits: np.ndarray, weights: np.ndarray) -> Estimate:
    return Estimate(float(hits.mean()), *_interval(weights @ hits / len(hits)))


def readers_vs_model(
    arm: str,
    outcome: str,
    table: pd.DataFrame,
    model_hits: np.ndarray,
    case_weights: np.ndarray,
    reader_weights: np.ndarray,
) -> ReadersVsModel:
    """`table`: readers x cases (NaN where unread), cases in the order of `model_hits`."""
    values = table.to_numpy(float)
    read = np.isfinite(values)
    keep = read.any(axis=1)
    values, read, reader_weights = values[keep], read[keep], reader_weights[:, keep]
    x = np.where(read, values, 0.0)
    m = read * model_hits
    n_read = read.sum(axis=1)
    accuracy, model_accuracy = x.sum(axis=1) / n_read, m.sum(axis=1) / n_read
    readers = tuple(
        ReaderAccuracy(str(r), int(n), float(a), float(b))
        for r, n, a, b in zip(table.index[keep], n_read, accuracy, model_accuracy, strict=True)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = case_weights @ read.T  # (bootstrap, readers)
        boot_readers = case_weights @ x.T / denominator
        boot_model = case_weights @ m.T / denominator
    boot_difference = boot_model - boot_readers
    return ReadersVsModel(
        arm=arm,
        outcome=outcome,
        model=float(model_accuracy.mean()) if readers else float("nan"),
        readers_mean=Estimate(_mean(accuracy), *_interval(_row_means(boot_readers))),
        difference=Estimate(_mean(model_accuracy - accuracy), *_interval(_row_means(boot_difference))),
        difference_random_readers=_interval(_weighted_mean(boot_difference, reader_weights)),
        readers=readers,
    )


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per bootstrap row: mean over readers drawn `weights` times each, skipping undefined readers."""
    valid = np.isfinite(values)
    w = np.where(valid, weights, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * np.where(valid, values, 0.0)).sum(axis=1) / w.sum(axis=1)


def _row_means(values: np.ndarray) -> np.ndarray:
    return _weighted_mean(values, np.ones_like(values))


def malignancy_auc(data: pd.DataFrame, model: pd.DataFrame, cases: Sequence[str]) -> MalignancyAuc | None:
    """Empirical AUC of model_malignant_score for truth_malignant; None without both classes."""
    if "truth_malignant" not in data.columns:
        return None
    truth = pd.to_numeric(_case_truth(data, "truth_malignant"), errors="coerce")
    frame = pd.DataFrame(
        {"truth": truth.reindex(cases), "score": model.loc[list(cases), "model_malignant_score"]}
    )
    frame = frame.dropna()
    if not set(frame["truth"].unique()) <= {0.0, 1.0}:
        raise InputError("truth column 'truth_malignant' must be 0/1")
    if frame["truth"].nunique() < 2:
        return None
    y = frame["truth"].to_numpy(int)
    s = frame["score"].to_numpy(float)
    scores = ScoreArray(("model",), ("model",), tuple(frame.index), y, s[None, None, :])
    fom = empirical_auc(scores)
    value = float(fom.values[0, 0])
    se = (
        float(np.sqrt(fom.covariance("delong")[0, 0]))
        if min(scores.n_positive, scores.n_negative) > 1
        else np.nan
    )
    z = stats.norm.ppf(0.975)
    fpr, tpr = roc_points(s, y)
    return MalignancyAuc(
        value=value,
        se=se,
        ci_low=max(0.0, value - z * se) if np.isfinite(se) else float("nan"),
        ci_high=min(1.0, value + z * se) if np.isfinite(se) else float("nan"),
        n_positive=scores.n_positive,
        n_negative=scores.n_negative,
        fpr=tuple(float(v) for v in fpr),
        tpr=tuple(float(v) for v in tpr),
    )
