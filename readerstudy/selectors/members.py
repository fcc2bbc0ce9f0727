"""TODO docstring."""

from __future__ import annotations

from django.db.models import Count, Max, QuerySet

from readerstudy.models import Invitation, Membership, Study


def study_invitations(study: Study) -> QuerySet[Invitation]:
    return Invitation.objects.filter(study=study).select_related("created_by", "study").order_by("-created_at")


def invitation_by_token(token: str) -> Invitation | None:
    return Invitation.objects.select_related("study").filter(token=token).first()


def study_members(study: Study) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(study=study).select_related("user").order_by("role", "reader_index", "pk")
    )


def member_for_study(study: Study, pseudonym: str) -> Membership | None:
    return (
        Membership.objects.filter(study=study, pseudonym=pseudonym)
        .select_related("user", "user__reader_profile")
        .annotate(
            total=Count("schedule_items"),
            completed=Count("schedule_items__reading"),
            last_activity=Max("schedule_items__reading__submitted_at"),
        )
        .first()
    )
