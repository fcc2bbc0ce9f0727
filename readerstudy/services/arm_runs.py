"""Several arms in one analysis from the web app: the "compare_arms" run (issue 14, "Analysis").

A study with k arms (unaided, top-3, similar cases, concepts) is analysed as `python -m analysis
compare --arms CONTROL AI1 AI2 ...` would analyse its export: one mixed model over the readings of
all chosen arms, each AI arm against the control, Holm-adjusted (analysis.multi_arm). The run is
started by analysis_runs.analysis_run_start(kind="compare_arms", arms=[...]) and performed here,
registered with analysis_runs.register_run_kind in ReaderstudyConfig.ready (so analysis_runs does
not import this module). Its results are exactly the command's results.json, its report the
command's report.html.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from readerstudy.models import AnalysisRun
from readerstudy.services.analysis_runs import AnalysisRunError

COMPARE_ARMS = "compare_arms"


def compare_arms_analysis(run: AnalysisRun, set_progress: Callable[[int], None]) -> tuple[dict, str]:
    """(results.json, report HTML) of a compare_arms run over the study's submitted readings."""
    from analysis.multi_arm import compare_arms
    from analysis.multi_arm_report import multi_arm_report
    from readerstudy.exports.tables import readings_table

    table = readings_table(run.study)
    if table.empty:
        raise AnalysisRunError("the study has no submitted readings yet")
    set_progress(30)
    result = compare_arms(table, outcome=run.params["outcome"], arms=run.params["arms"])
    set_progress(80)
    return result.to_dict(), multi_arm_report(result)


def _num(value: float | None, digits: int = 3) -> str:
    return "not estimable" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "not estimable"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _readers(n: int | None) -> str:
    return f"{n} reader" if n == 1 else f"{n} readers"


def compare_arms_headline(results: dict) -> list[str]:
    """A few sentences with the main numbers of a compare_arms run (the rest is in the report)."""
    block = results.get("multi_arm") or {}
    control = block.get("control") or results.get("control")
    lines = [f"{results.get('n_readers')} readers, {results.get('n_cases')} cases, "
             f"{results.get('n_readings')} readings; control: {control}."]
    means = "; ".join(f"{arm} {_num(entry.get('mean'))} ({_readers(entry.get('n_readers'))})"
                      for arm, entry in (block.get("per_arm") or {}).items())
    lines.append(f"Mean over readers: {means}.")
    glmm = block.get("glmm") or {}
    if not glmm:
        return lines + ["The mixed model was not fitted."]
    if glmm.get("error"):
        return lines + [f"The mixed model is not estimable: {glmm['error']}"]
    effect = "odds ratio" if glmm.get("effect") == "odds_ratio" else "difference in means"
    for arm, c in (glmm.get("contrasts") or {}).items():
        if not c.get("estimable", True):
            reason = str(c.get("reason") or "not estimable")
            lines.append(f"{arm} vs {control}: {reason if reason.startswith('not estimable') else 'not estimable: ' + reason}.")
            continue
        lines.append(f"{arm} vs {control}: {effect} {_num(c.get('estimate'))} (95 % CI {_num(c.get('ci_low'))} – "
                     f"{_num(c.get('ci_high'))}), p {_p(c.get('p_value'))}, Holm-adjusted p "
                     f"{_p(c.get('p_value_holm'))}.")
    lrt = glmm.get("lrt")
    if lrt:
        lines.append(f"All arms equal (likelihood-ratio test, {lrt.get('df')} df): p {_p(lrt.get('p_value'))}.")
    return lines
