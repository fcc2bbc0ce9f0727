"""The study domain's data model: studies and their people, schedules, readings and analysis runs.

Cases and taxonomies are `catalog.models`; the audit log is `common.models`.
"""

from .readings import AnalysisRun, Reading, ReadingDraft, RunStatus
from .studies import (
    AgeBand,
    Arm,
    ArmKind,
    ConsentRecord,
    DermoscopyUse,
    Design,
    Invitation,
    Membership,
    MembershipDemographics,
    Profession,
    ReaderProfile,
    Role,
    ScheduleItem,
    Site,
    Study,
    StudyLanguage,
    StudyStatus,
    StudyText,
    TextKind,
)

__all__ = [
    "AgeBand", "AnalysisRun", "Arm", "ArmKind", "ConsentRecord", "DermoscopyUse", "Design", "Invitation",
    "Membership", "MembershipDemographics", "Profession", "ReaderProfile", "Reading", "ReadingDraft", "Role",
    "RunStatus", "ScheduleItem", "Site", "Study", "StudyLanguage", "StudyStatus", "StudyText", "TextKind",
]
