"""Study lifecycle, enrolment, invitations and schedules.

A study is drafted, launched, paused and resumed, and closed:
``draft -> launched <-> paused``, and ``launched | paused -> closed``. Once launched, nothing that
affects data changes (design, arms, cases, seed, answer form, model): readings and stored
schedules depend on them. Schedules are generated once per reader, at launch or when a reader
joins a launched study, by :func:`readerstudy.scheduling.reader_schedule` from the study seed and
the reader's enrolment index, stored as rows and never recomputed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from readerstudy.models import (
    Arm,
    ArmKind,
    Case,
    CaseSet,
    Design,
    Invitation,
    Membership,
    Role,
    ScheduleItem,
    Study,
    StudyStatus,
)
from readerstudy.scheduling import DesignSpec, reader_schedule, validate_spec
from readerstudy.services.audit import audit_record
from readerstudy.study_settings import SettingsError, StudySettings, parse_study_settings

Actor = AbstractBaseUser | AnonymousUser | None

# Case attributes a study may stratify its case order by; any other name is a key of Case.extra.
STRATA_ATTRIBUTES = ("fitzpatrick", "sex", "body_site", "reference_source", "reference_group", "reference_malignant")
# Changeable while a study runs: they do not affect readings or schedules.
LIVE_FIELDS = frozenset({"title", "description"})
LIVE_SETTINGS = frozenset({"max_readers"})
EDITABLE_FIELDS = frozenset(
    {"title", "slug", "description", "instructions", "consent_text", "consent_version", "case_set", "design",
     "seed", "settings", "model_version"}
)
FIELD_REASONS = {
    "slug": "the study id is in every exported row and in readers' links",
    "case_set": "schedules list these cases",
    "design": "schedules were generated for it",
    "seed": "schedules were generated from it",
    "settings": "the answer form and schedules depend on it",
    "model_version": "readers in AI arms see its outputs",
    "instructions": "readers already read under these instructions",
    "consent_text": "readers consented to this text",
    "consent_version": "readers consented to this version",
}
RESERVED_SLUGS = frozenset({"new"})  # taken by the study-create URL
STAFF_PREFIX = {Role.COORDINATOR: "C", Role.STATISTICIAN: "S"}


class StudyError(ValueError):
    """A refused study operation; ``problems`` are sentences a coordinator can act on."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class InvitationError(StudyError):
    pass


@dataclass(frozen=True)
class ArmSpec:
    name: str
    label: str
    kind: str
    assist: Mapping[str, Any] = field(default_factory=dict)


def default_arms(design: str) -> list[ArmSpec]:
    """The arms a design needs: unaided alone for benchmark, unaided and AI otherwise."""
    arms = [ArmSpec(name="unaided", label="Unaided", kind=ArmKind.UNAIDED)]
    if design != Design.BENCHMARK:
        arms.append(ArmSpec(name="ai", label="AI-assisted", kind=ArmKind.AI,
                            assist={"top_k": 3, "show_probabilities": True, "faulty_rate": 0.0}))
    return arms


def arm_problems(design: str, arms: Sequence[ArmSpec | Arm]) -> list[str]:
    """What is wrong with these arms for the design (empty when they fit)."""
    kinds = [arm.kind for arm in arms]
    names = [arm.name for arm in arms]
    problems = []
    if len(set(names)) != len(names) or not all(names):
        problems.append("Arm names must be non-empty and distinct.")
    n_unaided, n_ai = kinds.count(ArmKind.UNAIDED), kinds.count(ArmKind.AI)
    label = Design(design).label if design in Design.values else design
    if design in (Design.SEQUENTIAL, Design.RANDOMISED_BLOCKS, Design.CROSSOVER) and (n_unaided, n_ai) != (1, 1):
        problems.append(f"{label} needs exactly one unaided arm and one AI arm "
                        f"(it has {n_unaided} unaided, {n_ai} AI).")
    elif design == Design.PARALLEL and len(arms) < 2:
        problems.append(f"{label} needs at least two arms (it has {len(arms)}).")
    elif design == Design.BENCHMARK and (n_unaided, n_ai) != (1, 0):
        problems.append(f"{label} needs exactly one unaided arm and no AI arm "
                        f"(it has {n_unaided} unaided, {n_ai} AI).")
    return problems


def ordered_arms(arms: Sequence[Arm]) -> list[Arm]:
    """Arms as the scheduler wants them: the unaided (control) arm first, then by order."""
    return sorted(arms, key=lambda arm: (arm.kind != ArmKind.UNAIDED, arm.order, arm.name))


# --- create and update -------------------------------------------------------------------------


@transaction.atomic
def study_create(
    *,
    actor: Actor,
    title: str,
    case_set: CaseSet,
    design: str,
    slug: str = "",
    description: str = "",
    instructions: str = "",
    consent_text: str = "",
    consent_version: str = "1",
    settings: Mapping[str, Any] | None = None,
    arms: Sequence[ArmSpec] | None = None,
    model_version: Any = None,
    seed: int | None = None,
) -> Study:
    """A draft study with its arms; the creating user becomes its coordinator."""
    parsed = _parse_settings(settings)
    study = Study(
        title=title,
        slug=_unique_slug(slug or title),
        description=description,
        case_set=case_set,
        design=design,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        settings=parsed.to_dict(),
        instructions=instructions,
        consent_text=consent_text,
        consent_version=consent_version,
        model_version=model_version,
        created_by=actor if _is_user(actor) else None,
    )
    study.full_clean()
    study.save()
    _replace_arms(study, list(arms) if arms is not None else default_arms(design))
    if _is_user(actor):
        membership_add(study=study, user=actor, role=Role.COORDINATOR, actor=actor)
    audit_record(actor=actor, action="study.create", study=study, obj=study,
                 data={"design": design, "seed": study.seed, "case_set": case_set.pk})
    return study


@transaction.atomic
def study_update(
    *,
    study: Study,
    actor: Actor,
    changes: Mapping[str, Any],
    arms: Sequence[ArmSpec] | None = None,
) -> Study:
    """Apply ``changes`` (field -> value; unchanged values are ignored) and, in a draft, ``arms``.

    After launch only the title, the description and the reader cap may change; anything else
    is refused with the reason.
    """
    locked = _lock(study)
    unknown = sorted(set(changes) - EDITABLE_FIELDS)
    if unknown:
        raise StudyError([f"{name} cannot be edited here." for name in unknown])
    changed = {name: value for name, value in changes.items() if _differs(locked, name, value)}
    if "settings" in changed:
        changed["settings"] = _parse_settings(changed["settings"]).to_dict()
    arms_changed = arms is not None and _arm_signature(arms) != _arm_signature(ordered_arms(locked.arms.all()))
    if locked.status != StudyStatus.DRAFT:
        _refuse_live_changes(locked, changed, arms_changed)
    for name, value in changed.items():
        setattr(locked, name, value)
    if changed:
        if "slug" in changed:
            locked.slug = _unique_slug(locked.slug, exclude=locked.pk)
        locked.full_clean()
        locked.save(update_fields=list(changed))
    if arms_changed:
        _replace_arms(locked, list(arms or ()))
    if changed or arms_changed:
        audit_record(actor=actor, action="study.update", study=locked, obj=locked,
                     data={"fields": sorted(changed), "arms": arms_changed})
    study.refresh_from_db()
    return study


def _refuse_live_changes(study: Study, changed: dict[str, Any], arms_changed: bool) -> None:
    state = study.get_status_display().lower()
    problems = []
    for name in sorted(set(changed) - LIVE_FIELDS):
        if name == "settings":
            current = _settings_or_default(study).to_dict()
            keys = {k for k in changed["settings"] if changed["settings"][k] != current.get(k)}
            blocked = sorted(keys - LIVE_SETTINGS)
            if blocked:
                problems.append(f"Settings ({', '.join(blocked)}) cannot change: the study is {state} and "
                                f"{FIELD_REASONS['settings']}.")
            continue
        label = Study._meta.get_field(name).verbose_name
        problems.append(f"The {label} cannot change: the study is {state} and {FIELD_REASONS[name]}.")
    if arms_changed:
        problems.append(f"The arms cannot change: the study is {state} and readers are scheduled to them.")
    if problems:
        raise StudyError(problems)
    cap = changed.get("settings", {}).get("max_readers")
    readers = study.memberships.filter(role=Role.READER).count()
    if cap is not None and cap < readers:
        raise StudyError(f"The reader cap cannot be below the {readers} readers already enrolled.")


def _differs(study: Study, name: str, value: Any) -> bool:
    current = getattr(study, name)
    if name in ("case_set", "model_version"):
        return (current.pk if current else None) != (value.pk if value else None)
    if name == "settings":
        return _parse_settings(value).to_dict() != _settings_or_default(study).to_dict()
    return current != value


def _arm_signature(arms: Sequence[ArmSpec | Arm]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(arm.name, arm.label, arm.kind, dict(arm.assist)) for arm in arms]


def _replace_arms(study: Study, arms: list[ArmSpec]) -> None:
    study.arms.all().delete()
    rows = [Arm(study=study, name=spec.name, label=spec.label, kind=spec.kind, order=i, assist=dict(spec.assist))
            for i, spec in enumerate(arms)]
    for row in rows:
        row.full_clean(exclude=["study"], validate_unique=False)
    Arm.objects.bulk_create(rows)


def _unique_slug(text: str, exclude: int | None = None) -> str:
    base = slugify(text)[:70] or "study"
    taken = set(Study.objects.filter(slug__startswith=base).exclude(pk=exclude).values_list("slug", flat=True))
    taken |= RESERVED_SLUGS
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _parse_settings(raw: Mapping[str, Any] | None) -> StudySettings:
    try:
        return parse_study_settings(dict(raw or {}))
    except SettingsError as exc:
        raise StudyError(exc.problems) from exc


# --- launch and status --------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulePlan:
    """Everything needed to turn scheduler output into rows, computed once per study."""

    spec: DesignSpec
    cases: list[str]
    case_ids: dict[str, int]
    arm_ids: dict[str, int]


def launch_problems(study: Study) -> list[str]:
    """Why the study cannot launch (empty when it can): the launch page's checklist."""
    try:
        parsed = parse_study_settings(study.settings)
    except SettingsError as exc:
        return list(exc.problems)
    arms = ordered_arms(list(study.arms.all()))
    problems = arm_problems(study.design, arms)
    keys = dict(Case.objects.filter(case_set=study.case_set).values_list("key", "pk"))
    cases = [key for key in keys if key not in set(parsed.training_cases)]
    missing_training = [key for key in parsed.training_cases if key not in keys]
    if missing_training:
        problems.append(f"Training cases not in the case set: {', '.join(missing_training[:5])}.")
    if not cases:
        problems.append(f"The case set “{study.case_set}” has no cases to read (besides training cases).")
    problems += _ai_problems(study, arms)
    problems += _strata_problems(study, parsed)
    if not problems:
        try:
            validate_spec(_design_spec(study, parsed, arms, {}), cases)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def _ai_problems(study: Study, arms: Sequence[Arm]) -> list[str]:
    if not any(arm.kind == ArmKind.AI for arm in arms):
        return []
    if study.model_version_id is None:
        return ["The AI arm needs a model version: choose one on the edit page."]
    try:
        from inference.services import study_ai_ready
    except ImportError:  # the inference app offers no readiness check: nothing to verify here
        return []
    return list(study_ai_ready(study))


def _strata_problems(study: Study, parsed: StudySettings) -> list[str]:
    name = parsed.stratify_by
    if not name or name in STRATA_ATTRIBUTES:
        return []
    if not Case.objects.filter(case_set=study.case_set, extra__has_key=name).exists():
        return [f"No case has “{name}” to stratify by; use one of {', '.join(STRATA_ATTRIBUTES)} "
                "or a key of the cases' extra metadata."]
    return []


@transaction.atomic
def study_launch(*, study: Study, actor: Actor) -> Study:
    """Validate, generate every enrolled reader's schedule, and open the study to readers."""
    locked = _lock(study)
    if locked.status != StudyStatus.DRAFT:
        raise StudyError(f"The study is already {locked.get_status_display().lower()}; only a draft can launch.")
    problems = launch_problems(locked)
    if problems:
        raise StudyError(problems)
    locked.status = StudyStatus.LAUNCHED
    locked.launched_at = timezone.now()
    locked.save(update_fields=["status", "launched_at"])
    plan = schedule_plan(locked)
    readers = Membership.objects.filter(study=locked, role=Role.READER).order_by("reader_index")
    generated = sum(len(_store_schedule(membership, locked, plan)) for membership in readers)
    _freeze_model_outputs(locked, actor)
    audit_record(actor=actor, action="study.launch", study=locked, obj=locked,
                 data={"seed": locked.seed, "readers": len(readers), "schedule_items": generated})
    study.refresh_from_db()
    return study


def _freeze_model_outputs(study: Study, actor: Actor) -> None:
    """The AI outputs a launched study shows must not change under its readers."""
    if study.model_version_id is None:
        return
    try:
        from inference.services import model_outputs_freeze
    except ImportError:  # no inference app: nothing to freeze
        return
    model_outputs_freeze(study=study, actor=actor)


@transaction.atomic
def study_pause(*, study: Study, actor: Actor) -> Study:
    return _transition(study, actor, {StudyStatus.LAUNCHED}, StudyStatus.PAUSED, "study.pause")


@transaction.atomic
def study_resume(*, study: Study, actor: Actor) -> Study:
    return _transition(study, actor, {StudyStatus.PAUSED}, StudyStatus.LAUNCHED, "study.resume")


@transaction.atomic
def study_close(*, study: Study, actor: Actor) -> Study:
    return _transition(study, actor, {StudyStatus.LAUNCHED, StudyStatus.PAUSED}, StudyStatus.CLOSED, "study.close")


def _transition(study: Study, actor: Actor, allowed: set[str], to: str, action: str) -> Study:
    locked = _lock(study)
    if locked.status not in allowed:
        current = locked.get_status_display().lower()
        target = StudyStatus(to).label.lower()
        raise StudyError(f"A {current} study cannot be {target}.")
    before = locked.status
    locked.status = to
    fields = ["status"]
    if to == StudyStatus.CLOSED:
        locked.closed_at = timezone.now()
        fields.append("closed_at")
    locked.save(update_fields=fields)
    audit_record(actor=actor, action=action, study=locked, obj=locked, data={"from": before, "to": to})
    study.refresh_from_db()
    return study


def _lock(study: Study) -> Study:
    return Study.objects.select_for_update().select_related("case_set").get(pk=study.pk)


# --- schedules ----------------------------------------------------------------------------------


def schedule_plan(study: Study) -> SchedulePlan:
    """The design spec, case keys and row ids for the study's schedules."""
    parsed = parse_study_settings(study.settings)
    arms = ordered_arms(list(study.arms.all()))
    cases = list(Case.objects.filter(case_set=study.case_set).select_related("reference").order_by("key"))
    training = set(parsed.training_cases)
    measured = [case for case in cases if case.key not in training]
    strata = {case.key: case_stratum(case, parsed.stratify_by) for case in measured} if parsed.stratify_by else {}
    return SchedulePlan(
        spec=_design_spec(study, parsed, arms, strata),
        cases=[case.key for case in measured],
        case_ids={case.key: case.pk for case in cases},
        arm_ids={arm.name: arm.pk for arm in arms},
    )


def _design_spec(study: Study, parsed: StudySettings, arms: Sequence[Arm], strata: dict[str, str]) -> DesignSpec:
    return DesignSpec(
        design=study.design,
        arms=tuple(arm.name for arm in arms),
        block_size=parsed.block_size,
        training_cases=tuple(parsed.training_cases),
        repeat_cases=parsed.repeat_cases,
        quota=parsed.quota,
        strata=strata or None,
    )


def case_stratum(case: Case, name: str) -> str:
    """The case's stratum under ``name`` (a case attribute or a key of its extra metadata)."""
    if name == "reference_group":
        value: Any = case.reference.group
    elif name == "reference_malignant":
        value = case.reference.malignant
    elif name in STRATA_ATTRIBUTES:
        value = getattr(case, name)
    else:
        value = case.extra.get(name)
    return "" if value is None else str(value)


@transaction.atomic
def schedule_generate(*, membership: Membership, actor: Actor = None) -> list[ScheduleItem]:
    """The reader's stored schedule, generating and storing it first if it has none yet."""
    locked = Membership.objects.select_for_update().select_related("study").get(pk=membership.pk)
    study = locked.study
    if study.status == StudyStatus.DRAFT:
        raise StudyError("Schedules are generated when the study launches.")
    if locked.role != Role.READER or locked.reader_index is None:
        raise StudyError("Only readers have schedules.")
    existing = list(ScheduleItem.objects.filter(membership=locked).order_by("position"))
    if existing:
        return existing
    items = _store_schedule(locked, study, schedule_plan(study))
    audit_record(actor=actor, action="schedule.generate", study=study, obj=locked, data={"items": len(items)})
    return items


def _store_schedule(membership: Membership, study: Study, plan: SchedulePlan) -> list[ScheduleItem]:
    if ScheduleItem.objects.filter(membership=membership).exists():
        return []
    planned = reader_schedule(plan.spec, plan.cases, study.seed, membership.reader_index)
    rows = [
        ScheduleItem(
            study=study, membership=membership, case_id=plan.case_ids[item.case], arm_id=plan.arm_ids[item.arm],
            position=item.position, phase=item.phase, session=item.session, training=item.training,
            repeat=item.repeat,
        )
        for item in planned
    ]
    return ScheduleItem.objects.bulk_create(rows)


def session_available_at(membership: Membership) -> datetime | None:
    """When session 2 of a crossover study opens: the washout after session 1 ended.

    None while session 1 is unfinished, and for designs without a second session.
    """
    study = membership.study
    if study.design != Design.CROSSOVER or membership.session1_completed_at is None:
        return None
    washout = parse_study_settings(study.settings).washout_days
    return membership.session1_completed_at + timedelta(days=washout)


# --- membership --------------------------------------------------------------------------------


@transaction.atomic
def reader_enrol(*, study: Study, user: AbstractBaseUser, actor: Actor = None) -> Membership:
    """Enrol ``user`` as the next reader (idempotent); in a running study, with a schedule."""
    locked = _lock(study)
    existing = Membership.objects.filter(study=locked, user=user).first()
    if existing is not None:
        if existing.role == Role.READER:
            return existing
        raise StudyError(f"{user.get_username()} is already a {existing.get_role_display().lower()} "
                         "in this study; each person has one role per study.")
    if locked.status == StudyStatus.CLOSED:
        raise StudyError("This study is closed and accepts no new readers.")
    readers = Membership.objects.filter(study=locked, role=Role.READER)
    cap = _settings_or_default(locked).max_readers
    if cap is not None and readers.count() >= cap:
        raise StudyError(f"This study is full: it takes at most {cap} readers.")
    last = readers.aggregate(last=Max("reader_index"))["last"]
    index = 0 if last is None else last + 1
    membership = Membership.objects.create(
        study=locked, user=user, role=Role.READER, reader_index=index,
        pseudonym=_free_pseudonym(locked, "R", index + 1),
    )
    if locked.status in (StudyStatus.LAUNCHED, StudyStatus.PAUSED):
        _store_schedule(membership, locked, schedule_plan(locked))
    audit_record(actor=actor if actor is not None else user, action="membership.enrol", study=locked,
                 obj=membership, data={"pseudonym": membership.pseudonym, "reader_index": index})
    return membership


@transaction.atomic
def membership_add(*, study: Study, user: AbstractBaseUser, role: str, actor: Actor) -> Membership:
    """Give ``user`` a role in the study (readers go through :func:`reader_enrol`)."""
    if role == Role.READER:
        return reader_enrol(study=study, user=user, actor=actor)
    if role not in STAFF_PREFIX:
        raise StudyError(f"Unknown role {role!r}.")
    locked = _lock(study)
    existing = Membership.objects.filter(study=locked, user=user).first()
    if existing is not None:
        if existing.role == role:
            return existing
        raise StudyError(f"{user.get_username()} is already a {existing.get_role_display().lower()} "
                         "in this study; each person has one role per study.")
    count = Membership.objects.filter(study=locked, role=role).count()
    membership = Membership.objects.create(
        study=locked, user=user, role=role, pseudonym=_free_pseudonym(locked, STAFF_PREFIX[role], count + 1)
    )
    audit_record(actor=actor, action="membership.add", study=locked, obj=membership,
                 data={"role": role, "pseudonym": membership.pseudonym})
    return membership


def _free_pseudonym(study: Study, prefix: str, number: int) -> str:
    taken = set(Membership.objects.filter(study=study, pseudonym__startswith=prefix).values_list("pseudonym", flat=True))
    while f"{prefix}{number:03d}" in taken:
        number += 1
    return f"{prefix}{number:03d}"


def _settings_or_default(study: Study) -> StudySettings:
    try:
        return parse_study_settings(study.settings)
    except SettingsError:
        return StudySettings()


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
) -> Invitation:
    """A link to join the study: single-use (one person) or open, optionally capped."""
    problems = []
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
        study=study, token=secrets.token_urlsafe(24), role=role, single_use=single_use, max_uses=max_uses,
        email=email, expires_at=expires_at, created_by=actor if _is_user(actor) else None,
    )
    invitation.full_clean()
    invitation.save()
    audit_record(actor=actor, action="invitation.create", study=study, obj=invitation,
                 data={"role": role, "single_use": single_use, "max_uses": max_uses})
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


def invitation_problem(invitation: Invitation, user: AbstractBaseUser | None = None) -> str | None:
    """Why the invitation cannot be accepted now (by ``user``, when given), else None."""
    if invitation.revoked:
        return "This invitation has been withdrawn by the study coordinator."
    if invitation.expires_at is not None and invitation.expires_at <= timezone.now():
        return f"This invitation expired on {invitation.expires_at:%d %B %Y}."
    if invitation.study.status == StudyStatus.CLOSED:
        return "This study is closed."
    if invitation.single_use and invitation.uses >= 1:
        return "This invitation has already been used. Ask the study coordinator for a new link."
    if invitation.max_uses is not None and invitation.uses >= invitation.max_uses:
        return f"This invitation is full: it admitted its {invitation.max_uses} people."
    if user is not None and invitation.email and invitation.email.lower() != (user.email or "").lower():
        return "This invitation was sent to a different e-mail address. Log in with that account."
    return None


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """Join the study through an invitation; accepting again returns the same membership.

    The invitation row is locked, so concurrent accepts never exceed a single-use link or a cap.
    """
    invitation = Invitation.objects.select_for_update().filter(token=token).first()
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
        membership = reader_enrol(study=study, user=user, actor=user)
    else:
        membership = membership_add(study=study, user=user, role=invitation.role, actor=user)
    invitation.uses += 1
    invitation.save(update_fields=["uses"])
    audit_record(actor=user, action="invitation.accept", study=study, obj=invitation,
                 data={"membership": membership.pk, "uses": invitation.uses})
    return membership


def _is_user(actor: Actor) -> bool:
    return actor is not None and bool(getattr(actor, "is_authenticated", False))
