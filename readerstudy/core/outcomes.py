"""Outcome definitions: the one place that says what a correct or appropriate answer is.

Pure functions over condition and management codes plus lookup dicts, so the export, the reader
feedback and any analysis agree (DESIGN.md 5.1):

* top-k: the reference code is among the first k codes of the reader's differential; a study may
  also give "generic" credit when a code in the first k is in the same taxonomy group;
* management appropriate: the matrix rates (reference condition, chosen option) optimal or
  appropriate; harmful: the matrix rates it dangerous.

Unknowns stay unknown: no management answer, or a matrix without that cell, gives ``None``
rather than a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

APPROPRIATE_RATINGS = frozenset({"optimal", "appropriate"})
HARMFUL_RATINGS = frozenset({"dangerous"})

# (condition code, management code) -> rating ("optimal", "appropriate", "inappropriate", "dangerous")
RatingMatrix = Mapping[tuple[str, str], str]


def correct_top_k(
    differential: Sequence[str],
    truth: str,
    k: int,
    *,
    groups: Mapping[str, str] | None = None,
    generic: bool = False,
) -> bool:
    """The reference code is in the first ``k`` codes (or, with ``generic``, one in its group is)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    top = list(differential[:k])
    if truth in top:
        return True
    if not generic or groups is None:
        return False
    truth_group = groups.get(truth)
    return truth_group is not None and any(groups.get(code) == truth_group for code in top)


def management_rating(truth: str, management: str, matrix: RatingMatrix) -> str | None:
    """The matrix cell for the reference condition and the chosen option, or None if absent."""
    if not management:
        return None
    return matrix.get((truth, management))


def management_appropriate(truth: str, management: str, matrix: RatingMatrix) -> bool | None:
    rating = management_rating(truth, management, matrix)
    return None if rating is None else rating in APPROPRIATE_RATINGS


def management_harmful(truth: str, management: str, matrix: RatingMatrix) -> bool | None:
    rating = management_rating(truth, management, matrix)
    return None if rating is None else rating in HARMFUL_RATINGS


@dataclass(frozen=True)
class ReadingOutcome:
    correct_top1: bool
    correct_top3: bool
    management_appropriate: bool | None
    management_harmful: bool | None


def reading_outcome(
    *,
    differential: Sequence[str],
    truth: str,
    management: str,
    groups: Mapping[str, str],
    matrix: RatingMatrix,
    generic: bool = False,
) -> ReadingOutcome:
    """All outcomes of one reading, as exported in the readings table."""
    return ReadingOutcome(
        correct_top1=correct_top_k(differential, truth, 1, groups=groups, generic=generic),
        correct_top3=correct_top_k(differential, truth, 3, groups=groups, generic=generic),
        management_appropriate=management_appropriate(truth, management, matrix),
        management_harmful=management_harmful(truth, management, matrix),
    )
