"""The demo reference library's plan (pure): which conditions, how many cases, whose lesions."""

from __future__ import annotations

from readerstudy.demo.library import condition_weights, library_plan, study_case_ids


def test_weights_count_references_and_first_ranks_twice_second_ranks_once():
    weights = condition_weights(["MEL", "MEL", "BCC"], [["MEL", "NEV", "SK"], ["NEV", "MEL"], ["BCC", "SCC"]])
    # MEL: 2 + 2 (references) + 2 (1st) + 1 (2nd); NEV: 1 (2nd) + 2 (1st); BCC: 2 (reference) + 2 (1st);
    # SCC: 1 (2nd); SK is third, so it weighs nothing.
    assert weights == {"MEL": 7, "BCC": 4, "NEV": 3, "SCC": 1}


def test_plan_gives_two_cases_to_weighty_conditions_then_follow_ups():
    study = [("DEMO-00001", "MEL", 2), ("DEMO-00002", "BCC", 5)]
    plan = library_plan({"MEL": 6, "BCC": 3, "NEV": 2, "SCC": 1}, study_cases=study, seed=1, follow_ups=1)
    assert [e.condition for e in plan] == ["MEL", "MEL", "BCC", "BCC", "NEV", "NEV", "SCC", "MEL"]
    assert [e.key for e in plan] == [f"LIB-{i:04d}" for i in range(1, 9)]
    # Patients: every fourth comes back with a second lesion (cases 1 and 2, 5 and 6 share a patient).
    assert [e.patient_id[-2:] for e in plan[:7]] == ["01", "01", "03", "04", "05", "05", "07"]
    assert len({e.lesion_id for e in plan}) == 8
    follow_up = plan[-1]
    assert follow_up.follow_up_of == "DEMO-00001" and follow_up.skin_tone == 2
    assert (follow_up.patient_id, follow_up.lesion_id) == tuple(study_case_ids("DEMO-00001").values())


def test_plan_respects_the_cap_strongest_first():
    plan = library_plan({"A": 1, "B": 5, "C": 5, "D": 2}, study_cases=[], seed=0, max_cases=5)
    assert [e.condition for e in plan] == ["B", "B", "C", "C", "D"]
    assert library_plan({"A": 1}, study_cases=[], seed=0, max_cases=0) == []
