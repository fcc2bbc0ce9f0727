"""AI reliance and automation bias (`python -m analysis reliance`, DESIGN 5.2a `reliance`).

Pairs are (reader, case) with a control and a treatment reading. In a sequential design (control
read in phase 1, treatment in phase 2 right after the AI reveal) a pair is a decision and its
revision, and the switching measures apply: top-1 changed, wrong -> right, right -> wrong, net
benefit, switch table, under-reliance, RAIR / RSR (Schemmer et al. 2023), weight of advice and
the switching GLMM. In any other design (blocks, crossover, parallel) only the AI-conditional
parts apply: accuracy per arm when the AI is right vs wrong (automation bias), agreement with
the AI, over-reliance; the result says which parts were left out and why.

Where a control reading has no treatment partner (non-sequential designs), the AI's answer on
that case is the one most treatment readings of the case were shown (the genuine output where
an automation-bias arm showed a deliberately wrong suggestion on a minority of readings).

Inference accounts for readers and cases: every rate gets a two-way bootstrap percentile CI
(analysis.bootstrap: readers and cases resampled independently) and the switching model is a
logistic GLMM with crossed reader and case intercepts. Counts (changed, wrong_to_right, ...) are
pooled over pairs and labelled so. Repeat (attention) readings are left out.

Long module: pairing aided with unaided readings, the switching counts and their mixed model share
one pairs table and its exclusions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.bootstrap import DEFAULT_REPLICATES, Interval, TwoWayBootstrap, percentile_interval
from analysis.readings import InputError, numeric_column, other_arms_note, prepare_arms, split_differential

SWITCH_FORMULA = "switched ~ initial_confidence * ai_correct + (1|reader) + (1|case)"
AI_LEVELS = (("ai_right", 1.0), ("ai_wrong", 0.0))


@dataclass(frozen=True)
class SwitchCounts:
    """Pooled counts over pairs (no inference; see the bootstrap CIs for that)."""

    n_pairs: int
    changed: int
    wrong_to_right: int
    right_to_wrong: int

    @property
    def net_benefit(self) -> float:
        return (self.wrong_to_right - self.right_to_wrong) / self.n_pairs if self.n_pairs else math.nan

    def to_dict(self) -> dict:
        return {
            "n_pairs": self.n_pairs,
            "changed": self.changed,
            "wrong_to_right": self.wrong_to_right,
            "right_to_wrong": self.right_to_wrong,
            "net_benefit": self.net_benefit,
        }


@dataclass(frozen=True)
class ArmAccuracy:
    """Accuracy under control and treatment on readings where the AI was right (or wrong)."""

    n_control: int
    n_treatment: int
    control: Interval
    treatment: Interval
    difference: Interval

    def to_dict(self) -> dict:
        return {
            "n_control": self.n_control,
            "n_treatment": self.n_treatment,
            "control": self.control.estimate,
            "treatment": self.treatment.estimate,
            "difference": self.difference.estimate,
            "ci_low": self.difference.ci_low,
            "ci_high": self.difference.ci_high,
            "control_ci": [self.control.ci_low, self.control.ci_high],
            "treatment_ci": [self.treatment.ci_low, self.treatment.ci_high],
        }


@dataclass(frozen=True)
class WeightOfAdvice:
    n_pairs: int
    mean: float
    median: float
    mean_ci: Interval | None

    def to_dict(self) -> dict:
        ci = self.mean_ci
        return {
            "n_pairs": self.n_pairs,
            "mean": self.mean,
            "median": self.median,
            "ci_low": ci.ci_low if ci else None,
            "ci_high": ci.ci_high if ci else None,
        }


@dataclass(frozen=True)
class RelianceResult:
    outcome: str
    control: str
    treatment: str
    sequential: bool
    n_readers: int
    n_cases: int
    n_control_readings: int
    n_treatment_readings: int
    counts: SwitchCounts | None
    switch_table: tuple[dict, ...]
    accuracy_by_ai_correct: Mapping[str, ArmAccuracy]
    agreement_with_ai: Mapping[str, Interval]
    over_reliance: Interval | None
    under_reliance: Interval | None
    rair: Interval | None
    rsr: Interval | None
    rates: Mapping[str, Interval]
    weight_of_advice: WeightOfAdvice | None
    switch_by_confidence: Mapping | None
    per_reader: tuple[dict, ...]
    by: Mapping[str, Mapping[str, SwitchCounts]]
    transitions: Mapping[str, Mapping[str, int]]  # reader group ("all" first) -> rr, wr, rw, ww
    replicates: int
    seed: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        def value(interval: Interval | None) -> float | None:
            return interval.estimate if interval is not None else None

        counts = self.counts.to_dict() if self.counts else dict.fromkeys(
            ("n_pairs", "changed", "wrong_to_right", "right_to_wrong", "net_benefit")
        )
        ci = {name: interval.to_dict() for name, interval in self.rates.items()}
        for name in ("over_reliance", "under_reliance", "rair", "rsr"):
            interval = getattr(self, name)
            if interval is not None:
                ci[name] = interval.to_dict()
        for name, interval in self.agreement_with_ai.items():
            ci[f"agreement_with_ai_{name}"] = interval.to_dict()
        return {
            "outcome": self.outcome,
            "control": self.control,
            "treatment": self.treatment,
            "design": "sequential" if self.sequential else "not sequential",
            "n_readers": self.n_readers,
            "n_cases": self.n_cases,
            "n_control_readings": self.n_control_readings,
            "n_treatment_readings": self.n_treatment_readings,
            **counts,
            "counts_are": "pooled over (reader, case) pairs; see ci for reader x case bootstrap intervals",
            "switch_table": [dict(row) for row in self.switch_table],
            "accuracy_by_ai_correct": {k: v.to_dict() for k, v in self.accuracy_by_ai_correct.items()},
            "agreement_with_ai": {k: value(v) for k, v in self.agreement_with_ai.items()},
            "over_reliance": value(self.over_reliance),
            "under_reliance": value(self.under_reliance),
            "rair": value(self.rair),
            "rsr": value(self.rsr),
            "weight_of_advice": self.weight_of_advice.to_dict() if self.weight_of_advice else None,
            "switch_by_confidence": dict(self.switch_by_confidence) if self.switch_by_confidence else None,
            "per_reader": [dict(row) for row in self.per_reader],
            "by": {col: {lvl: c.to_dict() for lvl, c in levels.items()} for col, levels in self.by.items()},
            "transitions": {g: dict(t) for g, t in self.transitions.items()},
            "ci": ci,
            "bootstrap": {"replicates": self.replicates, "seed": self.seed, "over": "readers and cases"},
            "notes": list(self.notes),
        }


# --- the analysis --------------------------------------------------------------------------------


def reliance(
    readings: pd.DataFrame,
    *,
    control: str,
    treatment: str,
    outcome: str = "correct_top1",
    by: Sequence[str] = (),
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    fit_model: bool = True,
    reader_col: str = "reader",
    case_col: str = "case",
    arm_col: str = "arm",
) -> RelianceResult:
    """Reliance on the AI of `treatment` readers, against `control` (see the module docstring)."""
    data, control, treatment = prepare_arms(
        readings, outcome=outcome, control=control, treatment=treatment, also=by,
        reader_col=reader_col, case_col=case_col, arm_col=arm_col,
    )
    if "ai_correct_top1" not in data.columns:
        raise InputError("missing column(s) in readings: ai_correct_top1 (whether the AI's top-1 was right)")
    notes = [note for note in (other_arms_note(readings, arm_col, (control, treatment)),) if note]
    data = _measured(data, notes)
    data = data.dropna(subset=[outcome])
    for column in ("ai_correct_top1", "confidence", "malignancy_score", "ai_malignancy_score", "phase"):
        if column in data.columns:
            data[column] = numeric_column(data, column)
    data["top1"] = data["differential"].map(_top1) if "differential" in data.columns else None
    data["ai_top1"] = data["ai_top1"].map(_code) if "ai_top1" in data.columns else None
    if "differential" not in data.columns:
        notes.append("no 'differential' column: top-1 changes and agreement with the AI are left out")

    ctrl = data[data["arm"] == control].drop_duplicates(["reader", "case"])
    trt = data[data["arm"] == treatment].drop_duplicates(["reader", "case"])
    if ctrl.empty or trt.empty:
        raise InputError(f"arms '{control}' and '{treatment}' both need readings with a value of '{outcome}'")
    readers = sorted(set(ctrl["reader"]) | set(trt["reader"]))
    cases = sorted(set(ctrl["case"]) | set(trt["case"]))
    boot = TwoWayBootstrap(len(readers), len(cases), replicates=replicates, seed=seed)
    ix = _Index(readers, cases, boot)

    ctrl = _with_case_ai(ctrl, trt)
    pairs = ctrl.merge(trt, on=["reader", "case"], suffixes=("_c", "_t"))
    sequential = _is_sequential(pairs)
    if not sequential:
        notes.append(
            "design is not sequential (no phase-1 control / phase-2 treatment pairs): switching "
            "measures (changed, wrong_to_right, right_to_wrong, net_benefit, switch_table, "
            "under_reliance, rair, rsr, weight_of_advice, switch_by_confidence) are left out; "
            "the AI-conditional accuracy, agreement with the AI and over-reliance apply"
        )
        pairs = pairs.iloc[0:0]
    else:
        unpaired = ctrl[~ctrl["reader"].isin(set(trt["reader"]))]
        if len(unpaired):
            notes.append(
                f"{len(unpaired)} control reading(s) of {unpaired['reader'].nunique()} reader(s) with no "
                f"'{treatment}' reading (in a k-arm study: readers of another AI arm) count in the control "
                "arm's AI-conditional accuracy, not in the switching pairs"
            )

    accuracy = {
        name: _arm_accuracy(ix, ctrl, trt, outcome, level) for name, level in AI_LEVELS
    }
    agreement = _agreement(ix, ctrl, trt, pairs, sequential)
    over = _over_reliance(ix, trt)
    counts = _counts(pairs, outcome) if sequential else None
    rates, under, rair, rsr = {}, None, None, None
    if sequential and len(pairs):
        rates = _rates(ix, pairs, outcome)
        under, rair, rsr = _reliance_rates(ix, pairs, outcome)
    return RelianceResult(
        outcome=outcome,
        control=control,
        treatment=treatment,
        sequential=sequential,
        n_readers=len(readers),
        n_cases=len(cases),
        n_control_readings=len(ctrl),
        n_treatment_readings=len(trt),
        counts=counts,
        switch_table=_switch_table(pairs, outcome) if sequential else (),
        accuracy_by_ai_correct=accuracy,
        agreement_with_ai=agreement,
        over_reliance=over,
        under_reliance=under,
        rair=rair,
        rsr=rsr,
        rates=rates,
        weight_of_advice=_weight_of_advice(ix, pairs, notes) if sequential else None,
        switch_by_confidence=_switch_model(pairs, notes) if sequential and fit_model else None,
        per_reader=_per_reader(pairs, trt, outcome) if sequential else (),
        by={col: _by_level(pairs, col, outcome) for col in by} if sequential else {},
        transitions=_transitions(pairs, outcome) if sequential else {},
        replicates=replicates,
        seed=seed,
        notes=tuple(notes),
    )


def _measured(data: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Without repeat (attention) readings: each (reader, case, arm) counts once."""
    if "repeat" not in data.columns:
        return data.copy()
    repeat = pd.to_numeric(data["repeat"], errors="coerce").fillna(0) == 1
    if repeat.any():
        notes.append(f"{int(repeat.sum())} repeat (attention) reading(s) left out")
    return data[~repeat].copy()


def _code(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _top1(differential: object) -> str | None:
    codes = split_differential(differential)
    return codes[0] if codes else None


def _with_case_ai(ctrl: pd.DataFrame, trt: pd.DataFrame) -> pd.DataFrame:
    """Control readings with the AI's answer on the case (`case_ai_correct`, `case_ai_top1`).

    The answer the same reader was shown on the case in the treatment arm where there is one
    (a faulty suggestion included), else the one most treatment readings of the case were shown.
    """
    shown = trt.dropna(subset=["ai_correct_top1"])
    correct = shown.groupby("case")["ai_correct_top1"].agg(lambda s: float(s.mean() >= 0.5))
    top = shown.dropna(subset=["ai_top1"]).groupby("case")["ai_top1"].agg(lambda s: s.mode().iloc[0])
    partner = trt.set_index(["reader", "case"])
    key = pd.MultiIndex.from_frame(ctrl[["reader", "case"]])
    own_correct = partner["ai_correct_top1"].reindex(key).to_numpy()
    own_top = partner["ai_top1"].reindex(key).to_numpy()
    case_correct = ctrl["case"].map(correct).to_numpy()
    case_top = ctrl["case"].map(top).to_numpy()
    return ctrl.assign(
        case_ai_correct=np.where(pd.isna(own_correct), case_correct, own_correct).astype(float),
        case_ai_top1=np.where(pd.isna(own_top), case_top, own_top),
    )


def _is_sequential(pairs: pd.DataFrame) -> bool:
    if pairs.empty or "phase_c" not in pairs.columns:
        return False
    return bool(((pairs["phase_c"] == 1) & (pairs["phase_t"] == 2)).all())


class _Index:
    def __init__(self, readers: list[str], cases: list[str], boot: TwoWayBootstrap) -> None:
        self.reader = {r: i for i, r in enumerate(readers)}
        self.case = {c: i for i, c in enumerate(cases)}
        self.boot = boot

    def ratio(self, frame: pd.DataFrame, num: np.ndarray, den: np.ndarray) -> tuple[float, np.ndarray]:
        r = frame["reader"].map(self.reader).to_numpy(int)
        c = frame["case"].map(self.case).to_numpy(int)
        return self.boot.ratio(r, c, np.asarray(num, float), np.asarray(den, float))

    def interval(self, frame: pd.DataFrame, num: np.ndarray, den: np.ndarray) -> Interval:
        return percentile_interval(*self.ratio(frame, num, den))


def _arm_accuracy(ix: _Index, ctrl: pd.DataFrame, trt: pd.DataFrame, outcome: str, level: float) -> ArmAccuracy:
    c_in = (ctrl["case_ai_correct"] == level).to_numpy(float)
    t_in = (trt["ai_correct_top1"] == level).to_numpy(float)
    c_est, c_boot = ix.ratio(ctrl, ctrl[outcome].to_numpy(float) * c_in, c_in)
    t_est, t_boot = ix.ratio(trt, trt[outcome].to_numpy(float) * t_in, t_in)
    return ArmAccuracy(
        n_control=int(c_in.sum()),
        n_treatment=int(t_in.sum()),
        control=percentile_interval(c_est, c_boot),
        treatment=percentile_interval(t_est, t_boot),
        difference=percentile_interval(t_est - c_est, t_boot - c_boot),
    )


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    return (a.notna() & b.notna() & (a == b)).to_numpy(float)


def _agreement(
    ix: _Index, ctrl: pd.DataFrame, trt: pd.DataFrame, pairs: pd.DataFrame, sequential: bool
) -> dict[str, Interval]:
    """P(top-1 = AI top-1): control readings (initial) and treatment readings (final)."""
    if ctrl["top1"].isna().all() or trt["ai_top1"].isna().all():
        return {}
    if sequential:
        initial_frame, ai = pairs, pairs["ai_top1_t"]
        initial = pairs["top1_c"]
    else:
        initial_frame, ai, initial = ctrl, ctrl["case_ai_top1"], ctrl["top1"]
    has_ai = (ai.notna() & initial.notna()).to_numpy(float)
    final_has = (trt["ai_top1"].notna() & trt["top1"].notna()).to_numpy(float)
    return {
        "initial": ix.interval(initial_frame, _same(initial, ai), has_ai),
        "final": ix.interval(trt, _same(trt["top1"], trt["ai_top1"]), final_has),
    }


def _over_reliance(ix: _Index, trt: pd.DataFrame) -> Interval | None:
    """P(final top-1 = AI top-1 | AI wrong), over treatment readings."""
    if trt["top1"].isna().all():
        return None
    wrong = ((trt["ai_correct_top1"] == 0) & trt["ai_top1"].notna()).to_numpy(float)
    return ix.interval(trt, _same(trt["top1"], trt["ai_top1"]) * wrong, wrong)


def _counts(pairs: pd.DataFrame, outcome: str) -> SwitchCounts:
    initial, final = pairs[f"{outcome}_c"], pairs[f"{outcome}_t"]
    return SwitchCounts(
        n_pairs=len(pairs),
        changed=int(_changed(pairs).sum()),
        wrong_to_right=int(((initial == 0) & (final == 1)).sum()),
        right_to_wrong=int(((initial == 1) & (final == 0)).sum()),
    )


def _changed(pairs: pd.DataFrame) -> np.ndarray:
    a, b = pairs["top1_c"], pairs["top1_t"]
    return (a.notna() & b.notna() & (a != b)).to_numpy(float)


def _rates(ix: _Index, pairs: pd.DataFrame, outcome: str) -> dict[str, Interval]:
    initial, final = pairs[f"{outcome}_c"].to_numpy(float), pairs[f"{outcome}_t"].to_numpy(float)
    ones = np.ones(len(pairs))
    w2r = (initial == 0) & (final == 1)
    r2w = (initial == 1) & (final == 0)
    out = {
        "wrong_to_right": ix.interval(pairs, w2r, ones),
        "right_to_wrong": ix.interval(pairs, r2w, ones),
        "net_benefit": ix.interval(pairs, w2r.astype(float) - r2w, ones),
        "accuracy_initial": ix.interval(pairs, initial, ones),
        "accuracy_final": ix.interval(pairs, final, ones),
    }
    if pairs["top1_c"].notna().any():
        out["changed"] = ix.interval(pairs, _changed(pairs), ones)
    return out


def _reliance_rates(
    ix: _Index, pairs: pd.DataFrame, outcome: str
) -> tuple[Interval | None, Interval | None, Interval | None]:
    """under-reliance, RAIR and RSR over sequential pairs (need top-1 codes and the AI's top-1)."""
    if pairs["top1_c"].isna().all() or pairs["ai_top1_t"].isna().all():
        return None, None, None
    initial = pairs[f"{outcome}_c"].to_numpy(float)
    ai = pairs["ai_correct_top1_t"].to_numpy(float)
    follows = _same(pairs["top1_t"], pairs["ai_top1_t"])
    kept = _same(pairs["top1_t"], pairs["top1_c"])
    helpable = ((initial == 0) & (ai == 1)).astype(float) * pairs["ai_top1_t"].notna().to_numpy(float)
    misleadable = ((initial == 1) & (ai == 0)).astype(float) * pairs["top1_c"].notna().to_numpy(float)
    under = ix.interval(pairs, (1 - follows) * helpable, helpable)
    rair = ix.interval(pairs, follows * helpable, helpable)
    rsr = ix.interval(pairs, kept * misleadable, misleadable)
    return under, rair, rsr


def _switch_table(pairs: pd.DataFrame, outcome: str) -> tuple[dict, ...]:
    """Counts of initial correct x AI correct x final correct (all 8 cells, zeros included)."""
    known = pairs.dropna(subset=["ai_correct_top1_t"])
    rows = []
    for initial in (0, 1):
        for ai in (0, 1):
            for final in (0, 1):
                n = int(
                    (
                        (known[f"{outcome}_c"] == initial)
                        & (known["ai_correct_top1_t"] == ai)
                        & (known[f"{outcome}_t"] == final)
                    ).sum()
                )
                rows.append({"initial_correct": initial, "ai_correct": ai, "final_correct": final, "n": n})
    return tuple(rows)


def _weight_of_advice(ix: _Index, pairs: pd.DataFrame, notes: list[str]) -> WeightOfAdvice | None:
    """(final - initial) / (AI - initial) of the malignancy score, over pairs where AI != initial."""
    needed = {"malignancy_score_c", "malignancy_score_t", "ai_malignancy_score_t"}
    if not needed <= set(pairs.columns):
        notes.append("weight of advice needs malignancy_score and ai_malignancy_score: left out")
        return None
    initial, final = pairs["malignancy_score_c"], pairs["malignancy_score_t"]
    ai = pairs["ai_malignancy_score_t"]
    usable = initial.notna() & final.notna() & ai.notna() & (ai != initial)
    if not usable.any():
        notes.append("weight of advice: no pair with both scores and an AI score different from the initial one")
        return None
    woa = ((final - initial) / (ai - initial)).where(usable)
    values = woa[usable].to_numpy(float)
    interval = ix.interval(pairs, woa.fillna(0).to_numpy(float), usable.to_numpy(float))
    return WeightOfAdvice(int(usable.sum()), float(values.mean()), float(np.median(values)), interval)


def switch_model_frame(pairs: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "reader": pairs["reader"],
            "case": pairs["case"],
            "switched": _changed(pairs),
            "initial_confidence": pairs.get("confidence_c"),
            "ai_correct": pairs["ai_correct_top1_t"],
        }
    )
    return frame.dropna()


def _switch_model(pairs: pd.DataFrame, notes: list[str]) -> dict | None:
    """Logistic GLMM of switching on initial confidence, AI correctness and their interaction."""
    if "confidence_c" not in pairs.columns or pairs["top1_c"].isna().all():
        notes.append("switch_by_confidence needs confidence and differential: left out")
        return None
    frame = switch_model_frame(pairs)
    base = {"formula": SWITCH_FORMULA, "n_obs": len(frame)}
    if frame.empty or frame["switched"].nunique() < 2:
        return {**base, "converged": False, "error": "switching does not vary: no model to fit"}
    try:
        from analysis.glmm import fit_glmm

        fit = fit_glmm(frame, SWITCH_FORMULA, family="binomial")
    except Exception as exc:  # noqa: BLE001 - a failed fit is reported, the rest of the analysis stands
        return {**base, "converged": False, "error": f"{type(exc).__name__}: {exc}"}
    rows = []
    for fe in fit.fixed_effects:
        half = 1.959964 * fe.se
        rows.append(
            {
                "term": fe.term,
                "estimate": fe.estimate,
                "se": fe.se,
                "z": fe.z,
                "p_value": fe.p_value,
                "odds_ratio": _exp(fe.estimate),
                "or_ci_low": _exp(fe.estimate - half),
                "or_ci_high": _exp(fe.estimate + half),
            }
        )
    return {
        **base,
        "method": fit.method,
        "converged": bool(fit.converged),
        "log_likelihood": fit.log_likelihood,
        "fixed_effects": rows,
        "random_effects": [{"group": r.group, "variance": r.variance} for r in fit.random_effects],
        "warnings": list(fit.warnings),
        "error": None,
    }


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def _per_reader(pairs: pd.DataFrame, trt: pd.DataFrame, outcome: str) -> tuple[dict, ...]:
    rows = []
    groups = (
        trt.drop_duplicates("reader").set_index("reader")["reader_group"] if "reader_group" in trt.columns else None
    )
    for reader, subset in pairs.groupby("reader", sort=True):
        counts = _counts(subset, outcome)
        rows.append(
            {
                "reader": str(reader),
                "reader_group": None if groups is None else _label(groups.get(reader)),
                **counts.to_dict(),
            }
        )
    return tuple(rows)


def _by_level(pairs: pd.DataFrame, column: str, outcome: str) -> dict[str, SwitchCounts]:
    source = f"{column}_t" if f"{column}_t" in pairs.columns else column
    return {
        _label(level): _counts(subset, outcome)
        for level, subset in pairs.groupby(source, sort=True, dropna=True)
    }


def _transitions(pairs: pd.DataFrame, outcome: str) -> dict[str, dict[str, int]]:
    """right/wrong before -> after, for all pairs and per reader group (the switching figure)."""

    def cells(frame: pd.DataFrame) -> dict[str, int]:
        i, f = frame[f"{outcome}_c"], frame[f"{outcome}_t"]
        return {
            "right_to_right": int(((i == 1) & (f == 1)).sum()),
            "wrong_to_right": int(((i == 0) & (f == 1)).sum()),
            "right_to_wrong": int(((i == 1) & (f == 0)).sum()),
            "wrong_to_wrong": int(((i == 0) & (f == 0)).sum()),
        }

    out = {"all": cells(pairs)}
    if "reader_group_t" in pairs.columns:
        for group, subset in pairs.groupby("reader_group_t", sort=True, dropna=True):
            out[_label(group)] = cells(subset)
    return out


def _label(level: object) -> str | None:
    if level is None or (isinstance(level, float) and math.isnan(level)):
        return None
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    return str(level)
