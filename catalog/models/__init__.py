"""The case catalogue: coded taxonomies and case sets with their images.

The tables keep their `readerstudy_*` names (`Meta.db_table`): they were created by the readerstudy
app before the catalogue became its own app, and an existing database keeps its data unmoved.
"""

from .cases import Case, CaseImage, CaseSet, ImageRole, ReferenceSource, Sex
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
    "Appropriateness", "Case", "CaseImage", "CaseSet", "Condition", "ConditionGroup", "ImageRole",
    "ManagementOption", "ManagementRating", "ReferenceSource", "Sex", "Taxonomy", "TranslationStatus",
]
