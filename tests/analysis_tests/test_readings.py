"""Loading and validating the readings table; the outcome definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.readings import (
    InputError,
    correct_top_k,
    load_readings,
    management_appropriate,
    management_harmful,
    numeric_column,
    prepare,
    split_differential,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"reader": [1, 1, 2, 2], "case": [7, 7, 7, 7], "arm": ["u", "ai", "u", "ai"], "y": [1, 0, "", 1]}
    )


def test_csv_and_parquet_round_trip(tmp_path, frame):
    frame = frame.assign(y=[1.0, 0.0, np.nan, 1.0])
    frame.to_csv(tmp_path / "r.csv", index=False)
    frame.to_parquet(tmp_path / "r.parquet", index=False)
    from_csv = load_readings(tmp_path / "r.csv")
    from_parquet = load_readings(tmp_path / "r.parquet")
    assert from_csv["reader"].tolist() == ["1", "1", "2", "2"]  # ids read as text
    for loaded in (from_csv, from_parquet):
        prepared = prepare(loaded, value_cols=["y"], control="u", treatment="ai")
        assert prepared["reader"].tolist() == ["1", "1", "2", "2"]
        assert prepared["y"].isna().sum() == 1


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_readings(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("reader,case,arm\n")
    with pytest.raises(InputError, match="has no rows"):
        load_readings(tmp_path / "empty.csv")


def test_numeric_column_accepts_empty_cells_but_not_text(frame):
    assert numeric_column(frame, "y").isna().sum() == 1
    with pytest.raises(InputError, match="column 'arm' is not numeric"):
        numeric_column(frame, "arm")


def test_prepare_checks_columns_and_arms(frame):
    with pytest.raises(InputError, match="missing column.*score"):
        prepare(frame, value_cols=["score"], control="u", treatment="ai")
    with pytest.raises(InputError, match="unknown arm 'x' in column 'arm'"):
        prepare(frame, value_cols=["y"], control="x", treatment="ai")


def test_outcome_definitions():
    groups = {"MEL": "malignant", "BCC": "malignant", "NEV": "benign"}
    assert split_differential("NEV|MEL| |BCC") == ["NEV", "MEL", "BCC"]
    assert split_differential(np.nan) == []
    assert correct_top_k(["NEV", "MEL"], "MEL", 1) == 0
    assert correct_top_k(["NEV", "MEL"], "MEL", 3) == 1
    assert correct_top_k(["BCC"], "MEL", 1) == 0
    assert correct_top_k(["BCC"], "MEL", 1, groups=groups) == 1  # generic credit
    assert [management_appropriate(x) for x in ("optimal", "appropriate", "inappropriate")] == [1, 1, 0]
    assert [management_harmful(x) for x in ("dangerous", "inappropriate")] == [1, 0]
