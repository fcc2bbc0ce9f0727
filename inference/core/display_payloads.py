"""The payloads of the AI displays, from arrays: ``{"normal": P, "faulty": P}`` per case and kind (numpy).

Each display is computed twice, once from the model's vector and once from the vector a faulty
item shows (the reference diagnosis removed, renormalised: :mod:`inference.core.coherence`), so a
faulty item's gauge, gallery and concepts side with its wrong top-1. Both variants come from the
same image embeddings; nothing here touches a database or a model.

- malignancy: the gauge of each displayed vector (:func:`coherence.gauge_for_display`).
- similar cases: the normal gallery is the plain nearest-neighbour search; the faulty one is the
  coherent gallery whose kNN vote winner is the faulty top-1 (:func:`coherence.coherent_gallery`).
- concepts: the findings of the case's images; for the faulty variant the images' component along
  the hidden diagnosis's text embedding is moved onto the displayed top-1's (same length, then
  renormalised), i.e. the evidence the model saw for the hidden diagnosis is read as evidence for
  the one displayed. A heuristic, documented as such in the payload (``faulty_rule``).
- learned concepts: for the displayed top-1 and top-2, the latents that push each zero-shot logit
  up most (:func:`sae_explain.decompose_logit`), with their names and top library images, and the
  same after the artefact-robust re-score (latents named hair / ink / ruler removed).
Simulated models (no embeddings) get :func:`simulated_similar` and :func:`simulated_concepts`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .coherence import coherent_gallery, displayed_probabilities, displayed_top1, gauge_for_display
from .concept_profiles import profile_scores
from .concepts import (
    ConceptCalibration,
    ConceptEmbeddings,
    ConceptFinding,
    ConceptFindings,
    ConceptVocabulary,
    case_findings,
    concept_strength,
)
from .malignancy import OperatingThreshold, PlattCalibration
from .maths import softmax
from .neighbours import (
    NEAR_DUPLICATE_COSINE,
    LibraryImage,
    Neighbour,
    QueryCase,
    ReferenceLibrary,
    find_neighbours,
    gallery,
)
from .sae import SAEArtefact
from .sae_explain import LatentName, artefact_latents

VARIANTS = ("normal", "faulty")
GALLERY_N = 16  # stored; an arm shows its first n_similar (8-16)
TOP_LATENTS = 5
SIMULATED_LOGIT_SCALE = 100.0
CONCEPT_FAULTY_RULE = "hidden diagnosis direction moved onto the displayed top-1"


@dataclass(frozen=True, eq=False)
class CaseInput:
    """One case as the displays need it: its model vector, the hidden code, and (real models) its images."""

    case_key: str
    reference: str
    probabilities: tuple[float, ...]  # over DisplayContext.codes
    image_sha256: tuple[str, ...] = ()
    embeddings: np.ndarray | None = None  # [k, D] unit rows, in image_sha256 order
    image_weights: tuple[float, ...] | None = None  # fusion weight of each image (see image_weights)
    patient_id: str | None = None
    lesion_id: str | None = None

    def displayed(self, variant: str, codes: Sequence[str]) -> tuple[float, ...]:
        """The vector a `variant` item shows; computed once per case (every display kind reads it)."""
        cache = self.__dict__.setdefault("_displayed", {})  # a frozen dataclass may still memoise
        if variant not in cache:
            cache[variant] = displayed_probabilities(codes, self.probabilities,
                                                     hidden=self.reference if variant == "faulty" else None)
        return cache[variant]


@dataclass(frozen=True, eq=False)
class DisplayContext:
    """What every case of a job shares: built once per job, not per case."""

    codes: tuple[str, ...]
    names: Mapping[str, str]
    groups: Mapping[str, str]
    malignant: frozenset[str]
    threshold: OperatingThreshold
    calibration: PlattCalibration | None = None
    logit_scale: float = SIMULATED_LOGIT_SCALE
    temperature: float = 1.0
    class_embeddings: np.ndarray | None = None  # [C, D] unit rows
    library: ReferenceLibrary | None = None
    library_images: tuple[LibraryImage, ...] = ()  # simulated galleries draw from these
    vocabulary: ConceptVocabulary | None = None
    concept_embeddings: ConceptEmbeddings | None = None
    concept_calibration: ConceptCalibration | None = None  # per-concept thresholds (calibrate_concepts)
    sae: SAEArtefact | None = None
    concept_model: str = ""
    latent_names: tuple[LatentName, ...] = ()
    top_images: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # latent -> library image ids
    algebra: LatentAlgebra | None = None  # LatentAlgebra.build(ctx): once per job
    seed: int = 0


def image_weights(roles: Sequence[str], fusion_weights: Mapping[str, float]) -> tuple[float, ...]:
    """Per-image weights that reproduce :func:`inference.core.maths.fuse_logits` (roles averaged, then weighted)."""
    counts = {role: roles.count(role) for role in set(roles)}
    raw = [float(fusion_weights.get(role, 1.0)) / counts[role] for role in roles]
    total = sum(float(fusion_weights.get(role, 1.0)) for role in counts)
    if total <= 0:
        raise ValueError("fusion weights of the roles present sum to zero")
    return tuple(w / total for w in raw)


def malignancy_payload(ctx: DisplayContext, case: CaseInput) -> dict[str, Any]:
    return {variant: gauge_for_display(ctx.codes, case.displayed(variant, ctx.codes), malignant=ctx.malignant,
                                       threshold=ctx.threshold, calibration=ctx.calibration).as_dict()
            for variant in VARIANTS}


def similar_payloads(ctx: DisplayContext, cases: Sequence[CaseInput], *, n: int = GALLERY_N,
                     near_duplicate: float = NEAR_DUPLICATE_COSINE) -> list[dict[str, Any]]:
    """Galleries for many cases: one exact search, plus a restricted one for the faulty items that need it."""
    if ctx.library is None:
        raise ValueError("similar cases need a reference library")
    queries = [QueryCase(c.case_key, c.embeddings, c.image_sha256, c.patient_id, c.lesion_id) for c in cases]
    nearest = find_neighbours(queries, ctx.library, n=n, near_duplicate=near_duplicate)
    top1 = [displayed_top1(ctx.codes, c.displayed("faulty", ctx.codes)) for c in cases]
    need = [i for i, (found, code) in enumerate(zip(nearest, top1, strict=True)) if found.vote.winner != code]
    restricted = find_neighbours([queries[i] for i in need], ctx.library, n=n, near_duplicate=near_duplicate,
                                 only_diagnosis=[top1[i] for i in need]) if need else ()
    faulty = list(nearest)
    for i, of_top1 in zip(need, restricted, strict=True):
        faulty[i] = coherent_gallery(nearest[i], of_top1, top1=top1[i], n=n)
    return [{"normal": a.as_dict(), "faulty": b.as_dict()} for a, b in zip(nearest, faulty, strict=True)]


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def faulty_embeddings(ctx: DisplayContext, case: CaseInput) -> np.ndarray:
    """The case's image embeddings with the hidden diagnosis's direction moved onto the displayed top-1's."""
    x = np.asarray(case.embeddings, np.float64)
    top1 = displayed_top1(ctx.codes, case.displayed("faulty", ctx.codes))
    if top1 == case.reference or ctx.class_embeddings is None:
        return x
    hidden = _unit(np.asarray(ctx.class_embeddings[ctx.codes.index(case.reference)], np.float64))
    shown = _unit(np.asarray(ctx.class_embeddings[ctx.codes.index(top1)], np.float64))
    along = x @ hidden
    moved = x + along[:, None] * (shown - hidden)[None, :]
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def concepts_payload(ctx: DisplayContext, case: CaseInput) -> dict[str, Any]:
    if ctx.vocabulary is None or ctx.concept_embeddings is None:
        raise ValueError("concept findings need a vocabulary and its text embeddings")
    out = {}
    for variant, x in (("normal", case.embeddings), ("faulty", faulty_embeddings(ctx, case))):
        findings = case_findings(x, embeddings=ctx.concept_embeddings, vocabulary=ctx.vocabulary,
                                 logit_scale=ctx.logit_scale, calibration=ctx.concept_calibration,
                                 image_weights=case.image_weights)
        out[variant] = findings.as_dict()
    out["faulty"]["faulty_rule"] = CONCEPT_FAULTY_RULE
    return out


def _top2(codes: Sequence[str], displayed: Sequence[float]) -> list[str]:
    order = np.argsort(-np.asarray(displayed, np.float64), kind="stable")[:2]
    return [codes[i] for i in order]


@dataclass(frozen=True, eq=False)
class LatentAlgebra:
    """What the logit decomposition shares across cases, computed once per job.

    ``along[j, c] = <d_j, t_c> / ||t_c||``, so a case's contributions to every class are one
    product ``scale * mean_f[:, None] * along`` instead of one :func:`sae_explain.decompose_logit`
    per class and variant; the residual (bias + reconstruction error) is the logit minus their sum,
    the same split as decompose_logit's (tested against it).
    """

    class_units: np.ndarray  # [C, D] float64 unit rows
    along: np.ndarray  # [L, C]
    w_dec: np.ndarray  # [D, L] float64
    dropped: tuple[int, ...]  # latents named by an artefact concept
    labels: Mapping[int, LatentName]

    @classmethod
    def build(cls, ctx: DisplayContext) -> LatentAlgebra:
        classes = np.asarray(ctx.class_embeddings, np.float64)
        units = classes / np.linalg.norm(classes, axis=1, keepdims=True)
        w_dec = ctx.sae.weights["W_dec"].astype(np.float64)
        return cls(units, w_dec.T @ units.T, w_dec, artefact_latents(ctx.latent_names),
                   {n.latent: n for n in ctx.latent_names})


def _classes(ctx: DisplayContext, algebra: LatentAlgebra, contributions: np.ndarray, logits: np.ndarray,
             codes: Sequence[str], *, drop: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    out = []
    for code in codes:
        c = ctx.codes.index(code)
        column = contributions[:, c]
        positive = [j for j in np.flatnonzero(column > 0) if j not in drop]
        top = sorted(positive, key=lambda j: (-column[j], j))[:TOP_LATENTS]
        out.append({
            "code": code, "name": ctx.names.get(code, code), "logit": round(float(logits[c]), 4),
            "latents": [{"index": int(j), "name": algebra.labels[j].name if j in algebra.labels else None,
                         "code": algebra.labels[j].code if j in algebra.labels else None,
                         "contribution": round(float(column[j]), 4),
                         "top_images": list(ctx.top_images.get(int(j), ()))} for j in top],
            "residual": round(float(logits[c] - column.sum()), 4),
        })
    return out


def learned_concepts_payload(ctx: DisplayContext, case: CaseInput) -> dict[str, Any]:
    """Top-1 and top-2 of each displayed vector, split into latents; and the artefact-robust re-score's."""
    if ctx.sae is None or ctx.class_embeddings is None:
        raise ValueError("learned concepts need a trained concept model and the class embeddings")
    algebra = ctx.algebra or LatentAlgebra.build(ctx)
    x = np.atleast_2d(np.asarray(case.embeddings, np.float64))
    w = np.full(len(x), 1 / len(x)) if case.image_weights is None else np.asarray(case.image_weights, np.float64)
    w = w / w.sum()
    f = ctx.sae.encode(x)  # [M, L], once for every class and variant
    contributions = ctx.logit_scale * (w @ f)[:, None] * algebra.along  # [L, C]
    logits = ctx.logit_scale * (w @ (x @ algebra.class_units.T))  # [C]
    # Artefact-robust re-score (sae_explain.artefact_robust_logits with the activations already at hand).
    drop = list(algebra.dropped)
    removed = f[:, drop] @ algebra.w_dec[:, drop].T
    clean = x - removed
    norms, clean_norms = np.linalg.norm(x, axis=1), np.linalg.norm(clean, axis=1)
    if (clean_norms <= 0).any():
        raise ValueError("an embedding is entirely made of artefact latents: nothing left to classify")
    clean *= (norms / clean_norms)[:, None]
    robust_probs = softmax(ctx.logit_scale * (w @ (clean @ algebra.class_units.T)), ctx.temperature)
    removed_share = float(w @ (np.linalg.norm(removed, axis=1) / norms))
    out = {}
    for variant in VARIANTS:
        hidden = case.reference if variant == "faulty" else None
        robust_shown = displayed_probabilities(ctx.codes, robust_probs, hidden=hidden)
        ranking = _top2(ctx.codes, robust_shown)
        out[variant] = {
            "concept_model": ctx.concept_model,
            "classes": _classes(ctx, algebra, contributions, logits, _top2(ctx.codes, case.displayed(variant, ctx.codes))),
            "artefact_robust": {"dropped": drop, "removed_share": round(removed_share, 4), "ranking": ranking,
                                "classes": _classes(ctx, algebra, contributions, logits, ranking, drop=frozenset(drop))},
        }
    return out


# --- simulated assistants: coherent displays from labels -----------------------------------------


def case_rng(seed: int, case_key: str, what: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{case_key}:{what}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _allocation(codes: Sequence[str], displayed: Sequence[float], available: Mapping[str, int], n: int) -> dict[str, int]:
    """How many gallery images each displayed diagnosis gets: the top-1 a majority, the rest by probability."""
    ranked = [codes[i] for i in np.argsort(-np.asarray(displayed), kind="stable") if available.get(codes[i], 0)]
    if not ranked:
        return {}
    counts = {ranked[0]: min(available[ranked[0]], max(n // 2 + 1, round(n * max(displayed))))}
    rest = ranked[1:4]
    mass = sum(displayed[codes.index(c)] for c in rest)
    for code in rest:
        left = n - sum(counts.values())
        if left <= 0:
            break
        want = max(1, round((n - counts[ranked[0]]) * displayed[codes.index(code)] / mass)) if mass > 0 else 1
        counts[code] = min(want, left, available[code])
    return counts


def simulated_similar(ctx: DisplayContext, case: CaseInput, *, n: int = GALLERY_N) -> dict[str, Any]:
    """A gallery of library images whose diagnoses follow the displayed ranking (the top-1 always wins the vote)."""
    blocked = set(case.image_sha256)
    excluded = {"same_image": 0, "same_patient": 0, "same_lesion": 0}
    by_code: dict[str, list[LibraryImage]] = {}
    for im in ctx.library_images:
        if im.sha256 in blocked:
            excluded["same_image"] += 1
        elif case.patient_id and im.patient_id == case.patient_id:
            excluded["same_patient"] += 1
        elif case.lesion_id and im.lesion_id == case.lesion_id:
            excluded["same_lesion"] += 1
        else:
            by_code.setdefault(im.diagnosis, []).append(im)
    out = {}
    for variant in VARIANTS:
        displayed = case.displayed(variant, ctx.codes)
        rng = case_rng(ctx.seed, case.case_key, f"gallery:{variant}")
        counts = _allocation(ctx.codes, displayed, {c: len(v) for c, v in by_code.items()}, n)
        neighbours = []
        for rank, (code, count) in enumerate(counts.items()):
            chosen = rng.choice(len(by_code[code]), size=count, replace=False)
            top = 0.9 - 0.06 * rank  # the displayed top-1's images are the most similar
            for j, index in enumerate(sorted(chosen)):
                im = by_code[code][index]
                similarity = float(np.clip(top - 0.01 * j + rng.normal(0, 0.004), -1, 1))
                neighbours.append(Neighbour(0, im.image_id, im.sha256, im.case_key, im.diagnosis, similarity,
                                            case.image_sha256[0] if case.image_sha256 else ""))
        neighbours.sort(key=lambda nb: -nb.similarity)
        top1 = displayed_top1(ctx.codes, displayed)
        rule = "simulated" if counts.get(top1) else "simulated_incomplete"
        out[variant] = gallery(case.case_key, neighbours, merge="simulated", near_duplicate=1.0, excluded=excluded,
                               rule=rule).as_dict()
    return out


def simulated_concepts(ctx: DisplayContext, case: CaseInput) -> dict[str, Any]:
    """Findings from the displayed diagnoses' concept profiles (:mod:`inference.core.concept_profiles`)."""
    if ctx.vocabulary is None:
        raise ValueError("concept findings need a vocabulary")
    vocab = ctx.vocabulary
    out = {}
    for variant in VARIANTS:
        rng = case_rng(ctx.seed, case.case_key, f"concepts:{variant}")
        scores = profile_scores(ctx.codes, case.displayed(variant, ctx.codes), ctx.groups, vocab.codes, rng)
        strengths = concept_strength(scores, 0.0, SIMULATED_LOGIT_SCALE)
        findings = tuple(ConceptFinding(code=c.code, name=c.name, kind=c.kind, score=float(scores[k]),
                                        strength=float(strengths[k]), threshold=0.0, calibrated=False, present=None)
                         for k, c in enumerate(vocab.concepts))
        payload = ConceptFindings(vocab.version, vocab.fingerprint, SIMULATED_LOGIT_SCALE, findings).as_dict()
        out[variant] = {**payload, "simulated": True}
    return out
