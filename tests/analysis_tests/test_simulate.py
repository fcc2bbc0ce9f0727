"""The simulated readings table: contract columns, designs and calibration of accuracies."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analysis.mixed import marginal_probability
from analysis.readings import READINGS_COLUMNS
from analysis.simulate import StudySpec, simulate_outcomes, simulate_study


def test_table_has_the_contract_columns_in_order():
    table = simulate_study(StudySpec(n_readers=4, n_cases=12), seed=0)
    assert tuple(table.columns) == READINGS_COLUMNS
    assert set(table["truth_malignant"]) == {0, 1}
    assert (table["correct_top3"] >= table["correct_top1"]).all()
    assert table["malignancy_score"].between(0, 100).all()
    assert table.loc[table["arm"] == "unaided", "ai_shown"].eq(0).all()


def test_intercepts_give_the_requested_marginal_accuracy():
    spec = StudySpec(control_accuracy=0.55, treatment_accuracy=0.7)
    b0, b1 = spec.intercepts()
    assert_allclose(marginal_probability(b0, spec.total_variance), 0.55, atol=1e-10)
    assert_allclose(marginal_probability(b1, spec.total_variance), 0.70, atol=1e-10)


def test_observed_accuracy_is_close_to_the_requested_one():
    spec = StudySpec(n_readers=40, n_cases=150, control_accuracy=0.55, treatment_accuracy=0.7)
    rates = np.mean(
        [
            simulate_outcomes(spec, np.random.default_rng(s)).groupby("arm")["correct"].mean()
            for s in range(4)
        ],
        axis=0,
    )
    assert_allclose(rates, [0.55, 0.70], atol=0.04)


@pytest.mark.parametrize("design", ["sequential", "crossover", "blocks", "parallel"])
def test_designs(design):
    spec = StudySpec(n_readers=6, n_cases=20, design=design)
    data = simulate_outcomes(spec, np.random.default_rng(0))
    per_reader_case = data.groupby(["reader", "case"]).size()
    arms_per_reader = data.groupby("reader")["arm"].nunique()
    if design in ("sequential", "crossover"):
        assert (per_reader_case == 2).all() and (arms_per_reader == 2).all()
    elif design == "blocks":
        assert (per_reader_case == 1).all()
        assert (data.groupby("case")["arm"].mean() == 0.5).all()  # balanced per case
    else:
        assert (arms_per_reader == 1).all()
        assert data.drop_duplicates("reader")["arm"].sum() == 3
    if design == "crossover":
        assert set(data["session"]) == {1, 2}


def test_spec_validation():
    with pytest.raises(ValueError, match="unknown design"):
        StudySpec(design="random")
    with pytest.raises(ValueError, match="treatment_accuracy"):
        StudySpec(treatment_accuracy=1.0)
