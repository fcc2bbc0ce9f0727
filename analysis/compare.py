"""Compare two arms of a reader study on one outcome (DESIGN 5.2, `python -m analysis compare`).

Reader level: each reader's mean outcome per arm; paired t and Wilcoxon over readers.
Reading level: McNemar over (reader, case) pairs read in both arms (cited by studies, but it
ignores clustering) and the mixed model, the primary reading-level analysis.

Long module: the comparison's levels (reader, paired readings, mixed model, subgroups, secondary
outcomes) share one prepared table and its warnings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis import classical
from analysis.classical import ArmSummary, DifferenceSummary, McNemar, PairedT, Wilcoxon
from analysis.mixed import MixedModelSummary, fit_mixed_model
from analysis.model_benchmark import ModelBenchmark, model_benchmark
from analysis.mrmc import MrmcResult, mrmc
from analysis.readings import InputError, is_binary, other_arms_note, prepare_arms

SECONDARY_OUTCOMES = ("management_appropriate", "management_harmful", "duration_s")
ROC_SCORE, ROC_TRUTH, ROC_THRESHOLD = "malignancy_score", "truth_malignant", 50.0


@dataclass(frozen=True)
class ReaderMean:
    reader: str
    control: float
    treatment: float

    @property
    def difference(self) -> float:
        return self.treatment - self.control


@dataclass(frozen=True)
class ReaderLevel:
    """Reader-level comparison over the readers with readings in both arms."""

    n_readers: int
    control: ArmSummary
    treatment: ArmSummary
    difference: DifferenceSummary
    paired_t: PairedT
    wilcoxon: Wilcoxon
    readers: tuple[ReaderMean, ...]
    p_value_bonferroni: float | None = None

    def to_dict(self) -> dict:
        out = {
            "n_readers": self.n_readers,
            "control": self.control.to_dict(),
            "treatment": self.treatment.to_dict(),
            "difference": self.difference.to_dict(),
            "paired_t": self.paired_t.to_dict(),
            "wilcoxon": self.wilcoxon.to_dict(),
        }
        if self.p_value_bonferroni is not None:
            out["p_value_bonferroni"] = self.p_value_bonferroni
        return out


@dataclass(frozen=True)
class PairedReadings:
    """Same reader and case in both arms; McNemar only for a 0/1 outcome."""

    n_pairs: int
    control_rate: float
    treatment_rate: float
    mcnemar: McNemar | None

    def to_dict(self) -> dict:
        return {
            "n_pairs": self.n_pairs,
            "control_rate": self.control_rate,
            "treatment_rate": self.treatment_rate,
            "mcnemar": self.mcnemar.to_dict() if self.mcnemar else None,
        }


@dataclass(frozen=True)
class CompareResult:
    outcome: str
    control: str
    treatment: str
    binary: bool
    n_readers: int
    n_cases: int
    n_readings: int
    reader_level: ReaderLevel
    paired_readings: PairedReadings
    glmm: MixedModelSummary | None
    by: Mapping[str, Mapping[str, ReaderLevel]]
    by_case: Mapping[str, Mapping[str, ReaderLevel]]
    min_readers: int
    secondary: Mapping[str, ReaderLevel] = field(default_factory=dict)
    reader_groups: Mapping[str, str] = field(default_factory=dict)
    roc: MrmcResult | None = None
    warnings: tuple[str, ...] = ()
    model: ModelBenchmark | None = None
    # DESIGN 5.2a: --family ordinal, --interaction COL, --wilcoxon-correction on|off
    clmm: object | None = None  # analysis.ordinal.ClmmSummary
    interaction: object | None = None  # analysis.interaction.InteractionResult
    wilcoxon_correction: bool = True

    def to_dict(self) -> dict:
        extensions = {"wilcoxon_correction": "on" if self.wilcoxon_correction else "off"}
        if self.clmm is not None:
            extensions["clmm"] = self.clmm.to_dict()
        if self.interaction is not None:
            extensions["interaction"] = self.interaction.to_dict()
        return {
            **extensions,
            "outcome": self.outcome,
            "control": self.control,
            "treatment": self.treatment,
            "n_readers": self.n_readers,
            "n_cases": self.n_cases,
            "n_readings": self.n_readings,
            "reader_level": self.reader_level.to_dict(),
            "paired_readings": self.paired_readings.to_dict(),
            "glmm": self.glmm.to_dict() if self.glmm else None,
            "by": _blocks(self.by),
            "by_case": _blocks(self.by_case),
            "primary_reading_level_analysis": "glmm",
            "outcome_type": "binary" if self.binary else "continuous",
            "min_readers": self.min_readers,
            "secondary": {k: v.to_dict() for k, v in self.secondary.items()},
            "roc": _roc_summary(self.roc),
            "warnings": list(self.warnings),
            "model": self.model.to_dict() if self.model is not None else None,
        }


def _blocks(groups: Mapping[str, Mapping[str, ReaderLevel]]) -> dict:
    return {
        col: {level: block.to_dict() for level, block in levels.items()} for col, levels in groups.items()
    }


def _roc_summary(result: MrmcResult | None) -> dict | None:
    if result is None:
        return None
    return {
        "score": result.score,
        "truth": result.truth,
        "threshold": result.threshold,
        "auc": result.auc.by_arm(),
        "rrrc": result.auc.rrrc.to_dict(),
    }


# --- the analysis ------------------------------------------------------------------------------


def compare(
    readings: pd.DataFrame,
    *,
    outcome: str,
    control: str,
    treatment: str,
    by: Sequence[str] = (),
    by_case: Sequence[str] = (),
    min_readers: int = 10,
    glmm_formula: str | None = None,
    fit_glmm: bool = True,
    glmm_ci: str = "wald",
    reader_col: str = "reader",
    case_col: str = "case",
    arm_col: str = "arm",
    model_outputs: pd.DataFrame | None = None,
    family: str | None = None,
    interaction: str | None = None,
    wilcoxon_correction: bool = True,
) -> CompareResult:
    """Compare `treatment` with `control` on `outcome` (any numeric column).

    With `model_outputs` (see analysis.model_benchmark), the model's standalone performance on the
    same cases is set beside the readers of both arms. `family="ordinal"` adds the cumulative-link
    mixed model (analysis.ordinal), `interaction=COL` the arm x COL mixed model
    (analysis.interaction); `wilcoxon_correction=False` drops the continuity correction of the
    Wilcoxon normal approximation (scipy's default, as published Python pipelines ran it).
    """
    if not wilcoxon_correction:
        with classical.wilcoxon_correction(False):
            result = compare(
                readings, outcome=outcome, control=control, treatment=treatment, by=by, by_case=by_case,
                min_readers=min_readers, glmm_formula=glmm_formula, fit_glmm=fit_glmm, reader_col=reader_col,
                case_col=case_col, arm_col=arm_col, model_outputs=model_outputs, family=family,
                interaction=interaction, glmm_ci=glmm_ci,
            )
        return replace(result, wilcoxon_correction=False)
    if family not in (None, "binomial", "gaussian", "ordinal"):
        raise InputError(f"--family must be binomial, gaussian or ordinal, not {family!r}")
    if interaction is not None and interaction not in readings.columns:
        raise InputError(f"missing column(s) in readings: {interaction}")
    data, control, treatment = prepare_arms(
        readings, outcome=outcome, control=control, treatment=treatment, also=(*by, *by_case),
        reader_col=reader_col, case_col=case_col, arm_col=arm_col,
    )
    valid = data.dropna(subset=[outcome])
    if valid.empty:
        raise InputError(f"column '{outcome}' has no values in arms '{control}' and '{treatment}'")
    binary = is_binary(valid[outcome])
    glmm = None
    if fit_glmm:
        glmm = fit_mixed_model(
            valid, outcome=outcome, control=control, treatment=treatment, formula=glmm_formula, binary=binary,
            ci=glmm_ci,
        )
    result = CompareResult(
        outcome=outcome,
        control=control,
        treatment=treatment,
        binary=binary,
        n_readers=int(valid["reader"].nunique()),
        n_cases=int(valid["case"].nunique()),
        n_readings=len(valid),
        reader_level=reader_level(valid, outcome, control, treatment),
        paired_readings=paired_readings(valid, outcome, control, treatment, binary),
        glmm=glmm,
        by={col: subgroups(valid, col, outcome, control, treatment) for col in by},
        by_case={
            col: subgroups(valid, col, outcome, control, treatment, min_readers=min_readers)
            for col in by_case
        },
        min_readers=min_readers,
        secondary=secondary_outcomes(data, control, treatment, exclude=outcome),
        reader_groups=_reader_groups(data),
        roc=_roc(data, control, treatment),
        warnings=(*_notes(other_arms_note(readings, arm_col, (control, treatment))),
                  *_warnings(data, valid, outcome)),
        model=_model(data, model_outputs, control, treatment),
    )
    return _extensions(result, valid, family=family, interaction=interaction, formula=glmm_formula,
                       model_outputs=model_outputs)


def _extensions(result: CompareResult, valid: pd.DataFrame, *, family, interaction, formula, model_outputs):
    """The ordinal CLMM and the arm x COL interaction model, when asked for (DESIGN 5.2a)."""
    clmm = interaction_result = None
    if family == "ordinal":
        from analysis.ordinal import clmm_analysis

        clmm = clmm_analysis(valid, outcome=result.outcome, control=result.control, treatment=result.treatment,
                             formula=formula)
    if interaction is not None:
        from analysis.interaction import interaction_analysis

        interaction_result = interaction_analysis(
            valid, outcome=result.outcome, control=result.control, treatment=result.treatment, column=interaction,
            binary=result.binary, model_outputs=model_outputs,
        )
    if clmm is None and interaction_result is None:
        return result
    return replace(result, clmm=clmm, interaction=interaction_result)


def reader_level(data: pd.DataFrame, outcome: str, control: str, treatment: str) -> ReaderLevel:
    means = classical.reader_means(data, outcome, control, treatment)
    c = means["control"].to_numpy(float)
    t = means["treatment"].to_numpy(float)
    proportion = is_binary(data[outcome])  # per-reader proportions: logit interval inside [0, 1]
    return ReaderLevel(
        n_readers=len(means),
        control=classical.arm_summary(c, proportion=proportion),
        treatment=classical.arm_summary(t, proportion=proportion),
        difference=classical.difference_summary(t - c),
        paired_t=classical.paired_t(c, t),
        wilcoxon=classical.wilcoxon_signed_rank(c, t),
        readers=tuple(
            ReaderMean(str(r), float(a), float(b))
            for r, a, b in means[["reader", "control", "treatment"]].itertuples(index=False)
        ),
    )


def paired_readings(
    data: pd.DataFrame, outcome: str, control: str, treatment: str, binary: bool
) -> PairedReadings:
    pairs = classical.paired_readings(data, outcome, control, treatment)
    c = pairs["control"].to_numpy(float)
    t = pairs["treatment"].to_numpy(float)
    return PairedReadings(
        n_pairs=len(pairs),
        control_rate=float(c.mean()) if len(c) else math.nan,
        treatment_rate=float(t.mean()) if len(t) else math.nan,
        mcnemar=classical.mcnemar(c, t) if binary and len(pairs) else None,
    )


def subgroups(
    data: pd.DataFrame,
    column: str,
    outcome: str,
    control: str,
    treatment: str,
    *,
    min_readers: int | None = None,
) -> dict[str, ReaderLevel]:
    """Reader-level block per level of `column`.

    With `min_readers`, only levels with at least that many readers in both arms are tested, and
    each gets a Bonferroni-adjusted paired-t p-value over the levels tested (capped at 1).
    """
    blocks = {}
    for level, subset in data.groupby(column, sort=True, dropna=True):
        block = reader_level(subset, outcome, control, treatment)
        if min_readers is None or block.n_readers >= min_readers:
            blocks[_label(level)] = block
    if min_readers is None:
        return blocks
    tested = len(blocks)
    return {level: _with_bonferroni(block, tested) for level, block in blocks.items()}


def _with_bonferroni(block: ReaderLevel, tested: int) -> ReaderLevel:
    p = block.paired_t.p_value
    adjusted = min(1.0, p * tested) if np.isfinite(p) else math.nan
    return ReaderLevel(
        block.n_readers,
        block.control,
        block.treatment,
        block.difference,
        block.paired_t,
        block.wilcoxon,
        block.readers,
        adjusted,
    )


def _label(level: object) -> str:
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    return str(level)


def secondary_outcomes(
    data: pd.DataFrame, control: str, treatment: str, *, exclude: str
) -> dict[str, ReaderLevel]:
    """Management appropriateness, harm and time per case, where the columns are present."""
    out = {}
    for column in SECONDARY_OUTCOMES:
        if column == exclude or column not in data.columns:
            continue
        values = pd.to_numeric(data[column], errors="coerce")
        if values.notna().sum() == 0:
            continue
        frame = data.assign(**{column: values.astype(float)})
        block = reader_level(frame.dropna(subset=[column]), column, control, treatment)
        if block.n_readers:
            out[column] = block
    return out


def _reader_groups(data: pd.DataFrame) -> dict[str, str]:
    if "reader_group" not in data.columns:
        return {}
    groups = data.dropna(subset=["reader_group"]).drop_duplicates("reader")
    return {str(r): str(g) for r, g in zip(groups["reader"], groups["reader_group"], strict=True)}


def _roc(data: pd.DataFrame, control: str, treatment: str) -> MrmcResult | None:
    """AUC of the malignancy score for malignancy, when both columns are present and usable."""
    if ROC_SCORE not in data.columns or ROC_TRUTH not in data.columns:
        return None
    frame = data.assign(**{c: pd.to_numeric(data[c], errors="coerce") for c in (ROC_SCORE, ROC_TRUTH)})
    frame = frame.dropna(subset=[ROC_SCORE, ROC_TRUTH])
    if frame.empty or frame[ROC_TRUTH].nunique() < 2:
        return None  # no scores, or no truth, or only one class: no ROC to draw
    try:
        return mrmc(
            frame,
            score=ROC_SCORE,
            truth=ROC_TRUTH,
            control=control,
            treatment=treatment,
            threshold=ROC_THRESHOLD,
        )
    except (InputError, ValueError, ZeroDivisionError):
        return None


def _model(
    data: pd.DataFrame, model_outputs: pd.DataFrame | None, control: str, treatment: str
) -> ModelBenchmark | None:
    if model_outputs is None:
        return None
    return model_benchmark(
        data,
        model_outputs,
        arms=(control, treatment),
        arm_roles={control: "control", treatment: "treatment"},
    )


def _notes(*notes: str | None) -> tuple[str, ...]:
    return tuple(note for note in notes if note)


def _warnings(data: pd.DataFrame, valid: pd.DataFrame, outcome: str) -> tuple[str, ...]:
    warnings = []
    missing = len(data) - len(valid)
    if missing:
        warnings.append(f"{missing} reading(s) without a value of '{outcome}' left out")
    one_arm = valid.groupby("reader")["arm"].nunique()
    for reader in one_arm.index[one_arm < 2]:
        warnings.append(
            f"reader {reader} has readings in one arm only: left out of the reader-level analysis"
        )
    return tuple(warnings)
