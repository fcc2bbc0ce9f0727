"""Several arms at once: `python -m analysis compare --arms CONTROL AI1 AI2 ...` (issue 14).

A study may randomise readers or blocks between k arms (unaided, top-3, similar cases, concepts).
Testing each AI arm against the control in k - 1 separate two-arm comparisons would fit k - 1
mixed models on different subsets and leave the multiplicity to the reader; here one model sees
all readings of the k arms:

    outcome ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)

(compare's recommended model and its fallback order, or `formula`), with arm a k-level factor
whose reference level is the first arm (R: `relevel(arm, ref = CONTROL)`, treatment contrasts).
Each AI arm j gets its coefficient (log odds ratio for a 0/1 outcome, difference in means
otherwise) with a Wald CI, the Wald z p-value and a likelihood-ratio p-value against the same
model with arm j pooled with the control in the fixed part (random terms unchanged: a test of
b_j = 0 alone); the omnibus LRT (df k - 1) drops arm. The k - 1 p-values (LRT by default, Wald
with p_method="wald" or where an LRT cannot be fitted) get Holm's step-down adjustment, which
holds the family-wise error rate without assumptions about their dependence.

Reader level: per arm the mean over readers of each reader's mean (t interval, logit-based for
proportions) over the readers who read that arm; per AI arm the paired comparison with the
control over the readers who read both (paired t, Wilcoxon; Holm over the AI arms on the paired
t p). In parallel-group designs no reader reads two arms and the paired part says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from analysis import classical
from analysis.classical import ArmSummary
from analysis.compare import ReaderLevel, reader_level
from analysis.interaction import holm
from analysis.multi_arm_glmm import P_METHODS, ArmsModel, fit_arms_model
from analysis.readings import InputError, as_label, is_binary, other_arms_note, prepare_many


@dataclass(frozen=True)
class ArmReaders:
    """One arm at reader level: the mean over readers of each reader's mean."""

    arm: str
    n_readers: int
    n_cases: int
    n_readings: int
    summary: ArmSummary
    per_reader: Mapping[str, float]

    def to_dict(self) -> dict:
        """Counts and the summary; the per-reader means go to tables/multi_arm_reader_means.csv."""
        return {"n_readers": self.n_readers, "n_cases": self.n_cases, "n_readings": self.n_readings,
                **self.summary.to_dict()}


@dataclass(frozen=True)
class PairedArm:
    """An AI arm against the control over the readers who read both; None where fewer than 2 did."""

    arm: str
    block: ReaderLevel | None
    p_value_holm: float | None
    note: str = ""

    def to_dict(self) -> dict:
        if self.block is None:
            return {"n_readers": 0, "note": self.note}
        return self.block.to_dict() | {"paired_t_p_value_holm": self.p_value_holm}


@dataclass(frozen=True)
class MultiArmResult:
    outcome: str
    control: str
    arms: tuple[str, ...]  # control first
    binary: bool
    n_readers: int
    n_cases: int
    n_readings: int
    per_arm: tuple[ArmReaders, ...]
    paired: tuple[PairedArm, ...]
    glmm: ArmsModel | None
    warnings: tuple[str, ...] = field(default=())
    wilcoxon_correction: bool = True

    @property
    def treatments(self) -> tuple[str, ...]:
        return self.arms[1:]

    def to_dict(self) -> dict:
        """results.json of `compare --arms`: compare's shared top-level keys plus `arms` and `multi_arm`."""
        return {
            "outcome": self.outcome,
            "control": self.control,
            "arms": list(self.arms),
            "n_readers": self.n_readers,
            "n_cases": self.n_cases,
            "n_readings": self.n_readings,
            "outcome_type": "binary" if self.binary else "continuous",
            "wilcoxon_correction": "on" if self.wilcoxon_correction else "off",
            "warnings": list(self.warnings),
            "multi_arm": {
                "control": self.control,
                "treatments": list(self.treatments),
                "per_arm": {a.arm: a.to_dict() for a in self.per_arm},
                "reader_level": {p.arm: p.to_dict() for p in self.paired},
                "glmm": self.glmm.to_dict() if self.glmm is not None else None,
                "primary_reading_level_analysis": "glmm",
                "p_adjust": "holm",
            },
        }


# --- the analysis --------------------------------------------------------------------------------


def compare_arms(
    readings: pd.DataFrame,
    *,
    outcome: str,
    arms: Sequence[str],
    glmm_formula: str | None = None,
    fit_glmm: bool = True,
    p_method: str = "lrt",
    reader_col: str = "reader",
    case_col: str = "case",
    arm_col: str = "arm",
    wilcoxon_correction: bool = True,
) -> MultiArmResult:
    """Each arm after the first against the first (the control), in one mixed model (module docstring)."""
    if p_method not in P_METHODS:
        raise InputError(f"p-value method must be one of {', '.join(P_METHODS)}, not {p_method!r}")
    if len(arms) < 2:
        raise InputError("--arms needs the control and at least one AI arm")
    data = prepare_many(readings, value_cols=[outcome], arms=arms, reader_col=reader_col, case_col=case_col,
                        arm_col=arm_col)
    arms = tuple(str(a) for a in pd.unique(pd.Series(list(arms)).map(as_label)))
    valid = data.dropna(subset=[outcome])
    missing = [arm for arm in arms if not (valid["arm"] == arm).any()]
    if missing:
        raise InputError(f"arm(s) {', '.join(missing)} have no values of '{outcome}'")
    binary = is_binary(valid[outcome])
    warnings = [note for note in (other_arms_note(readings, arm_col, arms),) if note]
    if len(valid) < len(data):
        warnings.append(f"{len(data) - len(valid)} reading(s) without a value of '{outcome}' left out")
    with classical.wilcoxon_correction(wilcoxon_correction):
        paired = paired_arms(valid, outcome, arms)
    model = None
    if fit_glmm:
        model = fit_arms_model(valid, outcome=outcome, arms=arms, formula=glmm_formula, binary=binary,
                               p_method=p_method)
    return MultiArmResult(
        outcome=outcome, control=arms[0], arms=arms, binary=binary,
        n_readers=int(valid["reader"].nunique()), n_cases=int(valid["case"].nunique()), n_readings=len(valid),
        per_arm=tuple(arm_readers(valid, outcome, arm, proportion=binary) for arm in arms),
        paired=paired, glmm=model, warnings=tuple(warnings), wilcoxon_correction=wilcoxon_correction,
    )


def arm_readers(valid: pd.DataFrame, outcome: str, arm: str, *, proportion: bool) -> ArmReaders:
    rows = valid[valid["arm"] == arm]
    means = rows.groupby("reader", sort=True)[outcome].mean()
    return ArmReaders(
        arm=arm, n_readers=len(means), n_cases=int(rows["case"].nunique()), n_readings=len(rows),
        summary=classical.arm_summary(means.to_numpy(float), proportion=proportion),
        per_reader={str(r): float(m) for r, m in means.items()},
    )


def paired_arms(valid: pd.DataFrame, outcome: str, arms: tuple[str, ...]) -> tuple[PairedArm, ...]:
    """Reader-level paired comparison of each AI arm with the control; Holm over the arms' paired t p."""
    control = arms[0]
    blocks: list[tuple[str, ReaderLevel | None]] = []
    for arm in arms[1:]:
        pair = valid[valid["arm"].isin([control, arm])]
        both = pair.groupby("reader")["arm"].nunique()
        blocks.append((arm, reader_level(pair, outcome, control, arm) if (both == 2).sum() >= 2 else None))
    adjusted = iter(holm([b.paired_t.p_value for _, b in blocks if b is not None]))
    out = []
    for arm, block in blocks:
        if block is None:
            out.append(PairedArm(arm, None, None, f"fewer than 2 readers read both '{control}' and '{arm}': "
                                 "no reader-level paired comparison (the mixed model still compares the arms)"))
        else:
            out.append(PairedArm(arm, block, next(adjusted)))
    return tuple(out)
