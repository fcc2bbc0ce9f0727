"""The analysis pages for a statistician: MRMC as a choice with its result on the page, runs that return
at once (a thread in eager mode), and numbers never shown without the warning that qualifies them."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from readerstudy.models import AnalysisRun, Arm, Reading, Role, ScheduleItem, StudyStatus
from readerstudy.services import analysis_runs
from readerstudy.services.analysis_runs import AnalysisRunError, analysis_run_start
from readerstudy.views.analysis_summary import glmm_row, model_rows
from tests.factories import CaseFactory, MembershipFactory, StudyFactory

pytestmark = pytest.mark.django_db


def _study(*, split_plot: bool = False):
    """8 readers x 24 cases, unaided then AI, with malignancy scores; split_plot: readers 0-3 read cases
    0-11 and readers 4-7 cases 12-23 (both arms)."""
    rng = random.Random(3)
    study = StudyFactory(status=StudyStatus.LAUNCHED)
    unaided = Arm.objects.create(study=study, name="unaided", label="Unaided", kind="unaided", order=0)
    ai = Arm.objects.create(study=study, name="ai", label="AI", kind="ai", order=1)
    cases = [CaseFactory(case_set=study.case_set) for _ in range(24)]
    now = timezone.now()
    planned = []
    for r in range(8):
        membership = MembershipFactory(study=study, reader_index=r)
        for c, case in enumerate(cases):
            if split_plot and (r < 4) != (c < 12):
                continue
            for phase, arm, shift in ((1, unaided, 15), (2, ai, 30)):
                item = ScheduleItem(study=study, membership=membership, case=case, arm=arm,
                                    position=2 * c + phase - 1, phase=phase)
                malignant = case.reference.malignant
                score = max(0, min(100, int(rng.gauss(50 + (shift if malignant else -shift), 20))))
                code = case.reference.code if rng.random() < (0.5 if phase == 1 else 0.7) else "PSO"
                planned.append((item, code, score))
    ScheduleItem.objects.bulk_create([item for item, _, _ in planned])
    items = {(i.membership_id, i.position): i for i in ScheduleItem.objects.filter(study=study)}
    Reading.objects.bulk_create([
        Reading(schedule_item=items[(item.membership_id, item.position)], idempotency_key=uuid.uuid4(),
                differential=[code], confidence=3, management="refer", malignancy_score=score, shown_at=now,
                submitted_at=now + timedelta(seconds=20))
        for item, code, score in planned
    ])
    coordinator = MembershipFactory(study=study, role=Role.COORDINATOR)
    return study, coordinator.user


def test_mrmc_is_a_choice_and_its_result_is_on_the_page(client, django_capture_on_commit_callbacks):
    study, coordinator = _study()
    client.force_login(coordinator)
    page = client.get(reverse("analysis:list", args=[study.slug])).content.decode()
    assert 'value="mrmc"' in page and "fully crossed</strong> design" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("analysis:list", args=[study.slug]), {
            "kind": "mrmc", "outcome": "correct_top1", "control": "unaided", "treatment": "ai", "method": "ustat",
            "fom": "auc", "margin": "0.05"})
    assert response.status_code == 302
    run = AnalysisRun.objects.get(study=study)
    assert run.status == "done", run.error
    payload = run.results["mrmc"]
    assert payload["method"] == "ustat" and payload["design"]["kind"] == "fully_crossed"
    assert payload["ustat"]["difference"]["estimate"] > 0
    detail = client.get(response["Location"]).content.decode()
    assert "MRMC result" in detail and "U-statistics" in detail and "Fully crossed design" in detail
    assert "Non-inferiority" in detail and payload["non_inferiority"]["decision"] in detail
    assert "Analysis started" not in detail  # the status badge says where the run is


def test_split_plot_study_offers_only_the_valid_methods_and_orh_is_refused(client, django_capture_on_commit_callbacks):
    study, coordinator = _study(split_plot=True)
    client.force_login(coordinator)
    page = client.get(reverse("analysis:list", args=[study.slug])).content.decode()
    assert "split-plot with 2 blocks</strong> design" in page
    assert 'value="splitplot"' in page and 'value="orh"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator, kind="mrmc", method="auto", fom="auc")
    run.refresh_from_db()
    assert run.status == "done" and run.results["mrmc"]["method"] == "splitplot"
    with django_capture_on_commit_callbacks(execute=True):
        refused = analysis_run_start(study=study, actor=coordinator, kind="mrmc", method="orh", fom="auc")
    refused.refresh_from_db()
    assert refused.status == "failed" and "split-plot with 2 blocks" in refused.error


def test_mrmc_parameters_are_checked():
    study, coordinator = _study()
    with pytest.raises(AnalysisRunError, match="percent correct needs a 0/1 outcome"):
        analysis_run_start(study=study, actor=coordinator, kind="mrmc", fom="percent_correct", outcome="confidence")
    with pytest.raises(AnalysisRunError, match="margin must be between 0 and 1"):
        analysis_run_start(study=study, actor=coordinator, kind="mrmc", margin=5)


@pytest.mark.django_db(transaction=True)
def test_eager_mode_runs_after_the_response_in_a_thread(client, settings, monkeypatch):
    """Without a broker, "Run analysis" redirects before the analysis runs; the page shows its progress."""
    settings.ANALYSIS_EAGER_THREAD = True
    study, coordinator = _study()
    release = threading.Event()
    started: list[threading.Thread] = []
    real_perform = analysis_runs.analysis_run_perform

    def slow_perform(*, run_id):
        release.wait(10)
        real_perform(run_id=run_id)

    def start(run_id):
        started.append(threading.Thread(target=analysis_runs._perform_in_thread, args=(run_id,)))
        started[-1].start()

    monkeypatch.setattr(analysis_runs, "analysis_run_perform", slow_perform)
    monkeypatch.setattr(analysis_runs, "_start_thread", start)
    client.force_login(coordinator)
    response = client.post(reverse("analysis:list", args=[study.slug]),
                           {"kind": "compare", "outcome": "correct_top1", "control": "unaided", "treatment": "ai"})
    assert response.status_code == 302
    run = AnalysisRun.objects.get(study=study)
    assert run.status == "pending"  # the request returned before the analysis ran
    page = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Done" not in page
    release.set()
    started[0].join(60)
    run.refresh_from_db()
    assert run.status == "done", run.error


# --- numbers with their warnings --------------------------------------------------------------


def _glmm(family="binomial", estimate=1.8, low=1.1, high=2.9, **extra):
    effect = {"estimate": estimate, "ci_low": low, "ci_high": high, "p_value": 0.01}
    return {"family": family, "formula": "y ~ arm + (1|reader)", "converged": True, "error": None,
            "treatment_odds_ratio": effect if family == "binomial" else {"estimate": None},
            "treatment_effect": effect if family != "binomial" else {},
            "random_effects": [{"group": "reader", "variance": 0.3}], "warnings": [], **extra}


def test_glmm_row_names_the_effect_by_family_and_flags_problems():
    assert glmm_row(_glmm())["label"] == "Mixed-model odds ratio"
    gaussian = glmm_row(_glmm(family="gaussian", estimate=0.4, low=0.1, high=0.7))
    assert gaussian["label"] == "Mixed-model difference in means" and gaussian["estimate"] == 0.4
    separated = glmm_row(_glmm(estimate=3.2e6, low=0.5, high=None))
    assert not separated["estimable"] and "separation" in separated["reason"]
    failed = glmm_row(_glmm(error="singular Hessian"))
    assert not failed["estimable"] and "not estimable" in failed["reason"]
    boundary = glmm_row(_glmm(converged=False, random_effects=[{"group": "case:arm", "variance": 0.0}]))
    assert boundary["estimable"]
    assert any("did not converge" in w for w in boundary["warnings"])
    assert any("case:arm variance is estimated as 0" in w for w in boundary["warnings"])


def test_results_page_shows_the_warning_next_to_an_absurd_odds_ratio(client):
    study, coordinator = _study()
    results = {"n_readers": 8, "n_cases": 24, "n_readings": 384, "outcome": "correct_top1",
               "reader_level": {"control": {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0}},
               "glmm": _glmm(estimate=4.1e9, low=0.2, high=None,
                             random_effects=[{"group": "reader", "variance": 0.0}]),
               "warnings": []}
    run = AnalysisRun.objects.create(study=study, kind="compare", status="done", results=results,
                                     params={"outcome": "correct_top1", "control": "unaided", "treatment": "ai"})
    client.force_login(coordinator)
    page = client.get(reverse("analysis:detail", args=[study.slug, run.pk])).content.decode()
    row = page[page.index('class="glmm-row"'):]
    row = row[: row.index("</tr>")]
    assert "not estimable" in row and "separation" in row and "4100000000" not in row
    assert "reader variance is estimated as 0" in row


def test_gaussian_outcome_is_a_difference_in_means_on_the_page(client, django_capture_on_commit_callbacks):
    study, coordinator = _study()
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator, outcome="malignancy_score")
    run.refresh_from_db()
    assert run.status == "done", run.error
    client.force_login(coordinator)
    page = client.get(reverse("analysis:detail", args=[study.slug, run.pk])).content.decode()
    assert "difference in means" in page and "odds ratio" not in page.lower()


def test_model_beside_readers_follows_the_outcome():
    model = {"top1": {"value": 0.7}, "top3": {"value": 0.9}, "malignant_auc": {"value": 0.88},
             "arms": {"ai": {"n_readers": 8, **{k: {"readers_mean": {"value": v}, "difference": {},
                                                    "readers_beaten": {"n": 1}} for k, v in (("top1", .6), ("top3", .8))}}}}
    assert model_rows(model, "correct_top3", None)["arms"][0]["readers"]["value"] == 0.8
    assert model_rows(model, "correct_top1", None)["label"] == "top-1 accuracy"
    auc = model_rows(model, "malignancy_score", {"auc": {"ai": {"mean": 0.81}}})
    assert auc["kind"] == "auc" and auc["readers_auc"] == {"ai": 0.81}
    assert "compared on the top-1 diagnosis" in model_rows(model, "management_appropriate", None)["note"]


def test_mrmc_run_sets_the_model_beside_the_readers(client, monkeypatch, django_capture_on_commit_callbacks):
    import pandas as pd

    from readerstudy.services import analysis_runs

    study, coordinator = _study()
    cases = list(study.case_set.cases.all())
    table = pd.DataFrame({"case": [c.key for c in cases], "model_top1": "", "model_top3": "",
                          "model_malignant_score": [0.8 if c.reference.malignant else 0.3 for c in cases]})
    monkeypatch.setattr(analysis_runs, "model_benchmark_table", lambda s: table)
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator, kind="mrmc", fom="auc")
    run.refresh_from_db()
    assert run.status == "done", run.error
    block = run.results["mrmc"]["model_vs_readers"]
    assert set(block) == {"unaided", "ai"} and block["ai"]["model_auc"] == 1.0
    client.force_login(coordinator)
    page = client.get(reverse("analysis:detail", args=[study.slug, run.pk])).content.decode()
    assert "Model versus the readers" in page and "1T-RRRC" in page
