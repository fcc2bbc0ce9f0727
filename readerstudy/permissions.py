"""The one access layer: every view and API reaches studies and schedules through these accessors.

Anything a user may not reach is reported as not found (404), never as forbidden, so the
existence of other studies and readers is not revealed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from catalog.models import CaseSet
from inference.models import ModelVersion
from readerstudy.models import Membership, Role, ScheduleItem, Study

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


def manages_anything(user: User) -> bool:
    """Staff, or a coordinator or statistician of at least one study."""
    return bool(user.is_authenticated and (user.is_staff or studies_for_user(user, STAFF_ROLES).exists()))


def may_import_cases(user: User) -> bool:
    """The same rule as the case import page: staff or the add-case-set permission."""
    return bool(user.is_authenticated and (user.is_staff or user.has_perm("catalog.add_caseset")))


def may_create_studies(user: User) -> bool:
    """Staff, the add-study permission, or already a coordinator of some study."""
    if not user.is_authenticated:
        return False
    return bool(user.is_staff or user.has_perm("readerstudy.add_study")
                or studies_for_user(user, (Role.COORDINATOR,)).exists())


def case_sets_for_user(user: User) -> QuerySet[CaseSet]:
    """Case sets (with their reference labels) of the user's staff studies, or that they imported."""
    if not user.is_authenticated:
        return CaseSet.objects.none()
    if user.is_staff:
        return CaseSet.objects.all()
    studies = studies_for_user(user, STAFF_ROLES)
    # A subquery, not a join through studies: a join repeats each set once per study, which multiplies
    # any Count() annotated on the result (a 40-case set in 5 studies reported 200 cases).
    return CaseSet.objects.filter(Q(pk__in=studies.values("case_set_id")) | Q(created_by=user))


def model_versions_for_user(user: User) -> QuerySet[ModelVersion]:
    """Model versions are study configuration: visible to those who set up or analyse studies."""
    if manages_anything(user) or may_create_studies(user):
        return ModelVersion.objects.all()
    return ModelVersion.objects.none()


def reader_study_ids(user: User) -> set[int]:
    """The studies the user reads (and does not see as staff): they get the reader's view of them."""
    if not user.is_authenticated or user.is_staff:
        return set()
    return set(Membership.objects.filter(user=user, role=Role.READER).values_list("study_id", flat=True))
