"""HTML building blocks of the reports: number formats, tables, figures, sections, the page.

Every text is HTML-escaped here; report modules compose these and never write raw markup of values."""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape

import pandas as pd

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:960px;margin:2em auto;
color:#1d2733;line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #d5dbe1}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #d5dbe1;padding:.25em .45em;text-align:right}
th{font-weight:600;white-space:normal;vertical-align:bottom;max-width:9em}td{white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f1f4f7}
.note{color:#5b6773;font-size:.9em}.warn{color:#9a4d00}img{max-width:100%}
"""


def fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def p_text(p: float | None) -> str:
    """'p = 0.012' or 'p < 0.001' for running text."""
    shown = fmt_p(p)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def fmt_p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


# Column names as readers of the report say them (the CSV tables keep the machine names).
COLUMN_LABELS = {
    "ci_low": "95 % CI low", "ci_high": "95 % CI high", "p_value": "p", "p_value_bonferroni": "p (Bonferroni)",
    "bonferroni": "p (Bonferroni)", "sd": "SD", "se": "SE", "df": "df", "df1": "df (num.)", "df2": "df (den.)",
    "n": "n", "n_readers": "Readers", "n_cases": "Cases", "n_readings": "Readings", "fom": "Figure of merit",
    "auc": "AUC", "arm": "Arm", "reader": "Reader", "term": "Term", "z": "z", "estimate": "Estimate",
    "statistic": "Statistic", "var_error": "Var (error)", "cov1": "Cov1", "cov2": "Cov2", "cov3": "Cov3",
    "ci_low_random_readers": "95 % CI low (random readers)", "ci_high_random_readers": "95 % CI high (random readers)",
}


_WORDS = {"sd": "SD", "se": "SE", "ci": "CI", "auc": "AUC", "var": "variance", "n": "number of",
          "glmm": "mixed model", "pct": "%", "fpr": "FPR", "tpr": "TPR", "or": "OR"}


def column_label(name: object) -> str:
    """'ci_low' -> '95 % CI low', 'control_mean' -> 'Control mean'; names with capitals or spaces kept."""
    text = str(name)
    if text in COLUMN_LABELS:
        return COLUMN_LABELS[text]
    if " " in text or text != text.lower() or "_" not in text:
        return text[:1].upper() + text[1:] if text.islower() else text
    words = [_WORDS.get(w, w) for w in text.split("_")]
    label = " ".join(words)
    return label[:1].upper() + label[1:]


def html_table(frame: pd.DataFrame, digits: int = 3) -> str:
    head = "".join(f"<th>{escape(column_label(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(v, c, digits))}</td>" for c, v in row.items()) + "</tr>"
        for _, row in frame.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object, column: object, digits: int) -> str:
    if isinstance(value, float) and str(column).endswith(("_p", "p_value", "bonferroni")):
        return fmt_p(value)
    return fmt(value, digits)


def image(b64_png: str, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{b64_png}">'


def section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def paragraph(text: str, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{escape(text)}</p>"


def page(title: str, body: Iterable[str]) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{''.join(body)}</body></html>"
    )
