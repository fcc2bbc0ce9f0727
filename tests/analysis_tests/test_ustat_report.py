"""Reports say what they estimate: the effect named by family, proportions' intervals named, warnings
beside the numbers, readable column names (issue 17, statistician)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.compare import compare
from analysis.html import column_label, html_table
from analysis.mixed import MixedModelSummary, TreatmentEffect
from analysis.report import compare_report, methods_text, mixed_model_section
from analysis.roe_metz import RoeMetz, simulate_roe_metz
from analysis.simulate import StudySpec, simulate_study
from analysis.ustat import ustat
from analysis.ustat_report import ustat_report


def _result(outcome: str):
    data = simulate_study(StudySpec(n_readers=6, n_cases=12), seed=3)
    return compare(data, outcome=outcome, control="unaided", treatment="ai", fit_glmm=False)


def _glmm(family: str, estimate: float, low: float, high: float, variance: float = 0.4) -> MixedModelSummary:
    effect = TreatmentEffect(estimate, low, high, 0.01)
    return MixedModelSummary(
        formula="y ~ arm + (1|reader) + (1|case)", family=family, method="laplace", converged=True,
        log_likelihood=-100.0, n_obs=144, fixed_effects=(), random_effects=({"group": "reader", "variance": variance},),
        treatment_odds_ratio=effect if family == "binomial" else None, treatment_effect=effect, lrt=None,
        arm_estimates=(),
    )


def test_gaussian_methods_say_difference_in_means_and_binary_names_the_logit_interval():
    gaussian = dataclasses.replace(_result("confidence"), glmm=_glmm("gaussian", 0.3, 0.1, 0.5))
    assert "a difference in means" in methods_text(gaussian) and "odds ratio" not in methods_text(gaussian)
    assert "Difference in means" in mixed_model_section(gaussian)
    binary = dataclasses.replace(_result("correct_top1"), glmm=_glmm("binomial", 1.8, 1.2, 2.7))
    assert "an odds ratio" in methods_text(binary) and "logit scale" in methods_text(binary)


def test_separated_odds_ratio_is_reported_as_not_estimable_with_the_boundary_warning():
    result = dataclasses.replace(_result("correct_top1"), glmm=_glmm("binomial", 5.0e8, 0.3, np.inf, variance=0.0))
    section = mixed_model_section(result)
    assert "not estimable" in section and "separation" in section
    assert "500000000" not in section and "reader variance is estimated as 0" in section
    assert "not estimable" in compare_report(result)


def test_report_tables_use_readable_column_names():
    head = html_table(pd.DataFrame([{"ci_low": 0.1, "ci_high": 0.2, "p_value": 0.03, "n_readers": 4}]))
    assert "<th>95 % CI low</th>" in head and "<th>p</th>" in head and "<th>Readers</th>" in head
    assert column_label("control_mean") == "Control mean" and column_label("Figure of merit") == "Figure of merit"


def test_ustat_report_has_overview_ni_and_methods():
    data = simulate_roe_metz(RoeMetz(design="reader_subset"), np.random.default_rng(4))
    main = ustat(data, score="rating", truth="truth", control="0", treatment="1")
    ni = {"endpoint": "auc", "margin": 0.05, "alpha": 0.025, "bound": -0.01, "decision": "non-inferior",
          "p_value": 0.001}
    html = ustat_report(main, {}, ni)
    assert "Reader subset design" in html and "Non-inferiority (auc, margin 0.050" in html
    assert "valid for fully crossed, split-plot, reader-subset and unpaired designs" in html


def test_model_beside_readers_figure_follows_the_outcome(monkeypatch):
    from analysis import figures, report
    from tests.analysis_tests.test_model_benchmark import model_outputs, readings_table

    drawn = []
    monkeypatch.setattr(figures, "model_beside_readers", lambda b, labels, outcomes: drawn.append(outcomes) or "")
    monkeypatch.setattr(figures, "roc_curves", lambda *a: drawn.append("roc") or "")
    readings = readings_table()
    for outcome, expected in (("correct_top1", ("top1",)), ("correct_top3", ("top3",)),
                              ("malignancy_score", "roc"), ("management_appropriate", ("top1", "top3"))):
        drawn.clear()
        if outcome not in readings.columns:
            readings[outcome] = 1
        result = compare(readings, outcome=outcome, control="unaided", treatment="ai", fit_glmm=False,
                         model_outputs=model_outputs())
        section = report.model_section(result)
        assert drawn[0] == expected, outcome
        if outcome == "management_appropriate":
            assert "gives no" in section
