"""A fixed diagnosis -> concept profile: the concept findings a simulated assistant shows.

A simulated assistant has no image embeddings, so its concept chips come from what a clinician
expects to see in the diagnosis it displays: a melanoma's "atypical network, blue-white veil,
several colours", a psoriasis's "plaque, scale, erythema". The profile of a code is its own entry
when listed here, else the union of the look-alike families it belongs to
(:data:`inference.core.lookalikes.FAMILIES`), else its taxonomy group's; codes are those of the
shipped taxonomy and of concepts_v1.json. A profile is data, not a model: it is labelled simulated
wherever it is shown.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from .lookalikes import FAMILIES

CONDITION_CONCEPTS: dict[str, tuple[str, ...]] = {
    "MEL": ("atypical_network", "blue_white_veil", "regression_structures", "multiple_colours", "asymmetry",
            "border_irregularity", "streaks", "black", "blue_grey"),
    "LM": ("macule", "hyperpigmentation", "brown", "border_irregularity", "asymmetry", "multiple_colours"),
    "NEV": ("pigment_network", "globules", "brown", "papule", "macule"),
    "DN": ("pigment_network", "atypical_network", "brown", "border_irregularity", "macule"),
    "BLUE_NEV": ("blue_grey", "papule", "macule"),
    "SPITZ": ("streaks", "globules", "papule", "red", "dotted_vessels"),
    "SK": ("milia_like_cysts", "comedo_like_openings", "brown", "plaque", "papule", "crust"),
    "BCC": ("arborising_vessels", "telangiectasia", "nodule", "ulcer", "blue_grey", "white"),
    "SCC": ("nodule", "scale", "crust", "ulcer", "erythema", "white"),
    "AK": ("scale", "erythema", "macule", "white"),
    "BOWEN": ("plaque", "scale", "erythema", "dotted_vessels", "red"),
    "DF": ("papule", "pigment_network", "white", "brown"),
    "CHERRY_ANGIOMA": ("papule", "red"),
    "PYOGENIC_GRANULOMA": ("nodule", "red", "erosion", "crust"),
    "PSO": ("plaque", "scale", "erythema", "red", "white", "dotted_vessels"),
    "AD": ("patch", "erythema", "scale", "lichenification", "crust"),
    "TINEA_CORPORIS": ("patch", "scale", "erythema", "border_irregularity"),
    "ACNE": ("papule", "pustule", "comedo_like_openings", "erythema", "scar"),
    "VITILIGO": ("macule", "patch", "hypopigmentation", "white"),
}
GROUP_CONCEPTS: dict[str, tuple[str, ...]] = {
    "malignant_neoplasm": ("nodule", "ulcer", "asymmetry", "border_irregularity", "multiple_colours"),
    "premalignant": ("scale", "erythema", "plaque"),
    "benign_neoplasm": ("papule", "brown", "pigment_network"),
    "inflammatory": ("plaque", "erythema", "scale"),
    "infectious": ("patch", "scale", "erythema", "pustule"),
    "pigmentary": ("macule", "patch", "hyperpigmentation", "brown"),
    "vascular": ("papule", "red", "telangiectasia"),
    "hair_nail": ("patch", "scale"),
    "other": ("papule", "plaque"),
}
FAMILY_CONCEPTS: dict[str, tuple[str, ...]] = {
    "pigmented lesion (dermoscopy)": ("pigment_network", "globules", "dots", "brown"),
    "sun-damaged skin, keratotic (face, scalp, hands)": ("scale", "crust", "erythema"),
    "pearly or skin-coloured papule/nodule": ("papule", "nodule", "telangiectasia"),
    "red or purple vascular papule": ("papule", "red", "blue_grey"),
    "scaly red plaques (trunk, limbs)": ("plaque", "scale", "erythema"),
    "annular lesions": ("plaque", "erythema", "border_irregularity"),
    "hands and feet": ("scale", "vesicle", "lichenification"),
    "flexures and groin": ("patch", "erythema", "erosion"),
    "face: papules, pustules, redness": ("papule", "pustule", "erythema"),
    "pustules, boils and crusts": ("pustule", "crust", "nodule"),
    "vesicles and blisters": ("vesicle", "bulla", "erosion", "crust"),
    "red, warm, swollen lower leg": ("erythema", "patch", "red"),
    "leg ulcer": ("ulcer", "crust", "erythema"),
    "wheals, targets and bites": ("papule", "erythema", "red"),
    "pale patches": ("macule", "patch", "hypopigmentation"),
    "brown or grey-blue patches": ("macule", "patch", "hyperpigmentation", "brown"),
    "itchy papules and nodules": ("papule", "nodule", "lichenification", "crust"),
    "hair loss (scalp)": ("patch", "scale", "atrophy"),
    "nails": ("hyperpigmentation", "crust"),
    "dry, rough skin": ("scale", "lichenification"),
}
PROFILE_WEIGHT = 0.08  # score of a concept the displayed top-1 has with all the probability mass
BASELINE = -0.02  # score of a concept no displayed diagnosis has (its strength stays low)
NOISE_SD = 0.004


def profile(code: str, group: str | None, vocabulary_codes: Sequence[str]) -> frozenset[str]:
    """The concepts of one diagnosis, restricted to those in the vocabulary."""
    known = set(vocabulary_codes)
    if code in CONDITION_CONCEPTS:
        chosen = set(CONDITION_CONCEPTS[code])
    else:
        chosen = {c for name, codes in FAMILIES.items() if code in codes for c in FAMILY_CONCEPTS.get(name, ())}
        if not chosen:
            chosen = set(GROUP_CONCEPTS.get(group or "", GROUP_CONCEPTS["other"]))
    return frozenset(chosen & known)


def profile_scores(codes: Sequence[str], displayed: Sequence[float], groups: Mapping[str, str],
                   vocabulary_codes: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """Per concept: BASELINE + PROFILE_WEIGHT x the displayed probability of the diagnoses that have it, plus a
    little seeded noise (so two cases of one diagnosis do not show identical bars)."""
    membership = _membership(tuple(codes), tuple(groups.get(code) for code in codes), tuple(vocabulary_codes))
    scores = BASELINE + PROFILE_WEIGHT * np.asarray(displayed, np.float64) @ membership
    return scores + rng.normal(0.0, NOISE_SD, len(vocabulary_codes))


@functools.lru_cache(maxsize=32)
def _membership(codes: tuple[str, ...], groups: tuple[str | None, ...],
                vocabulary_codes: tuple[str, ...]) -> np.ndarray:
    """[C, K] 0/1: which concepts each diagnosis's profile has (built once per taxonomy and vocabulary,
    not per case: it was 0.15 s a case)."""
    matrix = np.array([[concept in profile(code, group, vocabulary_codes) for concept in vocabulary_codes]
                       for code, group in zip(codes, groups, strict=True)], dtype=np.float64)
    matrix.setflags(write=False)
    return matrix
