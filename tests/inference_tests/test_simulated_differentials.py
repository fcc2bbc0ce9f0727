"""The simulated assistant's differentials read like a clinician's: look-alikes of the true condition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.core.lookalikes import FAMILIES, lookalikes
from inference.core.simulated import SimulatedAssistant

TAXONOMY = json.loads((Path(__file__).resolve().parents[2] / "catalog" / "data" / "taxonomy_default.json")
                      .read_text())["conditions"]
CODES = [c["code"] for c in TAXONOMY]
GROUPS = {c["code"]: c["group"] for c in TAXONOMY}


def test_families_use_shipped_codes_and_every_condition_has_lookalikes():
    listed = {code for family in FAMILIES.values() for code in family}
    assert listed <= set(CODES), sorted(listed - set(CODES))
    for code in CODES:
        assert len(lookalikes(code, CODES, GROUPS)) >= 3, code


@pytest.mark.parametrize("faulty_rate", [0.0, 0.5])
def test_wrong_top1_and_runner_ups_are_lookalikes_of_the_truth(faulty_rate):
    assistant = SimulatedAssistant(accuracy=0.6, faulty_rate=faulty_rate, seed=4)
    for i, truth in enumerate(CODES * 3):
        prediction = assistant.predict(f"case-{i}", truth, CODES, GROUPS)
        near = set(lookalikes(truth, CODES, GROUPS)) | {truth}
        shown = [code for code, _ in prediction.top(3)]
        assert set(shown) <= near, (truth, shown)


def test_melanoma_is_never_offered_acne_or_tinea():
    assistant = SimulatedAssistant(accuracy=0.5, seed=1)
    seen = set()
    for i in range(200):
        seen.update(code for code, _ in assistant.predict(f"m{i}", "MEL", CODES, GROUPS).top(3))
    assert {"NEV", "SK", "DN"} <= seen
    assert not seen & {"ACNE", "TINEA_CORPORIS", "PSO", "URT", "ONYCHOMYCOSIS"}


def test_unknown_codes_fall_back_to_the_same_group():
    codes = ["A1", "A2", "A3", "B1", "B2", "B3"]
    groups = {"A1": "a", "A2": "a", "A3": "a", "B1": "b", "B2": "b", "B3": "b"}
    assistant = SimulatedAssistant(accuracy=0.0, seed=2)
    for i in range(50):
        top1 = assistant.predict(f"x{i}", "A1", codes, groups).top(1)[0][0]
        assert top1 in {"A2", "A3"}
