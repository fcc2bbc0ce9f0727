"""The "compare_arms" analysis run: k arms in one mixed model from the web app (issue 14, "Analysis").

The readings are laid out so the numbers are known by hand: 8 readers read all 16 cases in each of
four arms, reader r correct on case c when

    unaided  (c + r) % 4 < 2   -> 1/2 of the cases for every reader and every case
    top1     (c + r) % 4 < 3   -> 3/4
    top3     (c + r) % 8 != 0  -> 7/8
    top5     (c + r) % 4 < 1   -> 1/4

so every reader's and every case's accuracy in an arm is the arm's accuracy: no reader, case,
reader x arm or case x arm variation for the random effects to take up, and the mixed model's
odds ratios against the unaided arm are the plain ones, (3/1)/(1/1) = 3, 7 and 1/3, with the
logistic-regression Wald SE of a log odds ratio sqrt(1/(n p1 q1) + 1/(n p0 q0)), n = 128 readings
per arm (top1: sqrt(1/24 + 1/32) = 0.27003).
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from numpy.testing import assert_allclose

from analysis.multi_arm import compare_arms
from analysis.results import to_jsonable
from readerstudy.exports.tables import readings_table
from readerstudy.models import AnalysisRun, Arm, Reading, Role, ScheduleItem, StudyStatus
from readerstudy.services.analysis_runs import AnalysisRunError, analysis_run_start
from readerstudy.services.arm_runs import compare_arms_headline
from tests.factories import CaseFactory, MembershipFactory, StudyFactory

pytestmark = pytest.mark.django_db

CORRECT = {
    "unaided": lambda c, r: (c + r) % 4 < 2,
    "top1": lambda c, r: (c + r) % 4 < 3,
    "top3": lambda c, r: (c + r) % 8 != 0,
    "top5": lambda c, r: (c + r) % 4 < 1,
}
ACCURACY = {"unaided": 0.5, "top1": 0.75, "top3": 0.875, "top5": 0.25}


@pytest.fixture
def four_arm_study():
    study = StudyFactory(status=StudyStatus.LAUNCHED, design="randomised_blocks")
    arms = {name: Arm.objects.create(study=study, name=name, label=name.title(),
                                     kind="unaided" if name == "unaided" else "ai", order=i)
            for i, name in enumerate(CORRECT)}
    cases = [CaseFactory(case_set=study.case_set) for _ in range(16)]
    codes = list(study.case_set.taxonomy.conditions.values_list("code", flat=True))
    planned = []
    for r in range(8):
        membership = MembershipFactory(study=study, reader_index=r)
        for a, (name, correct) in enumerate(CORRECT.items()):
            for c, case in enumerate(cases):
                truth = case.reference.code
                first = truth if correct(c, r) else next(x for x in codes if x != truth)
                item = ScheduleItem(study=study, membership=membership, case=case, arm=arms[name],
                                    position=16 * a + c, phase=1)
                planned.append((item, first))
    ScheduleItem.objects.bulk_create([item for item, _ in planned])
    items = {(i.membership_id, i.position): i for i in ScheduleItem.objects.filter(study=study)}
    now = timezone.now()
    Reading.objects.bulk_create([
        Reading(schedule_item=items[(item.membership_id, item.position)], idempotency_key=uuid.uuid4(),
                differential=[first], confidence=3, management="refer", shown_at=now,
                submitted_at=now + timedelta(seconds=20))
        for item, first in planned
    ])
    coordinator = MembershipFactory(study=study, role=Role.COORDINATOR)
    return study, coordinator.user


def _run(study, actor, captured, **kwargs) -> AnalysisRun:
    with captured(execute=True):
        run = analysis_run_start(study=study, actor=actor, kind="compare_arms", **kwargs)
    run.refresh_from_db()
    assert run.status == "done", run.error
    return run


def test_all_arms_against_the_unaided_control(four_arm_study, django_capture_on_commit_callbacks):
    study, coordinator = four_arm_study
    run = _run(study, coordinator, django_capture_on_commit_callbacks)  # no arms chosen: all of them
    assert run.params == {"outcome": "correct_top1", "arms": ["unaided", "top1", "top3", "top5"],
                          "control": "unaided", "treatment": "top1, top3, top5"}
    results = run.results
    assert (results["n_readers"], results["n_cases"], results["n_readings"]) == (8, 16, 512)
    block = results["multi_arm"]
    assert block["control"] == "unaided" and block["treatments"] == ["top1", "top3", "top5"]
    for arm, accuracy in ACCURACY.items():  # every reader's mean is the arm's accuracy
        assert_allclose(block["per_arm"][arm]["mean"], accuracy, atol=1e-12)
        assert block["per_arm"][arm]["n_readers"] == 8
    contrasts = block["glmm"]["contrasts"]
    # Hand-computed odds ratios (module docstring); the random-effect variances sit at ~0.
    assert_allclose([contrasts[a]["estimate"] for a in ("top1", "top3", "top5")], [3.0, 7.0, 1 / 3], rtol=2e-3)
    assert_allclose(contrasts["top1"]["se"], math.sqrt(1 / 24 + 1 / 32), rtol=1e-2)
    holm = [contrasts[a]["p_value_holm"] for a in ("top1", "top3", "top5")]
    raw = sorted((contrasts[a]["p_value"], a) for a in ("top1", "top3", "top5"))
    # Holm: the smallest p times 3, the next times 2 (kept monotone), the largest times 1.
    expected = {raw[0][1]: min(1, 3 * raw[0][0])}
    expected[raw[1][1]] = max(expected[raw[0][1]], min(1, 2 * raw[1][0]))
    expected[raw[2][1]] = max(expected[raw[1][1]], min(1, raw[2][0]))
    assert_allclose(holm, [expected[a] for a in ("top1", "top3", "top5")])
    # Stored exactly as `python -m analysis compare --arms unaided top1 top3 top5` writes results.json.
    direct = compare_arms(readings_table(study), outcome="correct_top1", arms=["unaided", "top1", "top3", "top5"])
    assert run.results == to_jsonable(direct.to_dict())
    assert run.report_path.endswith(f"/{run.pk}/report.html")


def test_chosen_arms_only_with_another_control(four_arm_study, django_capture_on_commit_callbacks):
    study, coordinator = four_arm_study
    run = _run(study, coordinator, django_capture_on_commit_callbacks, control="top1", arms=["top3", "top1"])
    assert run.params["arms"] == ["top1", "top3"]  # the control is not compared with itself
    contrasts = run.results["multi_arm"]["glmm"]["contrasts"]
    assert list(contrasts) == ["top3"]
    # (7/1) / (3/1) = 7/3 against the top1 control.
    assert_allclose(contrasts["top3"]["estimate"], 7 / 3, rtol=2e-3)
    assert run.results["n_readings"] == 256  # the other two arms' readings left out, and said so
    assert any("unaided" in w and "top5" in w for w in run.results["warnings"]), run.results["warnings"]


def test_bad_arm_choices_are_refused(four_arm_study):
    study, coordinator = four_arm_study
    with pytest.raises(AnalysisRunError, match="unknown arm 'placebo'"):
        analysis_run_start(study=study, actor=coordinator, kind="compare_arms", arms=["top1", "placebo"])
    with pytest.raises(AnalysisRunError, match="choose at least one arm to compare with the control"):
        analysis_run_start(study=study, actor=coordinator, kind="compare_arms", arms=["unaided"])
    assert not AnalysisRun.objects.exists()


def test_started_from_the_page_and_shown_with_its_headline(four_arm_study, client,
                                                          django_capture_on_commit_callbacks):
    study, coordinator = four_arm_study
    client.force_login(coordinator)
    page = client.get(f"/studies/{study.slug}/analysis/").content.decode()
    assert '<select name="arms"' in page and '<option value="top5" selected>' in page
    assert '<option value="unaided" selected>' not in page.split('<select name="arms"')[1].split("</select>")[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/studies/{study.slug}/analysis/", {
            "kind": "compare_arms", "outcome": "correct_top1", "control": "unaided", "treatment": "top1",
            "arms": ["top1", "top5"]})
    run = AnalysisRun.objects.get(study=study)
    assert response.status_code == 302 and response["Location"].endswith(f"/analysis/{run.pk}/")
    assert run.kind == "compare_arms" and run.params["arms"] == ["unaided", "top1", "top5"]
    detail = client.get(f"/studies/{study.slug}/analysis/{run.pk}/").content.decode()
    assert "correct_top1: top1, top5 vs unaided" in detail and "Headline results" in detail
    assert "top1 vs unaided: odds ratio 3.000" in detail and "top5 vs unaided: odds ratio 0.333" in detail
    report = client.get(f"/studies/{study.slug}/analysis/{run.pk}/report/").content.decode()
    assert "Mixed model: each AI arm against the control" in report
    listing = client.get(f"/studies/{study.slug}/analysis/").content.decode()
    assert "unaided vs top1, top5" in listing


def test_an_arm_without_readings_fails_the_run_with_its_name(four_arm_study, django_capture_on_commit_callbacks):
    study, coordinator = four_arm_study
    Arm.objects.create(study=study, name="cbir", label="Similar cases", kind="ai", order=9)
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator, kind="compare_arms", arms=["top1", "cbir"])
    run.refresh_from_db()
    assert run.status == "failed" and "cbir" in run.error, run.error


def test_headline_says_what_is_not_estimable():
    results = {"n_readers": 4, "n_cases": 6, "n_readings": 48, "control": "unaided", "multi_arm": {
        "control": "unaided",
        "per_arm": {"unaided": {"mean": 0.5, "n_readers": 4}, "top1": {"mean": None, "n_readers": 1}},
        "glmm": {"effect": "odds_ratio", "lrt": None, "contrasts": {
            "top1": {"estimable": False, "reason": "not estimable: (quasi-)separation"},
            "top3": {"estimable": True, "estimate": 2.5, "ci_low": 1.25, "ci_high": 5.0, "p_value": 0.0004,
                     "p_value_holm": 0.0123}}}}}
    assert compare_arms_headline(results) == [
        "4 readers, 6 cases, 48 readings; control: unaided.",
        "Mean over readers: unaided 0.500 (4 readers); top1 not estimable (1 reader).",
        "top1 vs unaided: not estimable: (quasi-)separation.",
        "top3 vs unaided: odds ratio 2.500 (95 % CI 1.250 – 5.000), p < 0.001, Holm-adjusted p 0.012.",
    ]
    failed = {**results, "multi_arm": {**results["multi_arm"], "glmm": {"error": "singular fit"}}}
    assert compare_arms_headline(failed)[-1] == "The mixed model is not estimable: singular fit"
    assert compare_arms_headline({**results, "multi_arm": {**results["multi_arm"], "glmm": None}})[-1] == (
        "The mixed model was not fitted.")


def test_a_constant_outcome_is_stored_as_not_estimable(four_arm_study, django_capture_on_commit_callbacks):
    study, coordinator = four_arm_study  # every reading has confidence 3
    run = _run(study, coordinator, django_capture_on_commit_callbacks, outcome="confidence", arms=["top1"])
    assert run.results["multi_arm"]["glmm"]["error"] == (
        "'confidence' has the same value in every reading: nothing to compare")
    assert compare_arms_headline(run.results)[-1] == (
        "The mixed model is not estimable: 'confidence' has the same value in every reading: nothing to compare")
