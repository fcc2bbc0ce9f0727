"""One person, two roles, one case set (issue 18, item 6) and who sees which case sets.

Decision: refuse, in ``services.studies.membership.role_conflict``. Nobody reads a case set whose
reference labels they can see (site staff, its importer, a coordinator or statistician of any study
on it), and nobody takes a staff role on a case set they are reading while that reading is open.
Every way in is walked (direct enrolment, invitations, study creation on the page service and the
API, a draft moved to other cases); then every view that shows reference labels or AI outputs is
checked for the reader: all 404.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from inference.models import ModelEvaluation
from readerstudy.models import Membership, Role
from readerstudy.services import studies
from tests.factories import UserFactory

from ..readerstudy_tests.studies_helpers import case_set_with, make_study, model_version_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_studies():
    """Study A (reader ``reader`` enrolled, launched) and draft B, both on the same case set."""
    a = make_study()
    reader = UserFactory()
    studies.reader_enrol(study=a, user=reader, actor=None)
    studies.study_launch(study=a, actor=a.created_by)
    b_coordinator = UserFactory()
    b = studies.study_create(actor=b_coordinator, title="B", case_set=a.case_set, design="sequential",
                             model_version=a.model_version)
    return a, b, reader


def label_views(study, case_set):
    """Every page and API operation that shows reference labels or AI outputs of the study's cases."""
    return [
        ("api", f"/api/v1/case-sets/{case_set.pk}/cases/"),
        ("api", f"/api/v1/case-sets/{case_set.pk}/"),
        ("api", f"/api/v1/studies/{study.slug}/model-outputs/"),
        *[("api", f"/api/v1/studies/{study.slug}/exports/{name}/")
          for name in ("cases.csv", "model-outputs.csv", "readings.csv", "readings.parquet", "schedules.csv",
                       "rjafroc.csv", "imrmc")],
        ("page", reverse("studies:export_readings", kwargs={"slug": study.slug})),
        ("page", reverse("studies:export_schedules", kwargs={"slug": study.slug})),
        ("page", reverse("studies:export_case_progress", kwargs={"slug": study.slug})),
        ("page", reverse("study_ai:evaluation", kwargs={"slug": study.slug})),
        ("page", reverse("study_ai:precompute", kwargs={"slug": study.slug})),
        ("page", reverse("studies:detail", kwargs={"slug": study.slug})),
        ("page", reverse("case_set_detail", kwargs={"pk": case_set.pk})),
    ]


def assert_no_label_view(user, study, case_set, client):
    api = APIClient()
    api.force_authenticate(user)
    client.force_login(user)
    for kind, url in label_views(study, case_set):
        response = (api if kind == "api" else client).get(url)
        assert response.status_code == 404, (url, response.status_code)


@pytest.mark.parametrize("role", [Role.STATISTICIAN, Role.COORDINATOR])
def test_a_reader_gets_no_staff_role_on_the_same_cases(two_studies, client, role):
    a, b, reader = two_studies
    with pytest.raises(studies.StudyError, match="reading the same cases"):
        studies.membership_add(study=b, user=reader, role=role, actor=b.created_by)
    invitation = studies.invitation_create(study=b, actor=b.created_by, role=role)
    with pytest.raises(studies.StudyError, match="reading the same cases"):
        studies.invitation_accept(token=invitation.token, user=reader)
    client.force_login(reader)
    client.get(reverse("reader:join", kwargs={"token": invitation.token}))
    assert not Membership.objects.filter(study=b, user=reader).exists()
    assert_no_label_view(reader, b, a.case_set, client)


def test_a_reader_cannot_create_a_study_on_the_cases_they_read(two_studies):
    a, _, reader = two_studies
    reader.user_permissions.add(Permission.objects.get(codename="add_study"))
    with pytest.raises(studies.StudyError, match="reading the same cases"):
        studies.study_create(actor=reader, title="Peek", case_set=a.case_set, design="benchmark")
    api = APIClient()
    api.force_authenticate(reader)
    response = api.post("/api/v1/studies/", {"title": "Peek", "case_set": a.case_set.pk, "design": "benchmark"},
                        format="json")
    assert response.status_code == 400 and "error" in response.json()


def test_a_draft_cannot_move_onto_cases_its_statistician_is_reading(two_studies):
    a, _, reader = two_studies
    other = make_study()
    studies.membership_add(study=other, user=reader, role=Role.STATISTICIAN, actor=other.created_by)
    with pytest.raises(studies.StudyError, match="reading the same cases"):
        studies.study_update(study=other, actor=other.created_by, changes={"case_set": a.case_set})
    other.refresh_from_db()
    assert other.case_set_id != a.case_set_id


def test_staff_of_a_study_cannot_read_the_same_cases(two_studies):
    a, b, _ = two_studies
    statistician = UserFactory()
    studies.membership_add(study=b, user=statistician, role=Role.STATISTICIAN, actor=b.created_by)
    for user in (statistician, b.created_by):
        with pytest.raises(studies.StudyError, match="can see their reference labels"):
            studies.reader_enrol(study=a, user=user, actor=None)
        invitation = studies.invitation_create(study=a, actor=a.created_by)
        with pytest.raises(studies.StudyError):
            studies.invitation_accept(token=invitation.token, user=user)
    importer = UserFactory()
    a.case_set.created_by = importer
    a.case_set.save(update_fields=["created_by"])
    with pytest.raises(studies.StudyError, match="imported this case set"):
        studies.reader_enrol(study=a, user=importer, actor=None)
    with pytest.raises(studies.StudyError, match="Site staff"):
        studies.reader_enrol(study=a, user=UserFactory(is_staff=True), actor=None)
    assert not Membership.objects.filter(study=a, role=Role.READER).exclude(pseudonym="R001").exists()


def test_the_staff_role_opens_once_the_reading_is_over(two_studies):
    a, b, reader = two_studies
    Membership.objects.filter(study=a, user=reader).update(completed_at=timezone.now())
    assert studies.membership_add(study=b, user=reader, role=Role.STATISTICIAN, actor=b.created_by)
    other_reader = UserFactory()
    studies.reader_enrol(study=a, user=other_reader, actor=None)
    with pytest.raises(studies.StudyError):
        studies.membership_add(study=b, user=other_reader, role=Role.COORDINATOR, actor=b.created_by)
    studies.study_close(study=a, actor=a.created_by)
    assert studies.membership_add(study=b, user=other_reader, role=Role.COORDINATOR, actor=b.created_by)


def test_case_set_page_and_evaluations_show_only_visible_case_sets(client):
    mine, theirs = make_study(), make_study()
    ModelEvaluation.objects.create(model_version=mine.model_version, case_set=mine.case_set, results={})
    ModelEvaluation.objects.create(model_version=mine.model_version, case_set=theirs.case_set, results={})
    coordinator = mine.created_by
    coordinator.user_permissions.add(Permission.objects.get(codename="add_caseset"))
    private = case_set_with(1, name="Private set of someone else")
    model_version_for(private)
    client.force_login(coordinator)
    page = client.get(reverse("case_sets")).content.decode()
    assert mine.case_set.name in page
    assert theirs.case_set.name not in page and private.name not in page
    evaluation = client.get(reverse("study_ai:evaluation", kwargs={"slug": mine.slug}))
    shown = [row["evaluation"].case_set_id for row in evaluation.context["rows"]]
    assert shown == [mine.case_set_id]


def test_no_study_on_another_coordinators_private_case_set():
    owner, other = UserFactory(), UserFactory()
    private = case_set_with(2, name="Owner's private set")
    private.created_by = owner
    private.save(update_fields=["created_by"])
    with pytest.raises(studies.StudyError, match="case_set"):
        studies.study_create(actor=other, title="Peek", case_set=private, design="benchmark")
    draft = studies.study_create(actor=other, title="Mine", case_set=case_set_with(1), design="benchmark")
    with pytest.raises(studies.StudyError, match="case_set"):
        studies.study_update(study=draft, actor=other, changes={"case_set": private})
    assert studies.study_create(actor=owner, title="Own", case_set=private, design="benchmark")


def test_the_study_form_lists_only_usable_case_sets(client):
    owner, other = UserFactory(), UserFactory()
    other.user_permissions.add(Permission.objects.get(codename="add_study"))
    private = case_set_with(1, name="Owner-private-set")
    private.created_by = owner
    private.save(update_fields=["created_by"])
    shared = case_set_with(1, name="Shared-command-line-set")
    client.force_login(other)
    page = client.get(reverse("studies:create"))
    assert page.status_code == 200
    choices = {str(label) for _, label in page.context["form"].fields["case_set"].choices}
    assert any(shared.name in c for c in choices) and not any(private.name in c for c in choices)
