"""Synthetic reader studies: readings tables with the columns of DESIGN 5.1.

The outcome follows the primary model of DESIGN 5.2 on the logit scale,
    correct ~ b0 + b1 arm + reader + case + reader:arm + case:arm,
with the intercepts chosen so that the *marginal* (population-averaged) accuracy of each arm
is the one asked for. Everything else (differential, management, malignancy score, timing) is
derived from the outcome plausibly enough for demos, reports and tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from analysis.readings import READINGS_COLUMNS
from analysis.spec import DESIGNS, StudySpec

__all__ = ["DESIGNS", "StudySpec", "schedule", "simulate_outcomes", "simulate_study"]

MALIGNANT = ("MEL", "BCC", "SCC")
BENIGN = ("NEV", "SK", "DF", "ECZ", "PSO", "TIN", "ACN", "ROS")
GROUPS = ("dermatologist", "resident", "general practitioner")


def schedule(spec: StudySpec, rng: np.random.Generator) -> pd.DataFrame:
    """Which reader reads which case in which arm: columns reader_idx, case_idx, arm, session."""
    r, c = np.meshgrid(np.arange(spec.n_readers), np.arange(spec.n_cases), indexing="ij")
    r, c = r.ravel(), c.ravel()
    if spec.design == "parallel":
        arm_of_reader = rng.permutation(np.arange(spec.n_readers) % 2)
        return pd.DataFrame(
            {"reader_idx": r, "case_idx": c, "arm": arm_of_reader[r], "session": 1, "phase": 1}
        )
    if spec.design == "blocks":
        arm = (c // spec.block_size + r) % 2
        return pd.DataFrame({"reader_idx": r, "case_idx": c, "arm": arm, "session": 1, "phase": 1})
    both = pd.DataFrame(
        {
            "reader_idx": np.concatenate([r, r]),
            "case_idx": np.concatenate([c, c]),
            "arm": np.repeat([0, 1], r.size),
        }
    )
    if spec.design == "sequential":
        both["phase"] = both["arm"] + 1
        both["session"] = 1
    else:  # crossover: half the cases per arm in session 1, swapped after the washout
        first_arm = (both["case_idx"] + both["reader_idx"]) % 2
        both["session"] = np.where(both["arm"] == first_arm, 1, 2)
        both["phase"] = 1
    return both


def simulate_outcomes(spec: StudySpec, rng: np.random.Generator) -> pd.DataFrame:
    """The bare outcome model: columns reader, case, arm (0/1), correct, eta and the effects."""
    plan = schedule(spec, rng)
    reader_effect = rng.normal(0, np.sqrt(spec.var_reader), spec.n_readers)
    case_effect = rng.normal(0, np.sqrt(spec.var_case), spec.n_cases)
    reader_arm = rng.normal(0, np.sqrt(spec.var_reader_arm), (spec.n_readers, 2))
    case_arm = rng.normal(0, np.sqrt(spec.var_case_arm), (spec.n_cases, 2))
    b0, b1 = spec.intercepts()
    r, c, a = plan["reader_idx"].to_numpy(), plan["case_idx"].to_numpy(), plan["arm"].to_numpy()
    eta = np.where(a == 1, b1, b0) + reader_effect[r] + case_effect[c] + reader_arm[r, a] + case_arm[c, a]
    plan["correct"] = (rng.random(eta.size) < special.expit(eta)).astype(int)
    plan["eta"] = eta
    plan["reader_effect"] = reader_effect[r]
    plan["case_effect"] = case_effect[c]
    plan["reader"] = [f"R{i + 1:02d}" for i in r]
    plan["case"] = [f"C{i + 1:03d}" for i in c]
    return plan


def simulate_study(spec: StudySpec | None = None, *, seed: int = 0) -> pd.DataFrame:
    """A full readings table (DESIGN 5.1 columns) for a simulated study."""
    spec = spec or StudySpec()
    rng = np.random.default_rng(seed)
    base = simulate_outcomes(spec, rng)
    readers = _readers(spec, rng, base)
    cases = _cases(spec, rng)
    table = base.merge(readers, on="reader_idx").merge(cases, on="case_idx")
    table = table.sort_values(["reader_idx", "session", "phase", "case_idx"], kind="stable")
    table = table.reset_index(drop=True)
    table["arm"] = np.where(table["arm"] == 1, spec.treatment, spec.control)
    _answers(table, rng, spec)
    _timing(table, rng)
    table["study"] = "SIM-1"
    return table[list(READINGS_COLUMNS)]


def _readers(spec: StudySpec, rng: np.random.Generator, base: pd.DataFrame) -> pd.DataFrame:
    """Groups and experience that go with skill: the better readers tend to be dermatologists."""
    skill = base.groupby("reader_idx")["reader_effect"].first().to_numpy()
    rank = np.argsort(np.argsort(-(skill + rng.normal(0, 0.3, skill.size))))
    group_idx = np.minimum(rank * len(GROUPS) // spec.n_readers, len(GROUPS) - 1)
    experience = np.clip(np.round(rng.gamma(2.0, 4.0, spec.n_readers) + 6 * (2 - group_idx)), 0, 40)
    return pd.DataFrame(
        {
            "reader_idx": np.arange(spec.n_readers),
            "reader_group": [GROUPS[g] for g in group_idx],
            "reader_experience": experience.astype(int),
        }
    )


def _cases(spec: StudySpec, rng: np.random.Generator) -> pd.DataFrame:
    malignant = rng.random(spec.n_cases) < spec.malignant_fraction
    malignant[:2], malignant[2:4] = True, False  # both classes always present
    truth = np.where(malignant, rng.choice(MALIGNANT, spec.n_cases), rng.choice(BENIGN, spec.n_cases))
    ai_correct = (rng.random(spec.n_cases) < 0.8).astype(int)
    ai_top1 = np.array([t if ok else _other(t, rng) for t, ok in zip(truth, ai_correct, strict=True)])
    return pd.DataFrame(
        {
            "case_idx": np.arange(spec.n_cases),
            "truth": truth,
            "truth_malignant": malignant.astype(int),
            "ai_correct_top1": ai_correct,
            "ai_top1_code": ai_top1,
        }
    )


def _other(code: str, rng: np.random.Generator) -> str:
    pool = [c for c in (*MALIGNANT, *BENIGN) if c != code]
    return str(rng.choice(pool))


def _answers(table: pd.DataFrame, rng: np.random.Generator, spec: StudySpec) -> None:
    n = len(table)
    treated = table["arm"] == spec.treatment
    table["correct_top1"] = table["correct"]
    near_miss = rng.random(n) < special.expit(table["eta"] + 1.0)
    table["correct_top3"] = (table["correct_top1"].astype(bool) | near_miss).astype(int)
    table["differential"] = [
        _differential(t, c1, c3, rng)
        for t, c1, c3 in zip(table["truth"], table["correct_top1"], table["correct_top3"], strict=True)
    ]
    appropriate_choice = rng.random(n) < np.where(table["correct_top1"] == 1, 0.9, 0.5)
    table["management"] = [
        _management(bool(m), bool(ok), rng)
        for m, ok in zip(table["truth_malignant"], appropriate_choice, strict=True)
    ]
    malignant = table["truth_malignant"] == 1
    table["management_appropriate"] = np.where(
        malignant,
        table["management"].isin(["biopsy", "refer"]),
        table["management"].isin(["reassure", "monitor", "treat"]),
    ).astype(int)
    table["management_harmful"] = (malignant & (table["management"] == "reassure")).astype(int)
    table["confidence"] = np.clip(
        np.round(3 + 1.2 * (table["correct_top1"] - 0.5) + rng.normal(0, 0.8, n)), 1, 5
    ).astype(int)
    separation = np.where(treated, 2.6, 1.9)
    logit = -1.0 + separation * table["truth_malignant"] + rng.normal(0, 1.1, n)
    table["malignancy_score"] = np.round(100 * special.expit(logit)).astype(int)
    table["ai_shown"] = treated.astype(int)
    table["ai_top1"] = np.where(treated, table["ai_top1_code"], "")
    table["ai_correct_top1"] = np.where(treated, table["ai_correct_top1"], pd.NA)


def _differential(truth: str, top1: int, top3: int, rng: np.random.Generator) -> str:
    others = [c for c in rng.permutation((*MALIGNANT, *BENIGN)) if c != truth][:3]
    if top1:
        codes = [truth, *others[:2]]
    elif top3:
        codes = [others[0], truth, others[1]]
    else:
        codes = others
    return "|".join(codes)


def _management(malignant: bool, appropriate: bool, rng: np.random.Generator) -> str:
    if malignant:
        options = ("biopsy", "refer") if appropriate else ("reassure", "monitor", "treat")
    else:
        options = ("reassure", "monitor", "treat") if appropriate else ("biopsy", "refer")
    return str(rng.choice(options))


def _timing(table: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(table)
    speed = table["reader_idx"].map(dict(enumerate(rng.normal(0, 0.25, table["reader_idx"].max() + 1))))
    median = np.where(table["ai_shown"] == 1, 38.0, 45.0)
    table["duration_s"] = np.round(median * np.exp(speed + rng.normal(0, 0.45, n)), 1)
    table["timed_out"] = 0
    table["position"] = table.groupby("reader").cumcount() + 1
    start = pd.Timestamp("2024-03-01T09:00:00Z")
    offsets = table.groupby("reader")["duration_s"].cumsum() + 30 * table["position"]
    offsets = offsets + 7 * 86400 * (table["session"] - 1)
    stamps = start + pd.to_timedelta(offsets, unit="s")
    table["submitted_at"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
