"""Readings collected on another platform, mapped column by column onto the readings table.

:func:`readings_import` validates every row (problems name the row and the field) and returns the
table that :func:`analysis.readings.load_readings` reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.utils.dateparse import parse_datetime

from catalog.services.case_import import Problem
from readerstudy.core import outcomes
from readerstudy.exports.formats import to_csv_bytes
from readerstudy.exports.tables import READINGS_COLUMNS, iso_utc

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
