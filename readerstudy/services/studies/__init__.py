"""Study lifecycle, enrolment, invitations and schedules.

A study is drafted, launched, paused and resumed, and closed:
``draft -> launched <-> paused``, and ``launched | paused -> closed``. Once launched, nothing that
affects data changes (design, arms, cases, seed, answer form, model): readings and stored
schedules depend on them. Schedules are generated once per reader, at launch or when a reader
joins a launched study, by :func:`readerstudy.core.scheduling.reader_schedule` from the study seed and
the reader's enrolment index, stored as rows and never recomputed.

Import from here (``from readerstudy.services.studies import study_launch``); the submodules are
split by domain: ``lifecycle``, ``membership`` (enrolment and invitations), ``schedules``, ``arms``.
"""

from readerstudy.services.studies.arms import (
    ArmSpec,
    arm_assist_problems,
    arm_problems,
    default_arms,
    ordered_arms,
)
from readerstudy.services.studies.common import Actor, InvitationError, StudyError, StudyInvalid
from readerstudy.services.studies.lifecycle import (
    launch_problems,
    study_close,
    study_create,
    study_launch,
    study_pause,
    study_resume,
    study_update,
)
from readerstudy.services.studies.membership import (
    demographics_correct,
    invitation_accept,
    invitation_create,
    invitation_problem,
    invitation_revoke,
    invitation_token_valid,
    membership_add,
    reader_enrol,
)
from readerstudy.services.studies.schedules import (
    STRATA_ATTRIBUTES,
    SchedulePlan,
    case_stratum,
    schedule_generate,
    schedule_plan,
)
from readerstudy.services.studies.sites import site_create
from readerstudy.services.studies.texts import (
    ShownText,
    current_language,
    normalize_language,
    reader_language,
    study_languages,
    study_languages_set,
    study_text_set,
    text_for_reader,
)

__all__ = [
    "STRATA_ATTRIBUTES",
    "Actor",
    "ArmSpec",
    "InvitationError",
    "SchedulePlan",
    "ShownText",
    "StudyError",
    "StudyInvalid",
    "arm_assist_problems",
    "arm_problems",
    "case_stratum",
    "current_language",
    "default_arms",
    "demographics_correct",
    "invitation_accept",
    "invitation_create",
    "invitation_problem",
    "invitation_revoke",
    "invitation_token_valid",
    "launch_problems",
    "membership_add",
    "normalize_language",
    "ordered_arms",
    "reader_enrol",
    "reader_language",
    "schedule_generate",
    "schedule_plan",
    "site_create",
    "study_close",
    "study_create",
    "study_languages",
    "study_languages_set",
    "study_launch",
    "study_pause",
    "study_resume",
    "study_text_set",
    "study_update",
    "text_for_reader",
]
