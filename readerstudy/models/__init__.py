"""The study domain's data model, one module per domain."""

from .cases import Case, CaseImage, CaseSet, ImageRole, ReferenceSource, Sex
from .readings import AnalysisRun, AuditEvent, Reading, ReadingDraft, RunStatus
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
from .taxonomy import (
    Appropriateness,
    Condition,
    ConditionGroup,
    ManagementOption,
    ManagementRating,
    Taxonomy,
    TranslationStatus,
)

__all__ = [
    "AgeBand", "AnalysisRun", "Appropriateness", "Arm", "ArmKind", "AuditEvent", "Case", "CaseImage",
    "CaseSet", "Condition", "ConditionGroup", "ConsentRecord", "DermoscopyUse", "Design", "ImageRole",
    "Invitation", "ManagementOption", "ManagementRating", "Membership", "MembershipDemographics", "Profession", "ReaderProfile",
    "Reading", "ReadingDraft", "ReferenceSource", "Role", "RunStatus", "ScheduleItem", "Sex", "Site", "Study", "StudyLanguage", "StudyStatus", "StudyText",
    "Taxonomy", "TextKind", "TranslationStatus",
]
