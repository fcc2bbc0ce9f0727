"""The readings table (DESIGN 5.1): loading, validation and outcome definitions.

One row per submitted reading. The analysis functions only need a few of the columns
(reader, case, arm and the outcome); everything else is optional and used when present.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.csvcells import restore_cell

# Column contract of DESIGN 5.1, in export order.
READINGS_COLUMNS: tuple[str, ...] = (
    "study",
    "reader",
    "reader_group",
    "reader_experience",
    "case",
    "truth",
    "truth_malignant",
    "arm",
    "phase",
    "session",
    "position",
    "differential",
    "correct_top1",
    "correct_top3",
    "management",
    "management_appropriate",
    "management_harmful",
    "confidence",
    "malignancy_score",
    "ai_shown",
    "ai_top1",
    "ai_correct_top1",
    "duration_s",
    "timed_out",
    "submitted_at",
)

BINARY_COLUMNS: tuple[str, ...] = (
    "truth_malignant",
    "correct_top1",
    "correct_top3",
    "management_appropriate",
    "management_harmful",
    "ai_shown",
    "ai_correct_top1",
    "timed_out",
)

APPROPRIATE_LEVELS = frozenset({"optimal", "appropriate"})
HARMFUL_LEVELS = frozenset({"dangerous"})


class InputError(ValueError):
    """Bad input: the message is one line naming the file, column or arm at fault."""


def load_readings(path: str | Path, text_columns: Sequence[str] = ("reader", "case", "arm")) -> pd.DataFrame:
    """Read a readings table from CSV or Parquet (chosen by the file suffix).

    Identifier columns (`text_columns`) are read from CSV as text, so ids like "007" survive.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot read readings file {path}: no such file")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=dict.fromkeys(text_columns, str))
            frame = restore_text_cells(frame)
    except Exception as exc:  # noqa: BLE001 - any parser failure is an input error
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read readings file {path}: {first_line}") from exc
    if frame.empty:
        raise InputError(f"readings file {path} has no rows")
    return frame


def restore_text_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo the exports' formula neutralising (:mod:`analysis.csvcells`) in text cells and names."""
    frame = frame.rename(columns=restore_cell)
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            frame.isetitem(position, column.map(restore_cell, na_action="ignore"))
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        names = ", ".join(missing)
        raise InputError(f"missing column(s) in readings: {names}")


def require_arms(frame: pd.DataFrame, arm_col: str, arms: Sequence[str]) -> None:
    present = set(frame[arm_col].astype(str))
    for arm in arms:
        if str(arm) not in present:
            known = ", ".join(sorted(present))
            raise InputError(f"unknown arm '{arm}' in column '{arm_col}' (arms present: {known})")


def numeric_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as float; empty cells are NaN, any other text is an input error."""
    values = frame[column]
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        example = values[bad].iloc[0]
        raise InputError(f"column '{column}' is not numeric (e.g. value {example!r})")
    return converted.astype(float)


def prepare(
    frame: pd.DataFrame,
    *,
    value_cols: Sequence[str],
    control: str,
    treatment: str,
    reader_col: str = "reader",
    case_col: str = "case",
    arm_col: str = "arm",
) -> pd.DataFrame:
    """Validate and normalise: reader/case/arm as strings, value columns numeric, two arms only.

    Returns a copy restricted to the control and treatment arms with the standard column names
    `reader`, `case` and `arm` (the original columns under other names are renamed). Readings of
    any other arm are left out (a study with k arms compares any two of them).
    """
    control, treatment = as_label(control), as_label(treatment)
    if control == treatment:
        raise InputError(f"control and treatment arms are the same ('{control}')")
    return prepare_many(
        frame, value_cols=value_cols, arms=(control, treatment), reader_col=reader_col, case_col=case_col,
        arm_col=arm_col,
    )


def prepare_many(
    frame: pd.DataFrame,
    *,
    value_cols: Sequence[str],
    arms: Sequence[str],
    reader_col: str = "reader",
    case_col: str = "case",
    arm_col: str = "arm",
) -> pd.DataFrame:
    """`prepare` for any number of arms: the readings of `arms` (each named once), standard names."""
    require_columns(frame, [reader_col, case_col, arm_col, *value_cols])
    out = frame.copy()
    renames = {reader_col: "reader", case_col: "case", arm_col: "arm"}
    clashes = [new for old, new in renames.items() if old != new and new in out.columns]
    out = out.drop(columns=clashes).rename(columns=renames)
    for column in ("reader", "case", "arm"):
        out[column] = out[column].map(as_label).astype(object)
    labels = [as_label(arm) for arm in arms]
    repeated = sorted({arm for arm in labels if labels.count(arm) > 1})
    if repeated:
        raise InputError(f"arm(s) named more than once: {', '.join(repeated)}")
    require_arms(out, "arm", labels)
    for column in value_cols:
        out[column] = numeric_column(out, column)
    return out[out["arm"].isin(labels)].reset_index(drop=True)


def other_arms_note(frame: pd.DataFrame, arm_col: str, arms: Sequence[str]) -> str | None:
    """The warning a result carries when the readings hold arms it does not analyse, else None."""
    if arm_col not in frame.columns:
        return None
    labels = frame[arm_col].dropna().map(as_label)
    chosen = [as_label(arm) for arm in arms]
    others = labels[~labels.isin(chosen)].value_counts().sort_index()
    if others.empty:
        return None
    listed = ", ".join(f"'{arm}': {count}" for arm, count in others.items())
    joined = " and ".join(f"'{arm}'" for arm in chosen) if len(chosen) == 2 else ", ".join(f"'{a}'" for a in chosen)
    return (f"{int(others.sum())} reading(s) of other arms left out ({listed}): this analysis uses arms "
            f"{joined} only")


def prepare_arms(
    frame: pd.DataFrame,
    *,
    outcome: str,
    control: str,
    treatment: str,
    also: Sequence[str] = (),
    reader_col: str = "reader",
    case_col: str = "case",
    arm_col: str = "arm",
) -> tuple[pd.DataFrame, str, str]:
    """`prepare` with the one outcome column, checking the `also` columns (by, by_case) are there.

    Returns the prepared frame and the control and treatment labels as they appear in it.
    """
    data = prepare(
        frame, value_cols=[outcome], control=control, treatment=treatment,
        reader_col=reader_col, case_col=case_col, arm_col=arm_col,
    )
    for column in also:
        if column not in data.columns:
            raise InputError(f"missing column(s) in readings: {column}")
    return data, as_label(control), as_label(treatment)


def as_label(value: object) -> str:
    """Identifiers as text; 1.0 from a float column reads as '1' so arms match the CLI."""
    if isinstance(value, float) and np.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def is_binary(values: pd.Series) -> bool:
    observed = values.dropna().unique()
    return len(observed) > 0 and set(np.asarray(observed, dtype=float)) <= {0.0, 1.0}


# --- outcome definitions (the one place they live, DESIGN 5.1) ---------------------------------


def correct_top_k(
    differential: Sequence[str],
    truth: str,
    k: int,
    *,
    groups: dict[str, str] | None = None,
) -> int:
    """1 if the reference code is among the first k codes of the ranked differential.

    With `groups` (code -> taxonomy group), a code in the same group as the reference earns
    "generic" credit.
    """
    top = [code for code in differential if code][:k]
    if truth in top:
        return 1
    if groups is not None and truth in groups:
        return int(any(groups.get(code) == groups[truth] for code in top))
    return 0


def split_differential(text: object) -> list[str]:
    if not isinstance(text, str) or not text:
        return []
    return [code.strip() for code in text.split("|") if code.strip()]


def management_appropriate(level: str) -> int:
    """Appropriate = optimal or appropriate in the condition x management matrix."""
    return int(level in APPROPRIATE_LEVELS)


def management_harmful(level: str) -> int:
    """Harmful = dangerous in the condition x management matrix."""
    return int(level in HARMFUL_LEVELS)
