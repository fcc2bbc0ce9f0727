"""Subgroups and fairness: `compare --interaction COL` (DESIGN 5.2a `interaction`).

The mixed model of the comparison (random reader and case intercepts, and reader:arm, case:arm)
gets an arm effect per level of COL (e.g. Fitzpatrick I-III vs IV-VI, body site, reader group):

    full:    outcome ~ COL + arm:COL + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)
    reduced: outcome ~ COL + arm     + (same random terms)

The likelihood-ratio test of full vs reduced (df = levels - 1) asks whether the AI's help differs
between the levels; each level's arm effect (odds ratio for 0/1 outcomes, difference otherwise)
comes with a Wald CI and a Holm-adjusted p over the levels. The AI's own standalone accuracy per
level (the `ai_correct_top1` the treatment readings showed, averaged per case, then over cases) is
set beside it. Levels are coded as 0/1 columns so each level's arm effect is one coefficient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.mixed import model_data

Z_975 = 1.959964
RANDOM_TERMS = "(1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)"


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (as R's p.adjust(method = "holm")); NaN stays NaN."""
    finite = [(p, i) for i, p in enumerate(p_values) if np.isfinite(p)]
    adjusted = [math.nan] * len(p_values)
    m = len(finite)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(finite)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class LevelEffect:
    level: str
    n_readings: int
    estimate: float  # odds ratio (binary) or difference in means
    ci_low: float
    ci_high: float
    log_estimate: float
    se: float
    p_value: float
    p_value_holm: float
    ai_accuracy: float | None
    n_cases: int

    def to_dict(self) -> dict:
        return {
            "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value,
            "p_value_holm": self.p_value_holm, "coefficient": self.log_estimate, "se": self.se,
            "n_readings": self.n_readings, "n_cases": self.n_cases, "ai_standalone_accuracy": self.ai_accuracy,
        }


@dataclass(frozen=True)
class InteractionResult:
    column: str
    effect: str  # "odds_ratio" | "difference"
    formula: str
    reduced_formula: str
    lrt: dict | None
    levels: tuple[LevelEffect, ...]
    converged: bool
    warnings: tuple[str, ...] = field(default=())
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.lrt is None or self.lrt.get("p_value") is None:
            return f"The interaction of arm and {self.column} could not be tested."
        p = self.lrt["p_value"]
        shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        if p < 0.05:
            return (f"The AI's help differs between levels of {self.column} (likelihood-ratio test of arm x "
                    f"{self.column}, {shown}).")
        return (f"No evidence that the AI's help differs between levels of {self.column} (likelihood-ratio "
                f"test of arm x {self.column}, {shown}); that is not evidence that it is the same.")

    def to_dict(self) -> dict:
        return {
            "column": self.column,
            "effect": self.effect,
            "formula": self.formula,
            "reduced_formula": self.reduced_formula,
            "lrt": self.lrt,
            "levels": {e.level: e.to_dict() for e in self.levels},
            "converged": self.converged,
            "verdict": self.verdict,
            "warnings": list(self.warnings),
            "error": self.error,
        }


def _label(level: object) -> str:
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    return str(level)


def interaction_analysis(
    valid: pd.DataFrame, *, outcome: str, control: str, treatment: str, column: str, binary: bool,
    model_outputs: pd.DataFrame | None = None, random_terms: str = RANDOM_TERMS,
) -> InteractionResult:
    """Arm x `column` in the mixed model (see the module docstring); failures come back in `error`."""
    from analysis.glmm import fit_glmm, likelihood_ratio_test

    effect = "odds_ratio" if binary else "difference"
    frame = model_data(valid.dropna(subset=[outcome, column]), treatment)
    labels = frame[column].map(_label)
    levels = sorted(labels.unique(), key=_sort_key)
    empty = InteractionResult(column, effect, "", "", None, (), False)
    if len(levels) < 2:
        return replace_error(empty, f"column '{column}' has {len(levels)} level(s) among the readings; need 2 or more")
    names = {level: f"lv{i}" for i, level in enumerate(levels)}
    for level, name in names.items():
        inside = (labels == level).astype(float)
        frame[f"_{name}"] = inside
        frame[f"_arm_{name}"] = inside * frame["arm"]
    main = " + ".join(f"_{names[lv]}" for lv in levels[1:])
    per_level = " + ".join(f"_arm_{names[lv]}" for lv in levels)
    full_formula = f"{outcome} ~ {main} + {per_level} + {random_terms}"
    reduced_formula = f"{outcome} ~ {main} + arm + {random_terms}"
    family = "binomial" if binary else "gaussian"
    try:
        full = fit_glmm(frame, full_formula, family=family)
        reduced = fit_glmm(frame, reduced_formula, family=family)
        chi2, df, p = likelihood_ratio_test(full, reduced)
    except Exception as exc:  # noqa: BLE001 - the comparison stands without this part
        return replace_error(empty, f"{type(exc).__name__}: {exc}")
    rows = []
    for level in levels:
        fe = full.fixed(f"_arm_{names[level]}")
        rows.append((level, fe.estimate, fe.se, fe.p_value))
    adjusted = holm([r[3] for r in rows])
    ai = _ai_accuracy(valid, labels.reindex(valid.index), column, treatment)
    effects = []
    for (level, b, se, p_value), p_holm in zip(rows, adjusted, strict=True):
        transform = _exp if binary else (lambda x: x)
        in_level = labels == level
        effects.append(LevelEffect(
            level=level, n_readings=int(in_level.sum()), estimate=transform(b),
            ci_low=transform(b - Z_975 * se), ci_high=transform(b + Z_975 * se), log_estimate=b, se=se,
            p_value=p_value, p_value_holm=p_holm, ai_accuracy=ai.get(level, (None, 0))[0],
            n_cases=int(frame.loc[in_level, "case"].nunique()),
        ))
    display = f"{outcome} ~ arm * {column} + {random_terms}"
    return InteractionResult(
        column=column, effect=effect, formula=display, reduced_formula=f"{outcome} ~ arm + {column} + {random_terms}",
        lrt={"statistic": float(chi2), "df": int(df), "p_value": float(p)},
        levels=tuple(effects), converged=bool(full.converged and reduced.converged),
        warnings=tuple(dict.fromkeys((*full.warnings, *reduced.warnings))),
    )


def _sort_key(level: str):
    try:
        return (0, float(level), level)
    except ValueError:
        return (1, 0.0, level)


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def replace_error(result: InteractionResult, message: str) -> InteractionResult:
    return InteractionResult(result.column, result.effect, result.formula, result.reduced_formula, None, (), False,
                             (), message)


def _ai_accuracy(valid: pd.DataFrame, labels: pd.Series, column: str, treatment: str) -> dict[str, tuple[float, int]]:
    """The AI's standalone top-1 accuracy per level: treatment readings' ai_correct_top1, per case then over cases."""
    if "ai_correct_top1" not in valid.columns:
        return {}
    shown = valid.assign(_level=labels)
    shown = shown[(shown["arm"] == treatment)]
    shown = shown.assign(ai=pd.to_numeric(shown["ai_correct_top1"], errors="coerce")).dropna(subset=["ai", "_level"])
    if shown.empty:
        return {}
    per_case = shown.groupby(["_level", "case"])["ai"].mean().reset_index()
    return {
        str(level): (float(group["ai"].mean()), len(group)) for level, group in per_case.groupby("_level")
    }
