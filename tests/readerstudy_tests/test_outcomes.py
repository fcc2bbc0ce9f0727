"""Outcome definitions (DESIGN.md 5.1), as pure functions."""

from __future__ import annotations

import pytest

from readerstudy.core.outcomes import (
    correct_top_k,
    management_appropriate,
    management_harmful,
    management_rating,
    reading_outcome,
)

GROUPS = {
    "MEL": "malignant_neoplasm",
    "BCC": "malignant_neoplasm",
    "NEV": "benign_neoplasm",
    "SK": "benign_neoplasm",
    "PSO": "inflammatory",
}
MATRIX = {
    ("MEL", "reassure"): "dangerous",
    ("MEL", "biopsy_excise"): "optimal",
    ("MEL", "treat_locally"): "inappropriate",
    ("NEV", "monitor"): "appropriate",
    ("NEV", "reassure"): "optimal",
}


@pytest.mark.parametrize(
    ("differential", "k", "expected"),
    [
        (["MEL"], 1, True),
        (["NEV", "MEL"], 1, False),
        (["NEV", "MEL"], 3, True),
        (["NEV", "SK", "BCC", "MEL"], 3, False),  # fourth place does not count for top-3
        ([], 1, False),
    ],
)
def test_top_k_against_reference(differential, k, expected):
    assert correct_top_k(differential, "MEL", k) is expected


def test_generic_credit_for_same_group_only_when_enabled():
    assert correct_top_k(["BCC"], "MEL", 1, groups=GROUPS, generic=True) is True
    assert correct_top_k(["BCC"], "MEL", 1, groups=GROUPS, generic=False) is False
    assert correct_top_k(["NEV"], "MEL", 1, groups=GROUPS, generic=True) is False
    assert correct_top_k(["NEV", "SK", "BCC"], "MEL", 2, groups=GROUPS, generic=True) is False
    assert correct_top_k(["XXX"], "YYY", 1, groups=GROUPS, generic=True) is False  # unknown codes never match


def test_k_must_be_positive():
    with pytest.raises(ValueError):
        correct_top_k(["MEL"], "MEL", 0)


@pytest.mark.parametrize(
    ("truth", "management", "appropriate", "harmful"),
    [
        ("MEL", "biopsy_excise", True, False),  # optimal
        ("NEV", "monitor", True, False),  # appropriate
        ("MEL", "treat_locally", False, False),  # inappropriate
        ("MEL", "reassure", False, True),  # dangerous
        ("MEL", "", None, None),  # not answered
        ("PSO", "monitor", None, None),  # no cell in the matrix
    ],
)
def test_management(truth, management, appropriate, harmful):
    assert management_appropriate(truth, management, MATRIX) is appropriate
    assert management_harmful(truth, management, MATRIX) is harmful


def test_reading_outcome_combines_everything():
    outcome = reading_outcome(
        differential=["BCC", "MEL"],
        truth="MEL",
        management="reassure",
        groups=GROUPS,
        matrix=MATRIX,
        generic=True,
    )
    assert (outcome.correct_top1, outcome.correct_top3) == (True, True)
    assert (outcome.management_appropriate, outcome.management_harmful) == (False, True)
    assert management_rating("MEL", "reassure", MATRIX) == "dangerous"
