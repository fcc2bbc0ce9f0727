"""The one access layer: every view and API reaches studies and schedules through these accessors.

Anything a user may not reach is reported as not found (404), never as forbidden, so the
existence of other studies and readers is not revealed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from readerstudy.models import CaseSet, Membership, Role, ScheduleItem, Study

STAFF_ROLES = (Role.COORDINATOR, Role.STATISTICIAN)
ALL_ROLES = (Role.COORDINATOR, Role.STATISTICIAN, Role.READER)

User = AbstractBaseUser | AnonymousUser


def studies_for_user(user: User, roles: Iterable[str] = ALL_ROLES) -> QuerySet[Study]:
    """Studies the user belongs to in one of `roles` (staff see all)."""
    if not user.is_authenticated:
        return Study.objects.none()
    if user.is_staff:
        return Study.objects.all()
    return Study.objects.filter(memberships__user=user, memberships__role__in=list(roles)).distinct()


def membership_for_user(user: User, study: Study) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(study=study, user=user).first()


def study_for_user(user: User, slug: str, roles: Iterable[str] = ALL_ROLES) -> Study:
    """The study with `slug` if the user has one of `roles` in it (staff: any), else 404."""
    try:
        return studies_for_user(user, roles).select_related("case_set", "model_version").get(slug=slug)
    except Study.DoesNotExist:
        raise Http404("No such study") from None


def reader_membership(user: User, slug: str) -> Membership:
    """The user's reader membership in the study, else 404 (staff get no reader view)."""
    if not user.is_authenticated:
        raise Http404("No such study")
    try:
        return Membership.objects.select_related("study", "study__case_set", "study__model_version").get(
            study__slug=slug, user=user, role=Role.READER
        )
    except Membership.DoesNotExist:
        raise Http404("No such study") from None


def assignment_for_reader(membership: Membership, item_id: int) -> ScheduleItem:
    """One of the reader's own schedule items, else 404."""
    try:
        return ScheduleItem.objects.select_related("case", "arm", "membership", "study").get(
            pk=item_id, membership=membership
        )
    except ScheduleItem.DoesNotExist:
        raise Http404("No such schedule item") from None


def can_manage(user: User, study: Study) -> bool:
    """Coordinators (and staff) configure and launch studies."""
    if not user.is_authenticated:
        return False
    return user.is_staff or Membership.objects.filter(study=study, user=user, role=Role.COORDINATOR).exists()


def case_sets_for_coordinator(user: User) -> QuerySet[CaseSet]:
    """Case sets the user coordinates: imported them, or coordinates a study on them (staff: all)."""
    if not user.is_authenticated:
        return CaseSet.objects.none()
    if user.is_staff:
        return CaseSet.objects.all()
    coordinated = studies_for_user(user, (Role.COORDINATOR,)).values("case_set_id")
    return CaseSet.objects.filter(Q(pk__in=coordinated) | Q(created_by=user))


def case_set_for_coordinator(user: User, pk: int) -> CaseSet:
    """One case set with its reference labels, for a coordinator of it; anyone else gets 404."""
    try:
        return case_sets_for_coordinator(user).select_related("taxonomy").get(pk=pk)
    except CaseSet.DoesNotExist:
        raise Http404("No such case set") from None


def case_sets_usable(user: User) -> QuerySet[CaseSet]:
    """Case sets a user may build a study on: imported on the command line (shared, no importer),
    imported by them, or used by a study where they are coordinator or statistician (staff: all).
    Another coordinator's page or API import stays private to its importer and their studies."""
    if not user.is_authenticated:
        return CaseSet.objects.none()
    if user.is_staff:
        return CaseSet.objects.all()
    staff_of = studies_for_user(user, STAFF_ROLES).values("case_set_id")
    return CaseSet.objects.filter(Q(created_by__isnull=True) | Q(created_by=user) | Q(pk__in=staff_of))
