"""DRF permission classes over the one access layer (:mod:`readerstudy.permissions`).

Study-scoped views declare ``access``: HTTP method -> the roles that may call it, or ``READER`` for
a reader's own endpoints. The permission resolves ``view.study`` (and ``view.membership`` for
readers) through ``study_for_user``/``reader_membership``, so anything out of reach is a 404,
exactly as on the pages. The few checks that are not about one study (which case sets and model
versions a user may see, who may import cases or create studies) are thin functions here, built
on ``studies_for_user``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet
from rest_framework.permissions import BasePermission

from inference.models import ModelVersion
from readerstudy.models import CaseSet, Membership, Role
from readerstudy.permissions import (
    ALL_ROLES,
    STAFF_ROLES,
    User,
    reader_membership,
    studies_for_user,
    study_for_user,
)

READER = "reader"
COORDINATOR_ONLY = (Role.COORDINATOR,)
STAFF = tuple(STAFF_ROLES)
ANY_MEMBER = tuple(ALL_ROLES)


class StudyAccess(BasePermission):
    """Resolve the study in the URL for the roles the view allows for this method (else 404)."""

    def has_permission(self, request, view) -> bool:
        rule = self.rule(request.method, getattr(view, "access", {}))
        slug = view.kwargs.get("slug")
        if rule is None or slug is None:
            return True
        if rule == READER:
            view.membership = reader_membership(request.user, slug)
            view.study = view.membership.study
        else:
            view.study = study_for_user(request.user, slug, rule)
        return True

    @staticmethod
    def rule(method: str, access: dict[str, str | Iterable[str]]) -> str | tuple[str, ...] | None:
        if method == "HEAD":
            method = "GET"
        if method == "OPTIONS":
            return ANY_MEMBER
        rule = access.get(method, access.get("*"))
        return rule if rule is None or rule == READER else tuple(rule)


def manages_anything(user: User) -> bool:
    """Staff, or a coordinator or statistician of at least one study."""
    return bool(user.is_authenticated and (user.is_staff or studies_for_user(user, STAFF).exists()))


def may_import_cases(user: User) -> bool:
    """The same rule as the case import page: staff or the add-case-set permission."""
    return bool(user.is_authenticated and (user.is_staff or user.has_perm("readerstudy.add_caseset")))


def may_create_studies(user: User) -> bool:
    """Staff, the add-study permission, or already a coordinator of some study."""
    if not user.is_authenticated:
        return False
    return bool(user.is_staff or user.has_perm("readerstudy.add_study")
                or studies_for_user(user, COORDINATOR_ONLY).exists())


def case_sets_for_user(user: User) -> QuerySet[CaseSet]:
    """Case sets (with their reference labels) of the user's staff studies, or that they imported."""
    if not user.is_authenticated:
        return CaseSet.objects.none()
    if user.is_staff:
        return CaseSet.objects.all()
    studies = studies_for_user(user, STAFF)
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
