"""Analyses started from the web app run as Celery tasks (eager here) and show their results."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from readerstudy.models import AnalysisRun, Arm, Reading, Role, ScheduleItem, StudyStatus
from readerstudy.services.analysis_runs import AnalysisRunError, analysis_run_start
from tests.factories import CaseFactory, MembershipFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def study_with_readings():
    """12 readers x 16 cases, sequential: phase 1 unaided, phase 2 AI; AI raises accuracy 0.45 -> 0.75."""
    rng = random.Random(7)
    study = StudyFactory(status=StudyStatus.LAUNCHED)
    unaided = Arm.objects.create(study=study, name="unaided", label="Unaided", kind="unaided", order=0)
    ai = Arm.objects.create(study=study, name="ai", label="AI", kind="ai", order=1)
    cases = [CaseFactory(case_set=study.case_set) for _ in range(16)]
    codes = list(study.case_set.taxonomy.conditions.values_list("code", flat=True))
    now = timezone.now()
    planned = []
    for r in range(12):
        membership = MembershipFactory(study=study, reader_index=r)
        for c, case in enumerate(cases):
            for phase, arm, p in ((1, unaided, 0.45), (2, ai, 0.75)):
                item = ScheduleItem(study=study, membership=membership, case=case, arm=arm,
                                    position=2 * c + phase - 1, phase=phase)
                truth = case.reference.code
                first = truth if rng.random() < p else rng.choice([x for x in codes if x != truth])
                planned.append((item, first))
    ScheduleItem.objects.bulk_create([item for item, _ in planned])
    items = {(i.membership_id, i.position): i for i in ScheduleItem.objects.filter(study=study)}
    readings = [
        Reading(schedule_item=items[(item.membership_id, item.position)], idempotency_key=uuid.uuid4(),
                differential=[first], confidence=3, management="refer", shown_at=now,
                submitted_at=now + timedelta(seconds=20))
        for item, first in planned
    ]
    Reading.objects.bulk_create(readings)
    coordinator = MembershipFactory(study=study, role=Role.COORDINATOR)
    return study, coordinator.user


def test_run_computes_and_stores_results_and_report(study_with_readings, client, django_capture_on_commit_callbacks):
    study, coordinator = study_with_readings
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator)  # eager Celery: runs on commit
    run.refresh_from_db()
    assert run.status == "done", run.error
    results = run.results
    assert (results["n_readers"], results["n_cases"], results["n_readings"]) == (12, 16, 384)
    level = results["reader_level"]
    assert level["treatment"]["mean"] > level["control"]["mean"]
    assert results["glmm"]["treatment_odds_ratio"]["estimate"] > 1
    client.force_login(coordinator)
    page = client.get(f"/studies/{study.slug}/analysis/{run.pk}/")
    assert page.status_code == 200 and b"Headline results" in page.content
    report = client.get(f"/studies/{study.slug}/analysis/{run.pk}/report/")
    assert report.status_code == 200 and b"<html" in report.content.lower()
    download = client.get(f"/studies/{study.slug}/analysis/{run.pk}/results.json")
    assert download.json()["outcome"] == "correct_top1"


def test_start_from_page_and_poll_stops_when_done(study_with_readings, client, django_capture_on_commit_callbacks):
    study, coordinator = study_with_readings
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/studies/{study.slug}/analysis/", {"outcome": "correct_top1", "control": "unaided",
                                                                  "treatment": "ai"})
    run = AnalysisRun.objects.get(study=study)
    assert response.status_code == 302 and response["Location"].endswith(f"/analysis/{run.pk}/")
    poll = client.get(f"/studies/{study.slug}/analysis/{run.pk}/", HTTP_HX_REQUEST="true")
    assert poll.status_code == 286  # htmx: stop polling


def test_bad_parameters_are_refused(study_with_readings):
    study, coordinator = study_with_readings
    with pytest.raises(AnalysisRunError, match="unknown arm 'placebo'"):
        analysis_run_start(study=study, actor=coordinator, control="placebo")
    with pytest.raises(AnalysisRunError, match="unknown outcome"):
        analysis_run_start(study=study, actor=coordinator, outcome="height")
    assert not AnalysisRun.objects.exists()


def test_study_without_readings_fails_with_message(django_capture_on_commit_callbacks):
    study = StudyFactory()
    Arm.objects.create(study=study, name="unaided", label="Unaided", kind="unaided")
    Arm.objects.create(study=study, name="ai", label="AI", kind="ai")
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=None)
    run.refresh_from_db()
    assert run.status == "failed" and "no submitted readings" in run.error


@pytest.mark.parametrize("role,status", [(None, 404), (Role.READER, 404), (Role.STATISTICIAN, 200),
                                         (Role.COORDINATOR, 200)])
def test_analysis_pages_permissions(study_with_readings, client, role, status):
    study, _ = study_with_readings
    user = UserFactory()
    if role:
        MembershipFactory(study=study, user=user, role=role)
    client.force_login(user)
    assert client.get(f"/studies/{study.slug}/analysis/").status_code == status


def test_anonymous_is_sent_to_login(study_with_readings, client):
    study, _ = study_with_readings
    response = client.get(f"/studies/{study.slug}/analysis/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("value,shown", [(0.0000001, "< 0.001"), (0.0356, "0.036"), (None, "–"), ("x", "–")])
def test_pvalue_filter(value, shown):
    from readerstudy.templatetags.stats import pvalue

    assert pvalue(value) == shown
