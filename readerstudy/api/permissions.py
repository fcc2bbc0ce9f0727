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

from rest_framework.permissions import BasePermission

from readerstudy.models import Role
from readerstudy.permissions import (
    ALL_ROLES,
    STAFF_ROLES,
    reader_membership,
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
