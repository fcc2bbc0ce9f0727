"""Every downloadable export of a study, by name, and the one audited way to make one.

The web pages and the API both call :func:`export_file`; it writes the audit event (who downloaded
what, how many rows) in the same place for both, so no export leaves the app unrecorded. The
permission check is the caller's (pages: `study_for_user` with the monitor roles; API: `STAFF`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from common.audit import audit_record
from readerstudy.exports.formats import imrmc_text, rjafroc_csv, to_csv_bytes, to_parquet_bytes
from readerstudy.exports.reference_tables import cases_table, model_outputs_table
from readerstudy.exports.tables import (
    case_progress_table,
    readings_table,
    schedules_table,
)
from readerstudy.models import Study

CSV = "text/csv; charset=utf-8"
PARQUET = "application/vnd.apache.parquet"
TEXT = "text/plain; charset=utf-8"
DEFAULT_QUERY = {"score": "malignancy_score", "truth": "truth_malignant", "case_ids": "keys", "training": False}


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    content_type: str
    filename: str
    rows: int


@dataclass(frozen=True)
class ExportKind:
    table: Callable[[Study, Mapping[str, Any]], pd.DataFrame]
    write: Callable[[pd.DataFrame, Study, Mapping[str, Any]], bytes]
    content_type: str
    suffix: str
    action: str  # the audit action
    api: bool = True  # offered under /api/v1/studies/{slug}/exports/{name}/


def _readings(study: Study, query: Mapping[str, Any]) -> pd.DataFrame:
    return readings_table(study, include_training=bool(query.get("training")))


def _csv(frame: pd.DataFrame, study: Study, query: Mapping[str, Any]) -> bytes:
    return to_csv_bytes(frame)


def _parquet(frame: pd.DataFrame, study: Study, query: Mapping[str, Any]) -> bytes:
    return to_parquet_bytes(frame)


def _imrmc(frame: pd.DataFrame, study: Study, query: Mapping[str, Any]) -> bytes:
    return imrmc_text(frame, score=query["score"], truth=query["truth"],
                      numeric_case_ids=query["case_ids"] == "numbers",
                      description=f"Readerstudy export of study {study.slug}; modalities are the study arms",
                      ).encode("utf-8")


def _rjafroc(frame: pd.DataFrame, study: Study, query: Mapping[str, Any]) -> bytes:
    return rjafroc_csv(frame, score=query["score"], truth=query["truth"]).encode("utf-8")


EXPORTS: dict[str, ExportKind] = {
    "readings.csv": ExportKind(_readings, _csv, CSV, "readings.csv", "export.readings"),
    "readings.parquet": ExportKind(_readings, _parquet, PARQUET, "readings.parquet", "export.readings"),
    "schedules.csv": ExportKind(lambda s, q: schedules_table(s), _csv, CSV, "schedules.csv", "export.schedules"),
    "cases.csv": ExportKind(lambda s, q: cases_table(s.case_set), _csv, CSV, "cases.csv", "export.cases"),
    "model-outputs.csv": ExportKind(lambda s, q: model_outputs_table(s), _csv, CSV, "model-outputs.csv",
                                    "export.model_outputs"),
    "imrmc": ExportKind(_readings, _imrmc, TEXT, "imrmc.imrmc", "export.imrmc"),
    "rjafroc.csv": ExportKind(_readings, _rjafroc, CSV, "rjafroc.csv", "export.rjafroc"),
    "case-progress.csv": ExportKind(lambda s, q: case_progress_table(s), _csv, CSV, "cases.csv",
                                    "export.case_progress", api=False),
}
API_EXPORTS = tuple(name for name, kind in EXPORTS.items() if kind.api)


def export_file(*, study: Study, name: str, actor, query: Mapping[str, Any] | None = None,
                via: str = "web") -> ExportFile:
    """Build export `name` of `study` and record who took it; raises KeyError for an unknown name
    and formats.InterchangeError when the data cannot be written in that format."""
    kind = EXPORTS[name]
    options = {**DEFAULT_QUERY, **(query or {})}
    frame = kind.table(study, options)
    content = kind.write(frame, study, options)
    data: dict[str, Any] = {"name": name, "rows": len(frame), "via": via}
    if kind.action == "export.readings":
        data.update(format=name.rsplit(".", 1)[1], training=bool(options.get("training")))
    audit_record(actor=actor, action=kind.action, study=study, data=data)
    return ExportFile(content=content, content_type=kind.content_type, filename=f"{study.slug}-{kind.suffix}",
                      rows=len(frame))



