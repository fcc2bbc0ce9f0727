"""Automation-bias arms: a set share of cases shows a deliberately wrong AI suggestion."""

from __future__ import annotations

import pytest

from readerstudy.models import Arm

# The display rule itself, for every item (without the open-item check).
from readerstudy.selectors.blinding import _ai_display as ai_display_for_item
from tests.readerstudy_tests.reader_setup import REFERENCE, build_study

pytestmark = pytest.mark.django_db


def correct_model(built):
    """Make the precomputed outputs rank the reference diagnosis first."""
    from inference.models import ModelOutput

    ModelOutput.objects.filter(model_version=built.model).update(
        probabilities={REFERENCE: 0.7, "PSO": 0.2, "TIN": 0.06, "SK": 0.04}, top_codes=[REFERENCE, "PSO", "TIN", "SK"]
    )
    return built


def ai_items(built):
    return [item for item in built.items if item.phase == 2]


def set_faulty_rate(built, rate: float) -> None:
    Arm.objects.filter(pk=built.ai.pk).update(assist={"top_k": 3, "show_probabilities": True, "faulty_rate": rate})
    for item in built.items:
        item.arm.refresh_from_db()


def test_no_faulty_rate_shows_the_model_output_unchanged():
    built = correct_model(build_study(n_cases=3))
    shown = [ai_display_for_item(item)["items"][0]["code"] for item in ai_items(built)]
    assert shown == [REFERENCE] * 3


def test_faulty_rate_one_never_shows_the_reference():
    built = correct_model(build_study(n_cases=4))
    set_faulty_rate(built, 1.0)
    for item in ai_items(built):
        codes = [row["code"] for row in ai_display_for_item(item)["items"]]
        assert REFERENCE not in codes and len(codes) == 3
        assert ai_display_for_item(item) == ai_display_for_item(item)  # same display on every view


def test_faulty_share_matches_the_rate():
    built = correct_model(build_study(n_cases=60))
    set_faulty_rate(built, 0.3)
    wrong = sum(ai_display_for_item(item)["items"][0]["code"] != REFERENCE for item in ai_items(built))
    # Deterministic per (seed, case): binomial(60, 0.3) has sd 3.5; allow 3 sd.
    assert 18 - 11 <= wrong <= 18 + 11
    assert 0 < wrong < 60
