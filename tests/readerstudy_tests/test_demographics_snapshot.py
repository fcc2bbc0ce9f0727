"""Each study keeps the demographics its reader gave for it (issue 18, item 8).

Demographics used to live on the user only, so answering "about you" in a new study rewrote the
reader columns of every earlier study's export. Now each membership keeps a snapshot (pre-filled
from the last answers), the export reads it, and only an audited correction changes it.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from common.models import AuditEvent
from readerstudy.exports.tables import readings_table
from readerstudy.models import MembershipDemographics, ScheduleItem
from readerstudy.services import studies
from readerstudy.services.reader_flow import consent_record, demographics_save
from tests.factories import UserFactory

from .studies_helpers import make_study, submit

pytestmark = pytest.mark.django_db

FIRST = {"profession": "gp", "years_experience": 3, "dermoscopy_use": "never", "country": "Austria",
         "age_band": "<30"}
LATER = {"profession": "dermatologist", "years_experience": 9, "dermoscopy_use": "regularly",
         "country": "Spain", "age_band": "30-39"}
READER_COLUMNS = {"reader_group": "profession", "reader_experience": "years_experience",
                  "reader_dermoscopy": "dermoscopy_use", "reader_country": "country", "reader_age_band": "age_band"}


def reader_columns(study) -> dict:
    row = readings_table(study).iloc[0]
    return {field: row[column] for column, field in READER_COLUMNS.items()}


@pytest.fixture
def earlier_study():
    study = make_study(design="benchmark")
    user = UserFactory()
    membership = studies.reader_enrol(study=study, user=user, actor=None)
    demographics_save(membership=membership, data=FIRST)
    studies.study_launch(study=study, actor=study.created_by)
    submit(ScheduleItem.objects.filter(membership=membership).first(), ["MEL"])
    return study, membership


def test_answers_in_a_later_study_leave_earlier_exports_alone(earlier_study, client):
    study, membership = earlier_study
    assert reader_columns(study) == FIRST
    later = make_study(design="benchmark")
    studies.study_launch(study=later, actor=later.created_by)
    later_membership = studies.reader_enrol(study=later, user=membership.user, actor=None)
    consent_record(membership=later_membership, agreed=True)
    client.force_login(membership.user)
    page = client.get(reverse("reader:demographics", kwargs={"slug": later.slug}))
    assert page.status_code == 200
    assert page.context["form"].initial["country"] == "Austria"  # pre-filled from the last answers
    response = client.post(reverse("reader:demographics", kwargs={"slug": later.slug}), LATER)
    assert response.status_code == 302
    assert reader_columns(study) == FIRST  # unchanged
    assert MembershipDemographics.objects.get(membership=later_membership).country == "Spain"
    submit(ScheduleItem.objects.filter(membership=later_membership).first(), ["MEL"])
    assert reader_columns(later) == LATER


def test_giving_them_again_keeps_the_first_snapshot(earlier_study):
    study, membership = earlier_study
    demographics_save(membership=membership, data=LATER)
    assert reader_columns(study) == FIRST


def test_only_an_audited_correction_changes_the_export(earlier_study):
    study, membership = earlier_study
    coordinator = study.created_by
    with pytest.raises(studies.StudyError, match="reason"):
        studies.demographics_correct(membership=membership, actor=coordinator, changes={"country": "Italy"},
                                     reason=" ")
    with pytest.raises(studies.StudyError):
        studies.demographics_correct(membership=membership, actor=coordinator, changes={"years_experience": 99},
                                     reason="typo")
    studies.demographics_correct(membership=membership, actor=coordinator, changes={"country": "Italy"},
                                 reason="the reader wrote to say they practise in Italy")
    assert reader_columns(study)["country"] == "Italy"
    event = AuditEvent.objects.get(action="membership.demographics_correct")
    assert event.data["before"]["country"] == "Austria" and event.data["after"]["country"] == "Italy"
    assert "Italy" in event.data["reason"]
