"""Enrolment, staff memberships and invitations (caps, expiry, revocation, concurrency)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from common.models import AuditEvent
from readerstudy.models import Invitation, Membership, Role, ScheduleItem
from readerstudy.services import studies
from readerstudy.services.studies import InvitationError, StudyError
from tests.factories import UserFactory

from .studies_helpers import enrol_readers, make_study

pytestmark = pytest.mark.django_db


def test_readers_get_pseudonyms_and_indices_in_order():
    study = make_study()
    readers = enrol_readers(study, 3)
    assert [(r.pseudonym, r.reader_index, r.role) for r in readers] == [
        ("R001", 0, Role.READER),
        ("R002", 1, Role.READER),
        ("R003", 2, Role.READER),
    ]
    assert not ScheduleItem.objects.filter(study=study).exists()  # draft: schedules come at launch
    assert AuditEvent.objects.filter(study_id=study.pk, action="membership.enrol").count() == 3


def test_enrol_is_idempotent_and_one_role_per_person():
    study = make_study()
    user = UserFactory()
    first = studies.reader_enrol(study=study, user=user, actor=None)
    assert studies.reader_enrol(study=study, user=user, actor=None).pk == first.pk
    with pytest.raises(StudyError, match="already a coordinator"):
        studies.reader_enrol(study=study, user=study.created_by, actor=None)
    with pytest.raises(StudyError, match="already a reader"):
        studies.membership_add(study=study, user=user, role=Role.STATISTICIAN, actor=None)


def test_max_readers_is_respected():
    study = make_study(settings={"max_readers": 2})
    enrol_readers(study, 2)
    with pytest.raises(StudyError, match="at most 2 readers"):
        studies.reader_enrol(study=study, user=UserFactory(), actor=None)


def test_closed_study_takes_no_readers():
    study = make_study()
    studies.study_launch(study=study, actor=None)
    studies.study_close(study=study, actor=None)
    with pytest.raises(StudyError, match="closed"):
        studies.reader_enrol(study=study, user=UserFactory(), actor=None)


def test_staff_memberships_have_their_own_pseudonyms():
    study = make_study()
    stat = studies.membership_add(study=study, user=UserFactory(), role=Role.STATISTICIAN, actor=None)
    coord = studies.membership_add(study=study, user=UserFactory(), role=Role.COORDINATOR, actor=None)
    assert (stat.pseudonym, coord.pseudonym) == ("S001", "C002")
    assert stat.reader_index is None


def test_single_use_invitation():
    study = make_study()
    invitation = studies.invitation_create(study=study, actor=study.created_by)
    user = UserFactory()
    membership = studies.invitation_accept(token=invitation.token, user=user)
    assert membership.role == Role.READER and membership.pseudonym == "R001"
    # Accepting again is idempotent and does not use the link again.
    assert studies.invitation_accept(token=invitation.token, user=user).pk == membership.pk
    invitation.refresh_from_db()
    assert invitation.uses == 1
    with pytest.raises(InvitationError, match="already been used"):
        studies.invitation_accept(token=invitation.token, user=UserFactory())


def test_open_invitation_with_cap():
    study = make_study()
    invitation = studies.invitation_create(study=study, actor=None, single_use=False, max_uses=2)
    for _ in range(2):
        studies.invitation_accept(token=invitation.token, user=UserFactory())
    with pytest.raises(InvitationError, match="full"):
        studies.invitation_accept(token=invitation.token, user=UserFactory())


def test_invitation_for_statistician_role():
    study = make_study()
    invitation = studies.invitation_create(study=study, actor=None, role=Role.STATISTICIAN)
    membership = studies.invitation_accept(token=invitation.token, user=UserFactory())
    assert membership.role == Role.STATISTICIAN and membership.reader_index is None


def test_invitation_refusals():
    study = make_study()
    with pytest.raises(InvitationError, match="not valid"):
        studies.invitation_accept(token="nope", user=UserFactory())
    revoked = studies.invitation_create(study=study, actor=None)
    studies.invitation_revoke(invitation=revoked, actor=None)
    with pytest.raises(InvitationError, match="withdrawn"):
        studies.invitation_accept(token=revoked.token, user=UserFactory())
    expired = studies.invitation_create(
        study=study, actor=None, expires_at=timezone.now() + timedelta(hours=1)
    )
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(InvitationError, match="expired"):
        studies.invitation_accept(token=expired.token, user=UserFactory())
    addressed = studies.invitation_create(study=study, actor=None, email="dr.who@example.org")
    with pytest.raises(InvitationError, match="different e-mail"):
        studies.invitation_accept(token=addressed.token, user=UserFactory())
    assert studies.invitation_accept(token=addressed.token, user=UserFactory(email="Dr.Who@example.org"))
    with pytest.raises(InvitationError) as excinfo:
        studies.invitation_create(
            study=study,
            actor=None,
            single_use=True,
            max_uses=3,
            expires_at=timezone.now() - timedelta(days=1),
        )
    assert excinfo.value.problems == [
        "A single-use link admits one person; a cap is for open links.",
        "The expiry must be in the future.",
    ]


def test_invitation_into_launched_study_schedules_the_reader():
    study = make_study(design="crossover")
    studies.study_launch(study=study, actor=None)
    invitation = studies.invitation_create(study=study, actor=None, single_use=False)
    membership = studies.invitation_accept(token=invitation.token, user=UserFactory())
    sessions = set(ScheduleItem.objects.filter(membership=membership).values_list("session", flat=True))
    assert sessions == {1, 2}


def _accept_concurrently(token: str, users: list) -> list:
    barrier = threading.Barrier(len(users))
    results: list = []

    def accept(user):
        try:
            barrier.wait()
            results.append(studies.invitation_accept(token=token, user=user))
        except StudyError as exc:
            results.append(exc)
        finally:
            connection.close()  # each thread has its own connection; leave none open

    threads = [threading.Thread(target=accept, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_invitation_cap_holds_under_concurrent_accepts(postgres):
    study = make_study()
    studies.study_launch(study=study, actor=None)
    invitation = studies.invitation_create(study=study, actor=None, single_use=False, max_uses=3)
    users = [UserFactory() for _ in range(8)]
    results = _accept_concurrently(invitation.token, users)
    joined = [r for r in results if isinstance(r, Membership)]
    assert len(joined) == 3 and len(results) == 8
    assert all(isinstance(r, InvitationError) for r in results if not isinstance(r, Membership))
    invitation.refresh_from_db()
    assert invitation.uses == 3
    readers = Membership.objects.filter(study=study, role=Role.READER)
    assert sorted(readers.values_list("reader_index", flat=True)) == [0, 1, 2]
    assert all(ScheduleItem.objects.filter(membership=m).exists() for m in readers)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_single_use_invitation_admits_one_under_concurrency(postgres):
    study = make_study()
    invitation = studies.invitation_create(study=study, actor=None)
    results = _accept_concurrently(invitation.token, [UserFactory() for _ in range(5)])
    assert sum(isinstance(r, Membership) for r in results) == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_max_readers_holds_under_concurrent_enrolment(postgres):
    study = make_study(settings={"max_readers": 2})
    invitation = studies.invitation_create(study=study, actor=None, single_use=False)
    results = _accept_concurrently(invitation.token, [UserFactory() for _ in range(6)])
    assert sum(isinstance(r, Membership) for r in results) == 2
    assert Membership.objects.filter(study=study, role=Role.READER).count() == 2
