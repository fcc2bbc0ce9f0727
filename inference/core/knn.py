"""The similar-cases gallery read two ways: grouped by diagnosis, and as a similarity-weighted kNN vote.

Weights. By default a neighbour weighs its cosine similarity clipped at 0 (a dissimilar image
carries no vote), so the vote reads as "the similarity mass of each diagnosis" and is easy to
explain beside the gallery. With ``temperature`` t a neighbour weighs exp(similarity / t), the
weighted kNN of Wu et al. 2018 (instance discrimination, t = 0.07), which lets the closest images
dominate. When no neighbour has a positive weight the vote falls back to counts and says so.

Order (groups and distribution): weight, then best similarity, then code, so a tie is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DiagnosisGroup:
    diagnosis: str
    count: int
    share: float  # of the vote's total weight
    best_similarity: float
    ranks: tuple[int, ...]  # gallery ranks (1-based) of the group's images

    def as_dict(self) -> dict[str, object]:
        return {"diagnosis": self.diagnosis, "count": self.count, "share": round(self.share, 6),
                "best_similarity": round(self.best_similarity, 6), "ranks": list(self.ranks)}


@dataclass(frozen=True)
class KnnVote:
    distribution: tuple[tuple[str, float], ...]  # (code, share), shares sum to 1; empty without neighbours
    winner: str | None
    weighting: str  # "similarity", "exp(similarity/t)" or "count"

    def as_dict(self) -> dict[str, object]:
        return {"winner": self.winner, "weighting": self.weighting,
                "distribution": {code: round(share, 6) for code, share in self.distribution}}

    def share(self, code: str) -> float:
        return dict(self.distribution).get(code, 0.0)


def vote_weights(similarities: Sequence[float], temperature: float | None = None) -> tuple[np.ndarray, str]:
    """Weights of ranked neighbours and the name of the weighting actually used."""
    sims = np.asarray(similarities, np.float64)
    if temperature is not None:
        if temperature <= 0:
            raise ValueError("vote temperature must be positive")
        # Shifting by the maximum keeps exp finite; shares are unchanged by the shift.
        weights = np.exp((sims - sims.max(initial=0.0)) / temperature)
        return weights, f"exp(similarity/{temperature:g})"
    weights = np.clip(sims, 0.0, None)
    if len(sims) and weights.sum() <= 0:
        return np.ones_like(sims), "count"
    return weights, "similarity"


def _tally(pairs: Sequence[tuple[str, float]], temperature: float | None):
    weights, weighting = vote_weights([s for _, s in pairs], temperature)
    total = float(weights.sum())
    entries: dict[str, dict] = {}
    for rank, ((code, sim), weight) in enumerate(zip(pairs, weights, strict=True), start=1):
        entry = entries.setdefault(code, {"weight": 0.0, "best": -np.inf, "ranks": []})
        entry["weight"] += float(weight)
        entry["best"] = max(entry["best"], float(sim))
        entry["ranks"].append(rank)
    order = sorted(entries, key=lambda c: (-entries[c]["weight"], -entries[c]["best"], c))
    return [(code, entries[code]) for code in order], total, weighting


def tally(pairs: Sequence[tuple[str, float]], temperature: float | None = None
          ) -> tuple[tuple[DiagnosisGroup, ...], KnnVote]:
    """Groups and vote of ranked (diagnosis, similarity) neighbours, in one pass."""
    if not pairs:
        return (), KnnVote(distribution=(), winner=None, weighting="none (no neighbours)")
    tallied, total, weighting = _tally(pairs, temperature)
    groups = tuple(DiagnosisGroup(diagnosis=code, count=len(entry["ranks"]), share=entry["weight"] / total,
                                  best_similarity=entry["best"], ranks=tuple(entry["ranks"]))
                   for code, entry in tallied)
    vote = KnnVote(distribution=tuple((g.diagnosis, g.share) for g in groups), winner=groups[0].diagnosis,
                   weighting=weighting)
    return groups, vote


def knn_vote(pairs: Sequence[tuple[str, float]], temperature: float | None = None) -> KnnVote:
    """Vote of ranked (diagnosis, similarity) neighbours: each code's share of the total weight."""
    return tally(pairs, temperature)[1]


def group_by_diagnosis(pairs: Sequence[tuple[str, float]], temperature: float | None = None
                       ) -> tuple[DiagnosisGroup, ...]:
    """The gallery grouped by diagnosis, groups in vote order, images in gallery order within a group."""
    return tally(pairs, temperature)[0]
