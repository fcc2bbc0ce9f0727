"""File formats of the exports: CSV (cells neutralised against spreadsheet formulas), Parquet, and
the MRMC tools' inputs built from the readings table.

* :func:`rjafroc_csv` — the ``reader,treatment,case,truth,rating`` CSV that RJafroc
  (``DfReadDataFile(format = "MRMCaov")``) and MRMCaov read;
* :func:`imrmc_text` — the iMRMC input file: a free-text description, the ``NR:``, ``N0:``,
  ``N1:``, ``NM:`` lines, ``BEGIN DATA:``, then one truth row per case (reader ``-1``, modality
  ``0``, score 0/1) and one ``readerID,caseID,modalityID,score`` row per reading.

The MRMC-style outputs come from the readings table (DESIGN 5.1), so they agree with it: training
readings are never there, attention (repeat) readings are dropped, and the first reading of each
(reader, arm, case) is kept, as :func:`analysis.fom.score_array` does.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from analysis.csvcells import neutralise_cell, restore_cell

MRMC_COLUMNS = ["reader", "treatment", "case", "truth", "rating"]
IMRMC_TRUTH_READER = "-1"
IMRMC_TRUTH_MODALITY = "0"


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The one CSV writer of every download: UTF-8, comma-separated, with a header; missing values
    are empty cells; text cells and header names a spreadsheet would run as a formula are
    neutralised (:mod:`analysis.csvcells`); numeric columns are written as they are."""
    return csv_text(frame).encode("utf-8")


def csv_text(frame: pd.DataFrame) -> str:
    """:func:`to_csv_bytes` as text."""
    return safe_frame(frame).to_csv(index=False, lineterminator="\n")


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names are neutralised; numeric columns untouched."""
    safe = frame.rename(columns=lambda name: neutralise_cell(str(name)))
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            safe.isetitem(position, column.map(neutralise_cell, na_action="ignore"))
    return safe


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


class InterchangeError(ValueError):
    """The data cannot be written in the requested format (the message says why)."""


def mrmc_frame(readings: pd.DataFrame, *, score: str, truth: str) -> pd.DataFrame:
    """Readings as ``reader, treatment, case, truth, rating``: one scored reading per reader, arm, case."""
    missing = [name for name in ("reader", "arm", "case", score, truth) if name not in readings.columns]
    if missing:
        raise InterchangeError(f"The readings table has no column {', '.join(missing)}.")
    data = readings
    for flag in ("training", "repeat"):
        if flag in data.columns:
            data = data[data[flag].fillna(0).astype(int) == 0]
    rating = pd.to_numeric(data[score], errors="coerce")
    truth_values = pd.to_numeric(data[truth], errors="coerce")
    frame = pd.DataFrame({
        "reader": data["reader"].astype(str), "treatment": data["arm"].astype(str),
        "case": data["case"].astype(str), "truth": truth_values, "rating": rating,
    }).dropna(subset=["rating", "truth"])
    if frame.empty:
        raise InterchangeError(f"No reading has both a {score!r} and a {truth!r} value: nothing to export.")
    if not set(np.unique(frame["truth"].to_numpy(float))) <= {0.0, 1.0}:
        raise InterchangeError(f"The truth column {truth!r} must be 0 or 1.")
    frame = frame.drop_duplicates(subset=["reader", "treatment", "case"], keep="first")
    frame["truth"] = frame["truth"].astype(int)
    return frame.reset_index(drop=True)[MRMC_COLUMNS]


def rjafroc_csv(readings: pd.DataFrame, *, score: str = "malignancy_score", truth: str = "truth_malignant") -> str:
    """The ``reader,treatment,case,truth,rating`` CSV (RJafroc's and MRMCaov's long format)."""
    return csv_text(mrmc_frame(readings, score=score, truth=truth))


def imrmc_text(
    readings: pd.DataFrame,
    *,
    score: str = "malignancy_score",
    truth: str = "truth_malignant",
    numeric_case_ids: bool = False,
    description: str = "",
) -> str:
    """The iMRMC input file for the readings (modalities are the arms)."""
    frame = mrmc_frame(readings, score=score, truth=truth)
    if frame[["reader", "case", "treatment"]].map(lambda v: "," in v).any().any():
        raise InterchangeError("Reader, case and arm ids must not contain commas in an iMRMC file.")
    case_truth = frame.groupby("case", sort=False)["truth"].agg(["min", "max"])
    conflicting = case_truth.index[case_truth["min"] != case_truth["max"]]
    if len(conflicting):
        raise InterchangeError(f"The truth differs between readings of case {conflicting[0]!r}.")
    cases = list(case_truth.index)
    ids = {case: str(i) for i, case in enumerate(cases, start=1)} if numeric_case_ids else {c: c for c in cases}
    truths = case_truth["min"].astype(int)
    lines = [line for line in (description or "Readerstudy export").splitlines() if ":" not in line]
    lines += [
        f"score column {score}, truth column {truth}" if ":" not in score + truth else "",
        "",
        f"NR: {frame['reader'].nunique()}",
        f"N0: {int((truths == 0).sum())}",
        f"N1: {int((truths == 1).sum())}",
        f"NM: {frame['treatment'].nunique()}",
        "",
        "BEGIN DATA:",
    ]
    # ids come from imports and arm names: neutralised like every CSV cell (read_imrmc restores them)
    ids = {case: neutralise_cell(value) for case, value in ids.items()}
    lines += [f"{IMRMC_TRUTH_READER},{ids[case]},{IMRMC_TRUTH_MODALITY},{truths[case]}" for case in cases]
    lines += [
        f"{neutralise_cell(row.reader)},{ids[row.case]},{neutralise_cell(row.treatment)},{_number(row.rating)}"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def read_imrmc(text: str) -> pd.DataFrame:
    """An iMRMC input file back as ``reader, treatment, case, truth, rating`` (truth rows folded in)."""
    body = text.split("BEGIN DATA:", 1)
    if len(body) != 2:
        raise InterchangeError("Not an iMRMC file: no 'BEGIN DATA:' line.")
    rows = [[restore_cell(cell) for cell in line.split(",")] for line in body[1].splitlines() if line.strip()]
    if any(len(row) != 4 for row in rows):
        raise InterchangeError("Every iMRMC data row has four fields: readerID, caseID, modalityID, score.")
    truth = {case.strip(): int(float(value)) for reader, case, _, value in rows
             if reader.strip() in (IMRMC_TRUTH_READER, "truth")}
    data = [(r.strip(), m.strip(), c.strip(), truth.get(c.strip()), float(v)) for r, c, m, v in rows
            if r.strip() not in (IMRMC_TRUTH_READER, "truth")]
    return pd.DataFrame(data, columns=MRMC_COLUMNS)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
