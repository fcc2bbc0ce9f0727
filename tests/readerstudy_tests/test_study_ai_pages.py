"""Precompute and evaluation pages: permission matrix and the htmx progress partial that stops polling."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from inference.models import JobStatus, PrecomputeJob
from inference.services import model_register_simulated
from readerstudy import models as m
from tests.factories import ArmFactory, MembershipFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    version = model_register_simulated(name="sim-views", accuracy=0.7)
    study = StudyFactory(model_version=version)
    ArmFactory(study=study, name="ai", label="AI", kind=m.ArmKind.AI)
    return study


def _client_for(client, who: str, study):
    if who == "anonymous":
        return client
    if who == "staff":
        user = UserFactory(is_staff=True)
    else:
        user = UserFactory()
        if who == "reader":
            MembershipFactory(study=study, user=user, role=m.Role.READER)
        elif who == "coordinator":
            MembershipFactory(study=study, user=user, role=m.Role.COORDINATOR)
        elif who == "statistician":
            MembershipFactory(study=study, user=user, role=m.Role.STATISTICIAN)
        elif who == "other_coordinator":
            MembershipFactory(study=StudyFactory(), user=user, role=m.Role.COORDINATOR)
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("who", "precompute", "evaluation"),
    [
        ("anonymous", 302, 302),
        ("reader", 404, 404),
        ("other_coordinator", 404, 404),
        ("statistician", 404, 200),
        ("coordinator", 200, 200),
        ("staff", 200, 200),
    ],
)
def test_permission_matrix(client, study, who, precompute, evaluation):
    client = _client_for(client, who, study)
    assert client.get(reverse("study_ai:precompute", args=[study.slug])).status_code == precompute
    assert client.get(reverse("study_ai:precompute_progress", args=[study.slug])).status_code == precompute
    assert client.get(reverse("study_ai:evaluation", args=[study.slug])).status_code == evaluation


def test_reader_cannot_start_a_precompute(client, study):
    client = _client_for(client, "reader", study)
    assert client.post(reverse("study_ai:precompute", args=[study.slug])).status_code == 404
    assert not PrecomputeJob.objects.exists()


def test_coordinator_starts_precompute_and_progress_stops_polling_when_done(
    client, study, django_capture_on_commit_callbacks
):
    from tests.factories import CaseFactory

    for _ in range(2):
        CaseFactory(case_set=study.case_set)
    client = _client_for(client, "coordinator", study)
    url = reverse("study_ai:precompute_progress", args=[study.slug])
    job = PrecomputeJob.objects.create(model_version=study.model_version, case_set=study.case_set,
                                       status=JobStatus.RUNNING, total=10, done=4, images_per_s=2.0,
                                       started_at=timezone.now())
    running = client.get(url, headers={"HX-Request": "true"})
    assert running.status_code == 200
    assert 'hx-trigger="every 2s"' in running.content.decode()
    assert "4 done" in running.content.decode()

    job.status = JobStatus.DONE
    job.save(update_fields=["status"])
    finished = client.get(url, headers={"HX-Request": "true"})
    assert finished.status_code == 286
    assert "hx-trigger" not in finished.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("study_ai:precompute", args=[study.slug]))
    assert response.status_code == 302
    latest = PrecomputeJob.objects.latest("pk")
    assert latest.pk != job.pk and latest.status == JobStatus.DONE
    page = client.get(reverse("study_ai:precompute", args=[study.slug])).content.decode()
    assert "simulated assistant" in page.lower()


def test_evaluation_page_shows_stored_results(client, study, django_capture_on_commit_callbacks):
    from tests.factories import CaseFactory

    for _ in range(6):
        CaseFactory(case_set=study.case_set)
    client = _client_for(client, "coordinator", study)
    response = client.post(reverse("study_ai:evaluation_start", args=[study.slug]))
    assert response.status_code == 302
    page = client.get(reverse("study_ai:evaluation", args=[study.slug])).content.decode()
    assert "Top-1 accuracy" in page and study.case_set.name in page


def test_roc_points_match_sklearn_and_the_auc():
    """The evaluation page's ROC curve: sklearn's roc_curve (drop_intermediate=False) is the reference, and the
    trapezoidal area under our points equals the Mann-Whitney AUC the page prints beside it."""
    import numpy as np
    from sklearn.metrics import roc_curve

    from inference.core.evaluation import auc, roc_points

    rng = np.random.default_rng(7)
    positive = rng.random(60) < 0.3
    scores = np.round(rng.random(60) + positive * 0.4, 1)  # rounded: ties, as summed probabilities give
    ours = roc_points(scores, positive)
    fpr, tpr, _ = roc_curve(positive, scores, drop_intermediate=False)
    np.testing.assert_allclose(ours["fpr"], fpr)
    np.testing.assert_allclose(ours["tpr"], tpr)
    np.testing.assert_allclose(np.trapezoid(ours["tpr"], ours["fpr"]), auc(scores, positive))
    assert roc_points(scores, np.zeros(60, bool)) is None


def test_evaluation_run_stores_a_roc_curve_and_the_page_draws_it(client, study, django_capture_on_commit_callbacks):
    from inference.models import ModelEvaluation
    from inference.services import model_evaluate
    from tests.factories import CaseFactory

    for _ in range(8):
        CaseFactory(case_set=study.case_set)
    evaluation = model_evaluate(model_version=study.model_version, case_set=study.case_set, n_bootstrap=50)
    roc = ModelEvaluation.objects.get(pk=evaluation.pk).results["malignant_roc"]
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1 and len(roc["fpr"]) == len(roc["tpr"])
    client = _client_for(client, "statistician", study)
    page = client.get(reverse("study_ai:evaluation", args=[study.slug])).content.decode()
    assert "<polyline points=" in page and "ROC curve, malignant vs benign" in page
    assert "Evaluate on this study" not in page  # statisticians read; coordinators run
