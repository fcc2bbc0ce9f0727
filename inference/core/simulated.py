"""A simulated assistant: set top-1 accuracy, plausible probabilities, seeded per case.

For pilots, demos and automation-bias arms; its outputs are always labelled as simulated.
With `faulty_rate` r, a share r of cases gets a deliberately wrong, confident suggestion; on the
others top-1 is correct with probability `accuracy`. Overall top-1 accuracy is (1 - r) x accuracy.
Its differentials are clinically coherent: a wrong top-1 and the runner-ups are conditions that look
like the true one (:mod:`inference.core.lookalikes`: same presentation and site, else the same
group), so a melanoma's list reads "naevus, seborrhoeic keratosis", never "acne, tinea".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .lookalikes import lookalikes
from .predict import Prediction

CONFIDENCE_SD = 0.12
SECOND_BEST_CAP = 0.8  # no other code gets more than this share of the top-1 probability


@dataclass(frozen=True)
class SimulatedAssistant:
    accuracy: float
    faulty_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.accuracy <= 1 or not 0 <= self.faulty_rate <= 1:
            raise ValueError("accuracy and faulty_rate must lie in [0, 1]")

    def _rng(self, case_key: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}:{case_key}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def predict(
        self,
        case_key: str,
        truth: str,
        codes: Sequence[str],
        groups: Mapping[str, str] | None = None,
    ) -> Prediction:
        """Same (seed, case) -> same prediction, whatever order cases are processed in."""
        codes = tuple(codes)
        if truth not in codes or len(codes) < 2:
            raise ValueError("the truth must be one of at least two codes")
        rng = self._rng(case_key)
        faulty = bool(rng.random() < self.faulty_rate)
        correct = not faulty and bool(rng.random() < self.accuracy)
        near = lookalikes(truth, codes, groups)
        top1 = truth if correct else _plausible_wrong(rng, truth, codes, near)
        p_top = _top_probability(rng, len(codes), faulty, self.accuracy)
        probs = _spread(rng, codes, top1, p_top, boost=None if correct or faulty else truth,
                        near=set(near) | {truth} if near else None)
        return Prediction(
            codes=codes,
            probabilities=tuple(float(p) for p in probs),
            details={"simulated": True, "faulty": faulty, "correct": correct},
        )


def _plausible_wrong(rng: np.random.Generator, truth: str, codes: tuple[str, ...], near: list[str]) -> str:
    """A look-alike of the truth (the mistake a clinician or a model makes), else any other code."""
    pool = near or [c for c in codes if c != truth]
    return str(pool[rng.integers(len(pool))])


def _top_probability(rng: np.random.Generator, n: int, faulty: bool, accuracy: float) -> float:
    # Faulty suggestions are confidently wrong; otherwise confidence centres on the accuracy, so the
    # probabilities are roughly calibrated on average.
    centre = 0.8 if faulty else accuracy
    low = max(0.3, 1.0 / (1.0 + SECOND_BEST_CAP * (n - 1)) + 0.02)
    return float(np.clip(rng.normal(centre, CONFIDENCE_SD), low, 0.97))


def _spread(rng: np.random.Generator, codes: tuple[str, ...], top1: str, p_top: float, boost: str | None,
            near: set[str] | None = None) -> np.ndarray:
    """Share 1 - p_top among the other codes (Dirichlet), none of them above the cap.

    The largest shares go to the codes in `near` (the truth and its look-alikes), in random order, so
    the runner-ups of the differential are what a clinician would weigh; the rest get the small ones.
    """
    others = [c for c in codes if c != top1]
    weights = rng.dirichlet(np.full(len(others), 0.3))
    if near:
        ranked = np.sort(weights)[::-1]
        first = [i for i, c in enumerate(others) if c in near]
        rest_idx = [i for i, c in enumerate(others) if c not in near]
        order = list(rng.permutation(first)) + list(rng.permutation(rest_idx))
        weights = np.empty_like(ranked)
        weights[order] = ranked
    if boost is not None and rng.random() < 0.5:
        # A wrong top-1 often still has the truth as runner-up.
        i = others.index(boost)
        j = int(np.argmax(weights))
        weights[i], weights[j] = weights[j], weights[i]
    rest = (1.0 - p_top) * weights
    cap = SECOND_BEST_CAP * p_top
    for _ in range(50):
        over = rest > cap
        if not over.any():
            break
        excess = (rest[over] - cap).sum()
        rest[over] = cap
        free = ~over & (rest < cap)
        rest[free] += excess * rest[free] / rest[free].sum() if rest[free].sum() > 0 else excess / free.sum()
    probs = np.empty(len(codes))
    probs[codes.index(top1)] = p_top
    probs[[codes.index(c) for c in others]] = rest
    return probs / probs.sum()
