"""Readers, coordinators and statisticians joining a study, directly or through invitations."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from catalog.models import CaseSet
from common.audit import audit_record
from readerstudy.models import Invitation, Membership, MembershipDemographics, Role, Site, Study, StudyStatus
from readerstudy.services.studies.common import (
    Actor,
    InvitationError,
    StudyError,
    StudyInvalid,
    is_user,
    lock_study,
    settings_or_default,
)
from readerstudy.services.studies.schedules import schedule_plan, store_schedule

STAFF_PREFIX = {Role.COORDINATOR: "C", Role.STATISTICIAN: "S"}
STAFF_ROLES = tuple(STAFF_PREFIX)


# --- one person, two roles, one case set --------------------------------------------------------


def role_conflict(*, user: AbstractBaseUser, case_set_id: int, role: str, exclude_study: int | None = None) -> str | None:
    """Why ``user`` may not take ``role`` in a study on this case set, else None.

    Staff roles (coordinator, statistician) see the case set's reference labels and AI outputs (the
    cases API and export, model outputs, the evaluation page). So nobody reads a case set whose
    labels they can see — site staff, its importer, or a coordinator or statistician of any study on
    it — and nobody takes a staff role on a case set they are reading while that reading is open (a
    reader membership not completed, in a study not closed). Decided here, for every way in:
    enrolment, invitations, study creation and a draft's change of case set.
    """
    others = Membership.objects.filter(user=user, study__case_set_id=case_set_id)
    if exclude_study is not None:
        others = others.exclude(study_id=exclude_study)
    if role == Role.READER:
        if getattr(user, "is_staff", False):
            return "Site staff can see every case set's reference labels, so they cannot read one."
        if CaseSet.objects.filter(pk=case_set_id, created_by=user).exists():
            return "You imported this case set and know its reference labels, so you cannot read it."
        staff = others.filter(role__in=STAFF_ROLES).select_related("study").first()
        if staff is not None:
            return (f"{user.get_username()} is a {staff.get_role_display().lower()} of “{staff.study}”, "
                    "which uses the same cases, and can see their reference labels and AI outputs, "
                    "so cannot read them.")
        return None
    reading = (others.filter(role=Role.READER, completed_at__isnull=True)
               .exclude(study__status=StudyStatus.CLOSED).select_related("study").first())
    if reading is not None:
        return (f"{user.get_username()} is reading the same cases in “{reading.study}”; a "
                f"{Role(role).label.lower()} sees their reference labels and AI outputs, so this role "
                "must wait until that reading is complete or the study is closed.")
    return None


def _refuse_conflict(user: AbstractBaseUser, study: Study, role: str) -> None:
    problem = role_conflict(user=user, case_set_id=study.case_set_id, role=role, exclude_study=study.pk)
    if problem:
        raise StudyError(problem)


# --- membership --------------------------------------------------------------------------------


@transaction.atomic
def reader_enrol(*, study: Study, user: AbstractBaseUser, actor: Actor = None, site: Site | None = None) -> Membership:
    """Enrol ``user`` as the next reader (idempotent); in a running study, with a schedule.

    ``site``: the site whose link they came through (its readings carry it)."""
    if site is not None and site.study_id != study.pk:
        raise StudyError("That site belongs to another study.")
    locked = lock_study(study)
    existing = Membership.objects.filter(study=locked, user=user).first()
    if existing is not None:
        if existing.role == Role.READER:
            return existing
        raise StudyError(
            f"{user.get_username()} is already a {existing.get_role_display().lower()} "
            "in this study; each person has one role per study."
        )
    if locked.status == StudyStatus.CLOSED:
        raise StudyError("This study is closed and accepts no new readers.")
    _refuse_conflict(user, locked, Role.READER)
    readers = Membership.objects.filter(study=locked, role=Role.READER)
    cap = settings_or_default(locked).max_readers
    if cap is not None and readers.count() >= cap:
        raise StudyError(f"This study is full: it takes at most {cap} readers.")
    last = readers.aggregate(last=Max("reader_index"))["last"]
    index = 0 if last is None else last + 1
    membership = Membership.objects.create(
        study=locked,
        user=user,
        role=Role.READER,
        reader_index=index,
        pseudonym=_free_pseudonym(locked, "R", index + 1),
        site=site,
    )
    if locked.status in (StudyStatus.LAUNCHED, StudyStatus.PAUSED):
        store_schedule(membership, locked, schedule_plan(locked))
    audit_record(
        actor=actor if actor is not None else user,
        action="membership.enrol",
        study=locked,
        obj=membership,
        data={"pseudonym": membership.pseudonym, "reader_index": index, "site": site.name if site else ""},
    )
    return membership


@transaction.atomic
def membership_add(*, study: Study, user: AbstractBaseUser, role: str, actor: Actor) -> Membership:
    """Give ``user`` a role in the study (readers go through :func:`reader_enrol`)."""
    if role == Role.READER:
        return reader_enrol(study=study, user=user, actor=actor)
    if role not in STAFF_PREFIX:
        raise StudyError(f"Unknown role {role!r}.")
    locked = lock_study(study)
    existing = Membership.objects.filter(study=locked, user=user).first()
    if existing is not None:
        if existing.role == role:
            return existing
        raise StudyError(
            f"{user.get_username()} is already a {existing.get_role_display().lower()} "
            "in this study; each person has one role per study."
        )
    _refuse_conflict(user, locked, role)
    count = Membership.objects.filter(study=locked, role=role).count()
    membership = Membership.objects.create(
        study=locked, user=user, role=role, pseudonym=_free_pseudonym(locked, STAFF_PREFIX[role], count + 1)
    )
    audit_record(
        actor=actor,
        action="membership.add",
        study=locked,
        obj=membership,
        data={"role": role, "pseudonym": membership.pseudonym},
    )
    return membership


DEMOGRAPHIC_FIELDS = ("profession", "years_experience", "dermoscopy_use", "country", "age_band")


@transaction.atomic
def demographics_correct(
    *, membership: Membership, actor: Actor, changes: dict[str, Any], reason: str
) -> MembershipDemographics:
    """Correct the demographics a reader gave for this study: the one way the export's reader
    columns change after the fact. Audited with the values before and after, and the reason."""
    problems = [f"{name} is not a demographics field." for name in changes if name not in DEMOGRAPHIC_FIELDS]
    if not reason.strip():
        problems.append("Give the reason for the correction.")
    snapshot = MembershipDemographics.objects.select_for_update().filter(membership=membership).first()
    if snapshot is None:
        problems.append("This reader has not given their demographics for this study yet.")
    if problems:
        raise StudyError(problems)
    before = {name: getattr(snapshot, name) for name in DEMOGRAPHIC_FIELDS}
    for name, value in changes.items():
        setattr(snapshot, name, value)
    snapshot.corrected_at = timezone.now()
    try:
        snapshot.full_clean()
    except ValidationError as exc:
        raise StudyInvalid([f"{k}: {m}" for k, ms in exc.message_dict.items() for m in ms]) from exc
    snapshot.save(update_fields=[*changes, "corrected_at"])
    audit_record(
        actor=actor,
        action="membership.demographics_correct",
        study=membership.study,
        obj=snapshot,
        data={"before": {k: str(v) for k, v in before.items()},
              "after": {k: str(getattr(snapshot, k)) for k in DEMOGRAPHIC_FIELDS}, "reason": reason.strip()},
    )
    return snapshot


def _free_pseudonym(study: Study, prefix: str, number: int) -> str:
    taken = set(
        Membership.objects.filter(study=study, pseudonym__startswith=prefix).values_list(
            "pseudonym", flat=True
        )
    )
    while f"{prefix}{number:03d}" in taken:
        number += 1
    return f"{prefix}{number:03d}"


# --- invitations --------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(
    *,
    study: Study,
    actor: Actor,
    role: str = Role.READER,
    single_use: bool = True,
    max_uses: int | None = None,
    email: str = "",
    expires_at: datetime | None = None,
    label: str = "",
    site: Site | None = None,
) -> Invitation:
    """A link to join the study: single-use (one person) or open, optionally capped.

    ``label`` is the coordinator's note of where the link went ("sent to clinic A"); readers who
    join through a link with a ``site`` belong to that site.
    """
    problems = []
    if site is not None and site.study_id != study.pk:
        problems.append("That site belongs to another study.")
    if site is not None and role != Role.READER:
        problems.append("Only reader links belong to a site.")
    if study.status == StudyStatus.CLOSED:
        problems.append("The study is closed: it takes no new members.")
    if single_use and max_uses is not None:
        problems.append("A single-use link admits one person; a cap is for open links.")
    if max_uses is not None and max_uses < 1:
        problems.append("The cap must be at least 1.")
    if expires_at is not None and expires_at <= timezone.now():
        problems.append("The expiry must be in the future.")
    if role not in Role.values:
        problems.append(f"Unknown role {role!r}.")
    if problems:
        raise InvitationError(problems)
    invitation = Invitation(
        study=study,
        token=secrets.token_urlsafe(24),
        role=role,
        single_use=single_use,
        max_uses=max_uses,
        email=email,
        expires_at=expires_at,
        label=label.strip(),
        site=site,
        created_by=actor if is_user(actor) else None,
    )
    invitation.full_clean()
    invitation.save()
    audit_record(
        actor=actor,
        action="invitation.create",
        study=study,
        obj=invitation,
        data={"role": role, "single_use": single_use, "max_uses": max_uses, "label": invitation.label,
              "site": site.name if site else ""},
    )
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Actor) -> Invitation:
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not locked.revoked:
        locked.revoked = True
        locked.save(update_fields=["revoked"])
        audit_record(actor=actor, action="invitation.revoke", study=locked.study, obj=locked)
    invitation.refresh_from_db()
    return invitation


TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def invitation_token_valid(token: str) -> bool:
    """Whether ``token`` could be an invitation token (``secrets.token_urlsafe``); NUL and the like are not."""
    return bool(TOKEN_PATTERN.fullmatch(token))


def invitation_problem(invitation: Invitation, user: AbstractBaseUser | None = None) -> str | None:
    """Why the invitation cannot be accepted now (by ``user``, when given), else None."""
    if invitation.revoked:
        return gettext("This invitation has been withdrawn by the study coordinator.")
    if invitation.expires_at is not None and invitation.expires_at <= timezone.now():
        return gettext("This invitation expired on %(date)s.") % {
            "date": date_format(timezone.localtime(invitation.expires_at), "DATE_FORMAT")}
    if invitation.study.status == StudyStatus.CLOSED:
        return gettext("This study is closed.")
    if invitation.single_use and invitation.uses >= 1:
        return gettext("This invitation has already been used. Ask the study coordinator for a new link.")
    if invitation.max_uses is not None and invitation.uses >= invitation.max_uses:
        return gettext("This invitation is full: it admitted its %(count)s people.") % {"count": invitation.max_uses}
    if user is not None and invitation.email and invitation.email.lower() != (user.email or "").lower():
        return gettext("This invitation was sent to a different e-mail address. Log in with that account.")
    return None


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """Join the study through an invitation; accepting again returns the same membership.

    The invitation row is locked, so concurrent accepts never exceed a single-use link or a cap.
    """
    invitation = (Invitation.objects.select_for_update().filter(token=token).first()
                  if invitation_token_valid(token) else None)
    if invitation is None:
        raise InvitationError("This invitation link is not valid.")
    study = invitation.study
    existing = Membership.objects.filter(study=study, user=user).first()
    if existing is not None:
        return existing
    problem = invitation_problem(invitation, user)
    if problem:
        raise InvitationError(problem)
    if invitation.role == Role.READER:
        membership = reader_enrol(study=study, user=user, actor=user, site=invitation.site)
    else:
        membership = membership_add(study=study, user=user, role=invitation.role, actor=user)
    invitation.uses += 1
    invitation.save(update_fields=["uses"])
    audit_record(
        actor=user,
        action="invitation.accept",
        study=study,
        obj=invitation,
        data={"membership": membership.pk, "uses": invitation.uses},
    )
    return membership
