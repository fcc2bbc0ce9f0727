"""Create, update, launch, pause, resume and close a study."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Case, CaseSet
from common.audit import audit_record
from readerstudy.core.scheduling import validate_spec
from readerstudy.core.study_settings import SettingsError, StudySettings, parse_study_settings
from readerstudy.models import Arm, ArmKind, Membership, Role, Study, StudyStatus
from readerstudy.permissions import case_sets_usable
from readerstudy.services.studies.ai import study_ai_ready, study_outputs_freeze
from readerstudy.services.studies.arms import (
    ArmSpec,
    arm_assist_problems,
    arm_problems,
    default_arms,
    ordered_arms,
)
from readerstudy.services.studies.common import (
    Actor,
    StudyError,
    StudyInvalid,
    is_user,
    lock_study,
    parse_settings,
    settings_or_default,
)
from readerstudy.services.studies.membership import membership_add, role_conflict
from readerstudy.services.studies.schedules import (
    STRATA_ATTRIBUTES,
    design_spec,
    schedule_plan,
    store_schedule,
)
from readerstudy.services.studies.texts import frozen_texts, text_problems

# Changeable while a study runs: they do not affect readings or schedules.
LIVE_FIELDS = frozenset({"title", "description"})
LIVE_SETTINGS = frozenset({"max_readers"})
EDITABLE_FIELDS = frozenset(
    {
        "title",
        "slug",
        "description",
        "instructions",
        "consent_text",
        "consent_version",
        "case_set",
        "design",
        "seed",
        "settings",
        "model_version",
    }
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
    _refuse_private_case_set(actor, case_set)
    parsed = parse_settings(settings)
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
        created_by=actor if is_user(actor) else None,
    )
    study.full_clean()
    study.save()
    _replace_arms(study, list(arms) if arms is not None else default_arms(design))
    if is_user(actor):
        membership_add(study=study, user=actor, role=Role.COORDINATOR, actor=actor)
    audit_record(
        actor=actor,
        action="study.create",
        study=study,
        obj=study,
        data={"design": design, "seed": study.seed, "case_set": case_set.pk},
    )
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
    locked = lock_study(study)
    unknown = sorted(set(changes) - EDITABLE_FIELDS)
    if unknown:
        raise StudyError([f"{name} cannot be edited here." for name in unknown])
    changed = {name: value for name, value in changes.items() if _differs(locked, name, value)}
    if "settings" in changed:
        changed["settings"] = parse_settings(changed["settings"]).to_dict()
    arms_changed = arms is not None and _arm_signature(arms) != _arm_signature(
        ordered_arms(locked.arms.all())
    )
    if locked.status != StudyStatus.DRAFT:
        _refuse_live_changes(locked, changed, arms_changed)
    if "case_set" in changed:
        _refuse_private_case_set(actor, changed["case_set"])
        _refuse_role_conflicts(locked, changed["case_set"])
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
        audit_record(
            actor=actor,
            action="study.update",
            study=locked,
            obj=locked,
            data={"fields": sorted(changed), "arms": arms_changed},
        )
    study.refresh_from_db()
    return study


def _refuse_live_changes(study: Study, changed: dict[str, Any], arms_changed: bool) -> None:
    state = study.get_status_display().lower()
    problems = []
    for name in sorted(set(changed) - LIVE_FIELDS):
        if name == "settings":
            current = settings_or_default(study).to_dict()
            keys = {k for k in changed["settings"] if changed["settings"][k] != current.get(k)}
            blocked = sorted(keys - LIVE_SETTINGS)
            if blocked:
                problems.append(
                    f"Settings ({', '.join(blocked)}) cannot change: the study is {state} and "
                    f"{FIELD_REASONS['settings']}."
                )
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


def _refuse_private_case_set(actor: Actor, case_set: CaseSet) -> None:
    """Another coordinator's private case set (and its reference labels) is not theirs to build on."""
    if is_user(actor) and not case_sets_usable(actor).filter(pk=case_set.pk).exists():
        raise StudyInvalid([f"case_set: no case set {case_set.pk} you may use"],
                           {"case_set": [f"no case set {case_set.pk} you may use"]})


def _refuse_role_conflicts(study: Study, case_set: CaseSet) -> None:
    """A draft moved to other cases: its members must be allowed their roles on those cases."""
    problems = [
        problem
        for membership in study.memberships.select_related("user")
        if (problem := role_conflict(user=membership.user, case_set_id=case_set.pk, role=membership.role,
                                     exclude_study=study.pk))
    ]
    if problems:
        raise StudyError(problems)


def _differs(study: Study, name: str, value: Any) -> bool:
    current = getattr(study, name)
    if name in ("case_set", "model_version"):
        return (current.pk if current else None) != (value.pk if value else None)
    if name == "settings":
        return parse_settings(value).to_dict() != settings_or_default(study).to_dict()
    return current != value


def _arm_signature(arms: Sequence[ArmSpec | Arm]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(arm.name, arm.label, arm.kind, dict(arm.assist)) for arm in arms]


def _replace_arms(study: Study, arms: list[ArmSpec]) -> None:
    problems = arm_assist_problems(arms)
    if problems:
        raise StudyInvalid(problems, SettingsError(problems).fields)
    study.arms.all().delete()
    rows = [
        Arm(study=study, name=spec.name, label=spec.label, kind=spec.kind, order=i, assist=dict(spec.assist))
        for i, spec in enumerate(arms)
    ]
    for row in rows:
        row.full_clean(exclude=["study"], validate_unique=False)
    Arm.objects.bulk_create(rows)


def _unique_slug(text: str, exclude: int | None = None) -> str:
    base = slugify(text)[:70] or "study"
    taken = set(
        Study.objects.filter(slug__startswith=base).exclude(pk=exclude).values_list("slug", flat=True)
    )
    taken |= RESERVED_SLUGS
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def launch_problems(study: Study) -> list[str]:
    """Why the study cannot launch (empty when it can): the launch page's checklist."""
    try:
        parsed = parse_study_settings(study.settings)
    except SettingsError as exc:
        return list(exc.problems)
    arms = ordered_arms(list(study.arms.all()))
    problems = arm_problems(study.design, arms)  # also each arm's typed display options
    problems += _field_problems(study)
    keys = dict(Case.objects.filter(case_set=study.case_set).values_list("key", "pk"))
    cases = [key for key in keys if key not in set(parsed.training_cases)]
    missing_training = [key for key in parsed.training_cases if key not in keys]
    if missing_training:
        problems.append(f"Training cases not in the case set: {', '.join(missing_training[:5])}.")
    if not cases:
        problems.append(f"The case set “{study.case_set}” has no cases to read (besides training cases).")
    problems += _ai_problems(study, arms)
    problems += _strata_problems(study, parsed)
    problems += text_problems(study, consent_elsewhere=parsed.consent_elsewhere)  # every offered language
    if not problems:
        try:
            validate_spec(design_spec(study, parsed, arms, {}), cases)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def _field_problems(study: Study) -> list[str]:
    """The study row itself, validated again (a draft may have been written around the services)."""
    try:
        study.full_clean(validate_unique=False)
    except ValidationError as exc:
        return [f"{name}: {message}" for name, messages in exc.message_dict.items() for message in messages]
    return []


def _ai_problems(study: Study, arms: Sequence[Arm]) -> list[str]:
    if not any(arm.kind == ArmKind.AI for arm in arms):
        return []
    if study.model_version_id is None:
        return ["The AI arm needs a model version: choose one on the edit page."]
    return list(study_ai_ready(study))


def _strata_problems(study: Study, parsed: StudySettings) -> list[str]:
    name = parsed.stratify_by
    if not name or name in STRATA_ATTRIBUTES:
        return []
    if not Case.objects.filter(case_set=study.case_set, extra__has_key=name).exists():
        return [
            f"No case has “{name}” to stratify by; use one of {', '.join(STRATA_ATTRIBUTES)} "
            "or a key of the cases' extra metadata."
        ]
    return []


@transaction.atomic
def study_launch(*, study: Study, actor: Actor) -> Study:
    """Validate, generate every enrolled reader's schedule, and open the study to readers."""
    locked = lock_study(study)
    if locked.status != StudyStatus.DRAFT:
        raise StudyError(
            f"The study is already {locked.get_status_display().lower()}; only a draft can launch."
        )
    problems = launch_problems(locked)
    if problems:
        raise StudyError(problems)
    locked.status = StudyStatus.LAUNCHED
    locked.launched_at = timezone.now()
    locked.texts_frozen = frozen_texts(locked)  # the reader pages read them from the study row
    locked.save(update_fields=["status", "launched_at", "texts_frozen"])
    plan = schedule_plan(locked)
    readers = Membership.objects.filter(study=locked, role=Role.READER).order_by("reader_index")
    generated = sum(len(store_schedule(membership, locked, plan)) for membership in readers)
    _freeze_model_outputs(locked, actor)
    audit_record(
        actor=actor,
        action="study.launch",
        study=locked,
        obj=locked,
        data={"seed": locked.seed, "readers": len(readers), "schedule_items": generated},
    )
    study.refresh_from_db()
    return study


def _freeze_model_outputs(study: Study, actor: Actor) -> None:
    """The AI outputs a launched study shows must not change under its readers."""
    if study.model_version_id is None:
        return
    study_outputs_freeze(study=study, actor=actor)


@transaction.atomic
def study_pause(*, study: Study, actor: Actor) -> Study:
    return _transition(study, actor, {StudyStatus.LAUNCHED}, StudyStatus.PAUSED, "study.pause")


@transaction.atomic
def study_resume(*, study: Study, actor: Actor) -> Study:
    return _transition(study, actor, {StudyStatus.PAUSED}, StudyStatus.LAUNCHED, "study.resume")


@transaction.atomic
def study_close(*, study: Study, actor: Actor) -> Study:
    return _transition(
        study, actor, {StudyStatus.LAUNCHED, StudyStatus.PAUSED}, StudyStatus.CLOSED, "study.close"
    )


def _transition(study: Study, actor: Actor, allowed: set[str], to: str, action: str) -> Study:
    locked = lock_study(study)
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
