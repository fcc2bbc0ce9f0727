"""Data interchange with other tools: MRMC exports, reference-label tables and readings import.

Exports
* :func:`rjafroc_csv` — the ``reader,treatment,case,truth,rating`` CSV that RJafroc
  (``DfReadDataFile(format = "MRMCaov")``) and MRMCaov read;
* :func:`imrmc_text` — the iMRMC input file: a free-text description, the ``NR:``, ``N0:``,
  ``N1:``, ``NM:`` lines, ``BEGIN DATA:``, then one truth row per case (reader ``-1``, modality
  ``0``, score 0/1) and one ``readerID,caseID,modalityID,score`` row per reading;
* :func:`cases_table` and :func:`model_outputs_table` — cases with their reference labels and the
  precomputed model outputs, for statisticians.

All three MRMC-style outputs come from the readings table (DESIGN 5.1), so they agree with it:
training readings are never there, attention (repeat) readings are dropped, and the first reading
of each (reader, arm, case) is kept, as :func:`analysis.fom.score_array` does.

Import
:func:`readings_import` maps a long CSV collected on another platform column by column onto the
readings table, validates every row (problems name the row and the field) and returns the table
that :func:`analysis.readings.load_readings` reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.utils.dateparse import parse_datetime

from analysis.csvcells import neutralise_cell, restore_cell
from catalog.models import Case, CaseSet
from catalog.services.case_import import Problem
from readerstudy.core import outcomes
from readerstudy.models import Study
from readerstudy.services.export import READINGS_COLUMNS, csv_text, iso_utc, to_csv_bytes

MRMC_COLUMNS = ["reader", "treatment", "case", "truth", "rating"]
IMRMC_TRUTH_READER = "-1"
IMRMC_TRUTH_MODALITY = "0"


class InterchangeError(ValueError):
    """The data cannot be written in the requested format (the message says why)."""


# --- MRMC exports ---------------------------------------------------------------------------------


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


# --- tables for statisticians ---------------------------------------------------------------------


CASE_COLUMNS = ["case_set", "case", "truth", "truth_name", "truth_group", "truth_malignant", "reference_source",
                "reference_management", "age", "sex", "body_site", "fitzpatrick", "duration", "n_images"]


def cases_table(case_set: CaseSet) -> pd.DataFrame:
    """Every case of the set with its reference labels and metadata (extra metadata as columns)."""
    from django.db.models import Count

    cases = (Case.objects.filter(case_set=case_set).select_related("reference", "reference_management")
             .annotate(n_images=Count("images")).order_by("key"))
    rows = []
    for case in cases:
        row = {
            "case_set": case_set.name, "case": case.key, "truth": case.reference.code,
            "truth_name": case.reference.name, "truth_group": case.reference.group,
            "truth_malignant": int(case.reference.malignant), "reference_source": case.reference_source,
            "reference_management": case.reference_management.code if case.reference_management else "",
            "age": case.age, "sex": case.sex, "body_site": case.body_site, "fitzpatrick": case.fitzpatrick,
            "duration": case.duration, "n_images": case.n_images,
        }
        row.update({f"extra_{key}": value for key, value in sorted((case.extra or {}).items())
                    if isinstance(value, (str, int, float, bool)) or value is None})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=CASE_COLUMNS)
    for column in ("age", "fitzpatrick"):
        frame[column] = frame[column].astype("Int64")
    return frame


def model_outputs_table(study: Study) -> pd.DataFrame:
    """The study model's outputs: one row per case, ``top1..`` and ``p_<code>`` columns."""
    from readerstudy.selectors.ai import outputs_for_study

    rows = []
    for output in outputs_for_study(study).order_by("case__key"):
        probabilities = {str(c): float(p) for c, p in (output.probabilities or {}).items()}
        top = [str(c) for c in output.top_codes] or sorted(probabilities, key=lambda c: -probabilities[c])
        row = {"case": output.case.key, "model_version": output.model_version.name,
               "top1": top[0] if top else "", "top_codes": "|".join(top), "frozen": int(output.frozen)}
        row.update({f"p_{code}": p for code, p in sorted(probabilities.items())})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["case", "model_version", "top1", "top_codes", "frozen"])


# --- readings import ------------------------------------------------------------------------------

BINARY_FIELDS = ("truth_malignant", "correct_top1", "correct_top3", "management_appropriate",
                 "management_harmful", "ai_shown", "ai_correct_top1", "timed_out")
NUMERIC_FIELDS = ("reader_experience", "confidence", "malignancy_score", "duration_s", "position")
REQUIRED_FIELDS = ("reader", "case", "arm")
TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f"}
MAX_PROBLEMS = 500


@dataclass
class ReadingsImport:
    """The outcome of mapping and validating an uploaded readings file."""

    columns: list[str]
    mapping: dict[str, str]
    n_rows: int
    table: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.n_rows > 0

    def csv_bytes(self) -> bytes:
        return to_csv_bytes(self.table)


def read_source(data: bytes | str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of an uploaded CSV (UTF-8, with or without BOM; comma, semicolon or tab)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    rows = [{(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items()}
            for row in reader]
    return columns, rows


def auto_mapping(columns: list[str]) -> dict[str, str]:
    """Contract column -> source column, for source columns named like the contract (case-insensitive)."""
    by_lower = {c.lower().replace(" ", "_"): c for c in columns}
    return {name: by_lower[name] for name in READINGS_COLUMNS if name in by_lower}


def readings_import(
    data: bytes | str, mapping: Mapping[str, str] | None = None, *, study: str = "imported",
    groups: Mapping[str, str] | None = None,
) -> ReadingsImport:
    """Map the uploaded long CSV onto the readings table and validate every row.

    ``mapping``: contract column -> source column (blank or absent: not in the file). Without a
    ``correct_top1``/``correct_top3`` column they are derived from ``differential`` and ``truth``
    with :mod:`readerstudy.core.outcomes` (``groups``, code -> taxonomy group, gives generic credit).
    """
    try:
        columns, rows = read_source(data)
    except (UnicodeDecodeError, csv.Error) as exc:
        return ReadingsImport([], {}, 0, pd.DataFrame(columns=READINGS_COLUMNS),
                              [Problem(None, "file", f"not a UTF-8 CSV file ({exc})")])
    mapping = {k: v for k, v in (auto_mapping(columns) if mapping is None else mapping).items() if v}
    problems = _mapping_problems(columns, mapping)
    if not rows:
        problems.append(Problem(None, "file", "the file has a header but no rows"))
    if problems:
        return ReadingsImport(columns, mapping, len(rows), pd.DataFrame(columns=READINGS_COLUMNS), problems)
    out = [_import_row(i, row, mapping, study, groups, problems) for i, row in enumerate(rows, start=1)]
    _duplicate_problems(out, problems)
    table = pd.DataFrame(out, columns=READINGS_COLUMNS)
    for name in (*BINARY_FIELDS, "phase", "session", "position", "reader_experience", "confidence",
                 "malignancy_score"):
        table[name] = pd.to_numeric(table[name], errors="coerce").astype("Int64")
    table["duration_s"] = pd.to_numeric(table["duration_s"], errors="coerce").astype("float64")
    return ReadingsImport(columns, mapping, len(rows), table, problems[:MAX_PROBLEMS])


def _mapping_problems(columns: list[str], mapping: Mapping[str, str]) -> list[Problem]:
    problems = [Problem(None, name, f"maps to {source!r}, which is not a column of the file")
                for name, source in mapping.items() if source not in columns]
    problems += [Problem(None, name, "not a column of the readings table") for name in mapping
                 if name not in READINGS_COLUMNS]
    problems += [Problem(None, name, "required: map it to a column of the file") for name in REQUIRED_FIELDS
                 if name not in mapping]
    if "correct_top1" not in mapping and not {"differential", "truth"} <= set(mapping):
        problems.append(Problem(None, "correct_top1",
                                "map correct_top1, or both differential and truth so it can be derived"))
    return problems


def _import_row(
    number: int, row: Mapping[str, str], mapping: Mapping[str, str], study: str,
    groups: Mapping[str, str] | None, problems: list[Problem],
) -> dict[str, object]:
    value = {name: row.get(source, "") for name, source in mapping.items()}
    out: dict[str, object] = {name: value.get(name, "") for name in READINGS_COLUMNS}
    out["study"] = value.get("study") or study

    def problem(name: str, message: str) -> None:
        problems.append(Problem(number, name, f"{message} (column {mapping.get(name, name)!r})"))

    for name in REQUIRED_FIELDS:
        if not value.get(name):
            problem(name, "is empty")
    for name, default in (("phase", 1), ("session", 1)):
        out[name] = _choice(value.get(name, ""), {1, 2}, default, lambda m, n=name: problem(n, m))
    for name in BINARY_FIELDS:
        out[name] = _binary(value.get(name, ""), lambda m, n=name: problem(n, m))
    for name in NUMERIC_FIELDS:
        out[name] = _number_in(value.get(name, ""), name, lambda m, n=name: problem(n, m))
    out["duration_s"] = _number_in(value.get("duration_s", ""), "duration_s",
                                   lambda m: problem("duration_s", m), integer=False)
    codes = [c.strip() for c in str(value.get("differential", "")).split("|") if c.strip()]
    out["differential"] = "|".join(codes)
    truth = str(value.get("truth", ""))
    if "correct_top1" not in mapping and truth:
        out["correct_top1"] = int(outcomes.correct_top_k(codes, truth, 1, groups=groups, generic=bool(groups)))
    if "correct_top3" not in mapping and "truth" in mapping and "differential" in mapping and truth:
        out["correct_top3"] = int(outcomes.correct_top_k(codes, truth, 3, groups=groups, generic=bool(groups)))
    submitted = value.get("submitted_at", "")
    if submitted:
        parsed = parse_datetime(submitted)
        if parsed is None or parsed.tzinfo is None:
            problem("submitted_at", f"{submitted!r} is not an ISO 8601 time with a time zone")
        else:
            out["submitted_at"] = iso_utc(parsed)
    return out


def _choice(raw: str, allowed: set[int], default: int, report) -> int | None:
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if value not in allowed:
        report(f"{raw!r} must be one of {sorted(allowed)}")
        return None
    return int(value)


def _binary(raw: str, report) -> int | None:
    word = raw.lower()
    if word == "":
        return None
    if word in TRUE_WORDS or word == "1.0":
        return 1
    if word in FALSE_WORDS or word == "0.0":
        return 0
    report(f"{raw!r} must be 0 or 1")
    return None


RANGES = {"confidence": (0, None), "malignancy_score": (0, 100), "reader_experience": (0, 100),
          "duration_s": (0, None), "position": (0, None)}


def _number_in(raw: str, name: str, report, *, integer: bool = True) -> float | int | None:
    if raw == "":
        return None
    try:
        number = float(raw)
    except ValueError:
        report(f"{raw!r} is not a number")
        return None
    low, high = RANGES[name]
    if not np.isfinite(number) or number < low or (high is not None and number > high):
        report(f"{raw!r} is out of range" + (f" ({low}-{high})" if high is not None else f" (at least {low})"))
        return None
    if integer and not number.is_integer():
        report(f"{raw!r} must be a whole number")
        return None
    return int(number) if integer else number


def _duplicate_problems(rows: list[dict[str, object]], problems: list[Problem]) -> None:
    seen: dict[tuple, int] = {}
    for number, row in enumerate(rows, start=1):
        key = tuple(row[name] for name in ("reader", "case", "arm", "phase", "session"))
        if "" in key[:3]:
            continue
        if key in seen:
            problems.append(Problem(number, "case", f"a second reading of case {row['case']!r} by reader "
                                    f"{row['reader']!r} in arm {row['arm']!r} (first in row {seen[key]})"))
        else:
            seen[key] = number
