"""Predictions as frozen values: what a model says about one case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .maths import fuse_logits, image_logits, softmax

TOP_CODES_STORED = 10


@dataclass(frozen=True)
class Prediction:
    """Probabilities over a taxonomy's codes (same order), plus the fused logits they came from."""

    codes: tuple[str, ...]
    probabilities: tuple[float, ...]
    logits: tuple[float, ...] = ()
    temperature: float = 1.0
    details: Mapping[str, object] = field(default_factory=dict)

    def top(self, k: int = 3) -> tuple[tuple[str, float], ...]:
        order = np.argsort(-np.asarray(self.probabilities), kind="stable")[:k]
        return tuple((self.codes[i], self.probabilities[i]) for i in order)

    @property
    def top_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.top(TOP_CODES_STORED))

    def as_mapping(self, digits: int = 6) -> dict[str, float]:
        return {code: round(float(p), digits) for code, p in zip(self.codes, self.probabilities, strict=True)}


def predict_from_embeddings(
    embeddings_by_role: Mapping[str, Sequence[np.ndarray]],
    *,
    class_embeddings: np.ndarray,
    codes: Sequence[str],
    logit_scale: float,
    fusion_weights: Mapping[str, float],
    temperature: float,
) -> Prediction:
    """Zero-shot prediction for one case from its image embeddings grouped by role."""
    logits_by_role = {
        role: image_logits(np.stack(list(vectors)), class_embeddings, logit_scale)
        for role, vectors in embeddings_by_role.items()
        if len(vectors)
    }
    fused = fuse_logits(logits_by_role, fusion_weights)
    probs = softmax(fused, temperature)
    return Prediction(
        codes=tuple(codes),
        probabilities=tuple(float(p) for p in probs),
        logits=tuple(float(x) for x in fused),
        temperature=temperature,
        details={"roles": sorted(logits_by_role)},
    )
