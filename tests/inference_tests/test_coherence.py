"""Faulty AI is coherent: the gauge follows the displayed vector, the gallery's vote follows its top-1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from inference.core.coherence import (
    TOP1_LED,
    TOP1_SHORT,
    agreement,
    coherent_galleries,
    displayed_probabilities,
    displayed_top1,
    gauge_for_display,
)
from inference.core.malignancy import study_threshold
from inference.core.neighbours import LibraryImage, QueryCase, ReferenceLibrary
from inference.core.simulated import SimulatedAssistant

CODES = ["MEL", "NEV", "SK", "BCC"]
MALIGNANT = {"MEL", "BCC"}

# Angles from the query and cosines: MEL 12° .978148, 20° .939693, 25° .906308; SK 30° .866025;
# NEV 40° .766044, 50° .642788, 60° .5, 70° .342020.
LIBRARY = [(12, "MEL"), (20, "MEL"), (25, "MEL"), (30, "SK"), (40, "NEV"), (50, "NEV"), (60, "NEV"), (70, "NEV")]


def library() -> ReferenceLibrary:
    vectors = np.stack([[np.cos(np.deg2rad(a)), np.sin(np.deg2rad(a)), 0.0] for a, _ in LIBRARY])
    images = [LibraryImage(f"L{a}", f"s{a}", f"c{a}", code) for a, code in LIBRARY]
    return ReferenceLibrary.build(images=images, embeddings=vectors)


def case(key: str = "Q") -> QueryCase:
    return QueryCase(key, np.array([[1.0, 0.0, 0.0]]), ("q",))


def test_faulty_vector_drops_the_hidden_reference_and_the_gauge_follows_it():
    model = [0.6, 0.2, 0.15, 0.05]
    shown = displayed_probabilities(CODES, model, hidden="MEL")
    assert_allclose(shown, [0.0, 0.5, 0.375, 0.125])
    assert displayed_top1(CODES, shown) == "NEV"
    gauge = gauge_for_display(CODES, shown, malignant=MALIGNANT, threshold=study_threshold(0.5, scale="raw"))
    assert_allclose(gauge.value, 0.125)  # BCC only; the hidden melanoma's .6 is gone (it was .65)
    assert not gauge.malignant
    assert agreement(top1="NEV", top1_malignant=False, gauge=gauge)["gauge_flag_matches_top1"] is True
    assert displayed_probabilities(CODES, model) == pytest.approx(model)
    with pytest.raises(ValueError, match="nothing left"):
        displayed_probabilities(["MEL", "NEV"], [1.0, 0.0], hidden="MEL")


def test_simulated_faulty_prediction_moves_the_gauge_with_its_wrong_top1():
    assistant = SimulatedAssistant(accuracy=1.0, faulty_rate=1.0, seed=2)
    prediction = assistant.predict("case-1", "MEL", CODES)
    top1 = displayed_top1(CODES, prediction.probabilities)
    assert top1 != "MEL" and prediction.details["faulty"]
    gauge = gauge_for_display(CODES, prediction.probabilities, malignant=MALIGNANT,
                              threshold=study_threshold(0.5, scale="raw"))
    expected = sum(p for c, p in zip(CODES, prediction.probabilities, strict=True) if c in MALIGNANT)
    assert_allclose(gauge.raw_value, expected)


def test_gallery_of_a_wrong_top1_is_led_by_that_diagnosis_and_its_vote_wins():
    (nearest,) = coherent_galleries([case()], library(), top1=["MEL"], n=4)
    assert nearest.rule == "nearest"  # the vote already agrees: the gallery is the plain search
    assert [nb.image_id for nb in nearest.neighbours] == ["L12", "L20", "L25", "L30"]

    (faulty,) = coherent_galleries([case()], library(), top1=["NEV"], n=4)
    # m = 1: NEV .766044 vs MEL 2.824149; m = 2: 1.408832 vs 1.917841; m = 3: 1.908832 vs .978148 -> NEV wins.
    assert faulty.rule == TOP1_LED
    assert [nb.image_id for nb in faulty.neighbours] == ["L40", "L50", "L60", "L12"]
    assert [nb.rank for nb in faulty.neighbours] == [1, 2, 3, 4]
    assert_allclose([nb.similarity for nb in faulty.neighbours], [0.766044, 0.642788, 0.5, 0.978148], atol=1e-6)
    assert faulty.vote.winner == "NEV"
    assert_allclose(faulty.vote.share("NEV"), 1.908832 / (1.908832 + 0.978148), atol=1e-6)
    assert agreement(top1="NEV", top1_malignant=False, neighbours=faulty)["gallery_vote_is_top1"] is True
    assert json.loads(json.dumps(faulty.as_dict()))["rule"] == "top1_led"


def test_gallery_says_so_when_the_library_lacks_images_of_the_top1():
    (short,) = coherent_galleries([case()], library(), top1=["SK"], n=4)
    # One SK image, already in the plain gallery: SK .866025 cannot beat MEL's three.
    assert short.rule == TOP1_SHORT
    assert [nb.image_id for nb in short.neighbours] == ["L30", "L12", "L20", "L25"]
    assert short.vote.winner == "MEL"
    assert agreement(top1="SK", top1_malignant=False, neighbours=short)["gallery_vote_is_top1"] is False


def test_many_cases_only_searched_again_where_needed():
    results = coherent_galleries([case("A"), case("B")], library(), top1=["MEL", "NEV"], n=4)
    assert [r.rule for r in results] == ["nearest", TOP1_LED]
    assert [r.case_key for r in results] == ["A", "B"]
