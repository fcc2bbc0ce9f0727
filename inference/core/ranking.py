"""The one rule for ranking a model's conditions: its stored top codes, else falling probability.

Ties in probability go by code, so every page, export and analysis lists the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def by_probability(probabilities: Mapping[str, Any]) -> list[str]:
    """Codes by falling probability, ties by code."""
    return [code for code, _ in sorted(probabilities.items(), key=lambda kv: (-float(kv[1]), kv[0]))]


def ranked_codes(probabilities: Mapping[str, Any] | None, top_codes: Any = None) -> list[str]:
    """The stored top codes when present, else the codes by falling probability."""
    if isinstance(top_codes, Sequence) and not isinstance(top_codes, str) and top_codes:
        return [str(code) for code in top_codes]
    return by_probability(probabilities if isinstance(probabilities, Mapping) else {})


def all_ranked(probabilities: Mapping[str, Any] | None, top_codes: Any = None) -> list[str]:
    """Every code: the ranked ones first, then the rest by falling probability."""
    head = ranked_codes(probabilities, top_codes)
    seen = set(head)
    return head + [code for code in by_probability(probabilities or {}) if code not in seen]
