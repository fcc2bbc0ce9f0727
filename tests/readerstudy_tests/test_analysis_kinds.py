"""Reliance and agreement analyses started from the web app's analyses page (eager Celery)."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from readerstudy.models import AnalysisRun, Arm, Reading, Role, ScheduleItem, StudyStatus
from readerstudy.services.analysis_runs import AnalysisRunError, analysis_run_start
from tests.factories import CaseFactory, MembershipFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sequential_study():
    """8 readers x 12 cases; phase 2 shows an AI that is right on 8 of 12 cases and readers often follow it."""
    rng = random.Random(3)
    study = StudyFactory(status=StudyStatus.LAUNCHED)
    unaided = Arm.objects.create(study=study, name="unaided", label="Unaided", kind="unaided", order=0)
    ai = Arm.objects.create(study=study, name="ai", label="AI", kind="ai", order=1)
    cases = [CaseFactory(case_set=study.case_set, fitzpatrick=2 + 3 * (i % 2)) for i in range(12)]
    codes = list(study.case_set.taxonomy.conditions.values_list("code", flat=True))
    now = timezone.now()
    planned = []
    for r in range(8):
        membership = MembershipFactory(study=study, reader_index=r)
        for c, case in enumerate(cases):
            truth = case.reference.code
            ai_code = truth if c < 8 else next(x for x in codes if x != truth)
            first = truth if rng.random() < 0.5 else rng.choice([x for x in codes if x != truth])
            second = ai_code if rng.random() < 0.7 else first
            for phase, arm, answer, snapshot in ((1, unaided, first, {}),
                                                 (2, ai, second, {"items": [{"rank": 1, "code": ai_code}]})):
                item = ScheduleItem(study=study, membership=membership, case=case, arm=arm,
                                    position=2 * c + phase - 1, phase=phase)
                planned.append((item, answer, snapshot))
    ScheduleItem.objects.bulk_create([item for item, _, _ in planned])
    items = {(i.membership_id, i.position): i for i in ScheduleItem.objects.filter(study=study)}
    Reading.objects.bulk_create([
        Reading(schedule_item=items[(item.membership_id, item.position)], idempotency_key=uuid.uuid4(),
                differential=[answer], confidence=rng.randint(1, 5), management="refer", ai_snapshot=snapshot,
                shown_at=now, submitted_at=now + timedelta(seconds=20))
        for item, answer, snapshot in planned
    ])
    coordinator = MembershipFactory(study=study, role=Role.COORDINATOR)
    return study, coordinator.user


def test_reliance_run_from_the_page(sequential_study, client, django_capture_on_commit_callbacks):
    study, coordinator = sequential_study
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/studies/{study.slug}/analysis/", {
            "kind": "reliance", "outcome": "correct_top1", "control": "unaided", "treatment": "ai"})
    run = AnalysisRun.objects.get(study=study)
    assert response.status_code == 302 and run.kind == "reliance"
    run.refresh_from_db()
    assert run.status == "done", run.error
    block = run.results["reliance"]
    assert block["design"] == "sequential" and block["n_pairs"] == 96
    assert block["agreement_with_ai"]["final"] > block["agreement_with_ai"]["initial"]
    page = client.get(f"/studies/{study.slug}/analysis/{run.pk}/")
    assert page.status_code == 200 and b"AI wrong: accuracy" in page.content
    report = client.get(f"/studies/{study.slug}/analysis/{run.pk}/report/")
    assert b'id="reliance"' in report.content
    assert client.get(f"/studies/{study.slug}/analysis/{run.pk}/results.json").json()["reliance"]["n_pairs"] == 96


def test_agreement_run(sequential_study, django_capture_on_commit_callbacks):
    study, coordinator = sequential_study
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator, kind="agreement", rating="confidence",
                                 weights="quadratic")
    run.refresh_from_db()
    assert run.status == "done", run.error
    block = run.results["agreement"]
    assert set(block["inter_reader"]) == {"unaided", "ai", "difference"}
    assert block["icc"]["ai"]["n_readers"] == 8 and block["weights"] == "quadratic"


def test_page_offers_the_kinds(sequential_study, client):
    study, coordinator = sequential_study
    client.force_login(coordinator)
    page = client.get(f"/studies/{study.slug}/analysis/").content.decode()
    assert 'value="reliance"' in page and 'value="agreement"' in page


def test_unknown_kind_and_rating_refused(sequential_study):
    study, coordinator = sequential_study
    with pytest.raises(AnalysisRunError, match="unknown analysis"):
        analysis_run_start(study=study, actor=coordinator, kind="astrology")
    with pytest.raises(AnalysisRunError, match="unknown rating"):
        analysis_run_start(study=study, actor=coordinator, kind="agreement", rating="height")
    assert not AnalysisRun.objects.exists()


def test_compare_with_ordinal_family_and_interaction(sequential_study, django_capture_on_commit_callbacks):
    study, coordinator = sequential_study
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator, outcome="confidence", family="ordinal",
                                 interaction="case_fitzpatrick")
    run.refresh_from_db()
    assert run.status == "done", run.error
    assert run.params["family"] == "ordinal" and len(run.results["clmm"]["thresholds"]) == 4
    assert set(run.results["interaction"]["levels"]) == {"2", "5"}
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/studies/{study.slug}/analysis/{run.pk}/").content.decode()
    assert "Ordinal mixed model (CLMM" in page and "levels of case_fitzpatrick" in page
    with django_capture_on_commit_callbacks(execute=True):  # every reader in one group: a clear failure
        failed = analysis_run_start(study=study, actor=coordinator, interaction="reader_group")
    failed.refresh_from_db()
    assert failed.status == "failed" and "fewer than two levels of 'reader_group'" in failed.error


def test_unknown_family_refused(sequential_study):
    study, coordinator = sequential_study
    with pytest.raises(AnalysisRunError, match="unknown family"):
        analysis_run_start(study=study, actor=coordinator, family="poisson")
    with pytest.raises(AnalysisRunError, match="unknown interaction"):
        analysis_run_start(study=study, actor=coordinator, interaction="password")
