"""Faulty AI that never contradicts itself: the gauge and the gallery follow the displayed differential.

A faulty item today (readerstudy's reader selectors, ``_without_reference``) shows the model's ranked
list with the reference diagnosis removed, so its top-1 is the model's best wrong code; the simulated
assistant's faulty predictions are wrong already. Whatever made the displayed differential, the
other displays are derived from it and never from the hidden truth:

1. Displayed vector (:func:`displayed_probabilities`): the model's vector with the hidden code's
   probability removed and the rest renormalised, so its ranking is exactly the faulty list.
2. Gauge (:func:`gauge_for_display`): P(malignant) of the displayed vector, then calibrated and
   thresholded as usual. A faulty "naevus" for a melanoma therefore loses the melanoma's mass.
3. Gallery (:func:`coherent_gallery`): the nearest-neighbour gallery, kept when its kNN vote winner
   is the displayed top-1; otherwise re-ranked so that library images of the displayed top-1 lead:
   the m nearest images of that diagnosis (ranks 1..m, by similarity), then the nearest images of the
   other diagnoses, with the smallest m that makes the top-1 win the vote. Similarities stay the
   true cosines; only the choice and the order change. Adding an image of the top-1 and dropping the
   least similar other can only raise its share, so the smallest m exists whenever the library holds
   enough images of that diagnosis; when it does not, the gallery says so (``rule``).

:func:`agreement` reports both invariants for one display (for tests and launch checks). Whether
the gauge's flag agrees with the top-1's malignant flag is reported, not forced: a benign top-1 with
much malignant mass in the runner-ups is what a real model can show too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from .malignancy import (
    MalignancyGauge,
    OperatingThreshold,
    PlattCalibration,
    malignancy_gauge,
    malignancy_score,
)
from .neighbours import DEFAULT_N, CaseNeighbours, QueryCase, ReferenceLibrary, find_neighbours, gallery

NEAREST, TOP1_LED, TOP1_SHORT = "nearest", "top1_led", "top1_led_incomplete"


def displayed_probabilities(codes: Sequence[str], probabilities: Sequence[float], *,
                            hidden: str | None = None) -> tuple[float, ...]:
    """The vector the reader is shown: `hidden` (the reference, on a faulty item) removed, renormalised."""
    probs = np.asarray(probabilities, np.float64)
    if len(probs) != len(codes) or not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError("one finite, non-negative probability per code")
    if hidden is not None:
        if hidden not in codes:
            raise ValueError(f"hidden code {hidden!r} is not in the taxonomy")
        probs = probs.copy()
        probs[list(codes).index(hidden)] = 0.0
    total = probs.sum()
    if total <= 0:
        raise ValueError("nothing left to display once the hidden code is removed")
    return tuple(float(p) for p in probs / total)


def displayed_top1(codes: Sequence[str], probabilities: Sequence[float]) -> str:
    """The first code of the displayed list (ties: taxonomy order, as a stable sort gives)."""
    return codes[int(np.argmax(np.asarray(probabilities, np.float64)))]


def gauge_for_display(codes: Sequence[str], displayed: Sequence[float], *, malignant: Collection[str],
                      threshold: OperatingThreshold, calibration: PlattCalibration | None = None) -> MalignancyGauge:
    """The malignancy gauge of the displayed vector (never of the model's hidden top-1)."""
    return malignancy_gauge(raw_score=malignancy_score(codes, displayed, malignant), threshold=threshold,
                            calibration=calibration)


def coherent_gallery(nearest: CaseNeighbours, of_top1: CaseNeighbours, *, top1: str, n: int = DEFAULT_N,
                     vote_temperature: float | None = None) -> CaseNeighbours:
    """A gallery whose kNN vote winner is `top1` (see the module docstring for the rule).

    `nearest` is the case's ordinary search; `of_top1` the same search restricted to library images
    of `top1` (``find_neighbours(..., only_diagnosis=[top1])``), both with the same exclusions.
    """
    if nearest.vote.winner == top1:
        return nearest
    if any(nb.diagnosis != top1 for nb in of_top1.neighbours):
        raise ValueError("of_top1 must hold library images of top1 only")
    already = sum(nb.diagnosis == top1 for nb in nearest.neighbours)
    others = [nb for nb in nearest.neighbours if nb.diagnosis != top1]
    candidate = nearest
    for m in range(already + 1, n + 1):
        if m > len(of_top1.neighbours):
            break
        candidate = gallery(nearest.case_key, [*of_top1.neighbours[:m], *others[:n - m]], merge=nearest.merge,
                            near_duplicate=nearest.near_duplicate, excluded=nearest.excluded, rule=TOP1_LED,
                            vote_temperature=vote_temperature)
        if candidate.vote.winner == top1:
            return candidate
    lead = of_top1.neighbours
    return gallery(nearest.case_key, [*lead, *others[:max(0, n - len(lead))]], merge=nearest.merge,
                   near_duplicate=nearest.near_duplicate, excluded=nearest.excluded, rule=TOP1_SHORT,
                   vote_temperature=vote_temperature)


def coherent_galleries(cases: Sequence[QueryCase], library: ReferenceLibrary, *, top1: Sequence[str],
                       n: int = DEFAULT_N, vote_temperature: float | None = None, **search) -> tuple[CaseNeighbours, ...]:
    """:func:`coherent_gallery` for many cases at once (two exact searches); `search` goes to find_neighbours."""
    if len(top1) != len(cases):
        raise ValueError("one displayed top-1 per case")
    nearest = find_neighbours(cases, library, n=n, vote_temperature=vote_temperature, **search)
    need = [i for i, (found, code) in enumerate(zip(nearest, top1, strict=True)) if found.vote.winner != code]
    restricted = find_neighbours([cases[i] for i in need], library, n=n, vote_temperature=vote_temperature,
                                 only_diagnosis=[top1[i] for i in need], **search) if need else ()
    out = list(nearest)
    for i, of_top1 in zip(need, restricted, strict=True):
        out[i] = coherent_gallery(nearest[i], of_top1, top1=top1[i], n=n, vote_temperature=vote_temperature)
    return tuple(out)


def agreement(*, top1: str, top1_malignant: bool, gauge: MalignancyGauge | None = None,
              neighbours: CaseNeighbours | None = None) -> dict[str, bool | None]:
    """Does each display side with the displayed top-1? None where the display is absent or empty."""
    return {
        "gallery_vote_is_top1": None if neighbours is None or neighbours.vote.winner is None
        else neighbours.vote.winner == top1,
        "gauge_flag_matches_top1": None if gauge is None else gauge.malignant == top1_malignant,
    }
