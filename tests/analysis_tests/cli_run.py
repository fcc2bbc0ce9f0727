"""Run `python -m analysis <command>` on a readings table in a subprocess, like a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def run_analysis(tmp_path: Path, readings: pd.DataFrame, command: str, *args: str) -> tuple[dict, Path]:
    """Write `readings` to CSV, run `command` with `args` and `--out`; the command's results.json block
    and the output folder (the run must succeed)."""
    path = tmp_path / "readings.csv"
    readings.to_csv(path, index=False)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "analysis", command, "--readings", str(path), *args, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((out / "results.json").read_text())[command], out
