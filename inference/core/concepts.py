"""Concept findings: how strongly an image shows each concept of a versioned vocabulary.

A concept's score is the image's cosine similarity to the concept's prompt ensemble minus its
similarity to a reference prompt ensemble ("a photo of skin"), as MONET does (Kim et al. 2024,
Nat Med): the reference removes what every skin photo shares, so a positive score means the image
is closer to "skin with scale" than to plain skin. The prompt ensembles are built by
:func:`inference.core.zeroshot.class_embeddings`, the same code the zero-shot classifier uses.

Strength (the UI bar, 0..1) is ``sigmoid(logit_scale * (score - threshold))``. With the threshold
at 0 (uncalibrated) this is the model's own two-way softmax between "concept" and "reference", the
probability CLIP's contrastive head would give the concept prompt over the reference prompt; with a
calibrated threshold the bar crosses one half exactly where the concept is called present.

Thresholds are calibrated per concept on a labelled set by Youden's J (the cut maximising
sensitivity + specificity - 1; ties go to the higher cut, so fewer findings are shown; the cut lies
halfway between the two neighbouring observed scores, as pROC's ``coords`` reports it). A concept
with no positives, no negatives, no labels, or J = 0 is reported not estimable with the reason,
and its findings stay uncalibrated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .evaluation import auc
from .zeroshot import ClassNames, class_embeddings, class_prompts

KINDS = ("morphology", "dermoscopic", "colour", "artefact")
DEFAULT_VOCABULARY = Path(__file__).resolve().parents[1] / "data" / "concepts_v1.json"
CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
UNCALIBRATED_THRESHOLD = 0.0
NORM_TOLERANCE = 1e-3
CALIBRATION_RULE = "youden_j"
VOCABULARY_FIELDS = {"name", "version", "description", "templates", "reference_prompts", "concepts"}
CONCEPT_FIELDS = {"code", "name", "synonyms", "kind", "templates"}


class VocabularyError(ValueError):
    """A concept vocabulary that cannot be used; the message names the concept and the field."""


@dataclass(frozen=True)
class Concept:
    code: str
    name: str
    synonyms: tuple[str, ...]
    kind: str
    templates: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)

    def prompts(self) -> list[str]:
        return class_prompts(self.names, self.templates)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "synonyms": list(self.synonyms), "kind": self.kind,
                "templates": list(self.templates)}


@dataclass(frozen=True)
class ConceptVocabulary:
    name: str
    version: str
    description: str
    concepts: tuple[Concept, ...]
    reference_prompts: tuple[str, ...]
    fingerprint: str  # sha256 of the canonical JSON: two vocabularies with one version string cannot mix

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.concepts)

    @property
    def artefact_codes(self) -> frozenset[str]:
        return frozenset(c.code for c in self.concepts if c.kind == "artefact")

    def concept(self, code: str) -> Concept:
        for concept in self.concepts:
            if concept.code == code:
                return concept
        raise KeyError(code)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "description": self.description,
                "reference_prompts": list(self.reference_prompts), "fingerprint": self.fingerprint,
                "concepts": [c.as_dict() for c in self.concepts]}


def _strings(value: Any, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise VocabularyError(f"{where} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise VocabularyError(f"{where} must not be empty")
    if len(set(value)) != len(value):
        raise VocabularyError(f"{where} has duplicates")
    return tuple(v.strip() for v in value)


def _templates(value: Any, where: str) -> tuple[str, ...]:
    templates = _strings(value, where)
    for template in templates:
        if "{}" not in template or template.count("{") != 1 or template.count("}") != 1:
            raise VocabularyError(f"{where}: template {template!r} needs exactly one '{{}}' and no other braces")
    return templates


def _concept(raw: Any, index: int, kind_templates: Mapping[str, tuple[str, ...]]) -> Concept:
    if not isinstance(raw, dict):
        raise VocabularyError(f"concept #{index}: must be an object")
    label = f"concept {raw.get('code')!r} (#{index})"
    unknown = set(raw) - CONCEPT_FIELDS
    if unknown:
        raise VocabularyError(f"{label}: unknown field(s) {sorted(unknown)}")
    for key in ("code", "name", "kind"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise VocabularyError(f"{label}: field '{key}' must be a non-empty string")
    if not CODE_RE.match(raw["code"]):
        raise VocabularyError(f"{label}: field 'code' must be lower-case letters, digits and underscores")
    if raw["kind"] not in KINDS:
        raise VocabularyError(f"{label}: field 'kind' is {raw['kind']!r}, not one of {list(KINDS)}")
    synonyms = _strings(raw.get("synonyms", []), f"{label}: field 'synonyms'", allow_empty=True)
    if raw["name"].strip() in synonyms:
        raise VocabularyError(f"{label}: field 'synonyms' repeats the name")
    if "templates" in raw:
        templates = _templates(raw["templates"], f"{label}: field 'templates'")
    elif raw["kind"] in kind_templates:
        templates = kind_templates[raw["kind"]]
    else:
        raise VocabularyError(f"{label}: field 'templates' missing and the vocabulary has none for "
                              f"kind {raw['kind']!r}")
    return Concept(raw["code"], raw["name"].strip(), synonyms, raw["kind"], templates)


def vocabulary_from_dict(data: Mapping[str, Any]) -> ConceptVocabulary:
    """Validate a parsed vocabulary file; every concept's templates are resolved (own, else its kind's)."""
    if not isinstance(data, Mapping):
        raise VocabularyError("a vocabulary must be a JSON object")
    unknown = set(data) - VOCABULARY_FIELDS
    if unknown:
        raise VocabularyError(f"vocabulary: unknown field(s) {sorted(unknown)}")
    for key in ("name", "version"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise VocabularyError(f"vocabulary: field '{key}' must be a non-empty string")
    raw_templates = data.get("templates", {})
    if not isinstance(raw_templates, Mapping) or set(raw_templates) - set(KINDS):
        raise VocabularyError(f"vocabulary: field 'templates' must map kinds {list(KINDS)} to templates")
    kind_templates = {kind: _templates(v, f"vocabulary: field 'templates.{kind}'") for kind, v in raw_templates.items()}
    reference = _strings(data.get("reference_prompts"), "vocabulary: field 'reference_prompts'")
    raw_concepts = data.get("concepts")
    if not isinstance(raw_concepts, list) or not raw_concepts:
        raise VocabularyError("vocabulary: field 'concepts' must be a non-empty list")
    concepts = tuple(_concept(raw, i, kind_templates) for i, raw in enumerate(raw_concepts))
    seen: set[str] = set()
    for i, concept in enumerate(concepts):
        if concept.code in seen:
            raise VocabularyError(f"concept {concept.code!r} (#{i}): field 'code' is used twice")
        seen.add(concept.code)
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return ConceptVocabulary(
        name=data["name"].strip(), version=data["version"].strip(), description=str(data.get("description", "")),
        concepts=concepts, reference_prompts=reference,
        fingerprint=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )


def load_vocabulary(path: Path | str = DEFAULT_VOCABULARY) -> ConceptVocabulary:
    """Read and validate a vocabulary JSON file (the shipped default unless a path is given)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise VocabularyError(f"{path}: not valid JSON ({exc})") from exc
    return vocabulary_from_dict(data)


@dataclass(frozen=True, eq=False)
class ConceptEmbeddings:
    """Per concept the normalised prompt-ensemble text embedding, plus the reference ensemble's."""

    vocabulary_version: str
    fingerprint: str
    codes: tuple[str, ...]
    concepts: np.ndarray  # [K, D] float32, rows unit norm
    reference: np.ndarray  # [D] float32, unit norm


def concept_embeddings(
    encode_texts: Callable[[list[str]], torch.Tensor], vocabulary: ConceptVocabulary, *, batch_size: int = 256
) -> ConceptEmbeddings:
    """Text embeddings of every concept and of the reference prompts (one encoder pass per template set)."""
    rows: dict[str, np.ndarray] = {}
    by_templates: dict[tuple[str, ...], list[Concept]] = {}
    for concept in vocabulary.concepts:
        by_templates.setdefault(concept.templates, []).append(concept)
    for templates, group in by_templates.items():
        names = [ClassNames(c.code, c.names) for c in group]
        vectors = class_embeddings(encode_texts, names, templates, batch_size=batch_size).numpy()
        rows.update({c.code: v for c, v in zip(group, vectors, strict=True)})
    reference = class_embeddings(encode_texts, [ClassNames("reference", vocabulary.reference_prompts)], ("{}",),
                                 batch_size=batch_size).numpy()[0]
    return ConceptEmbeddings(
        vocabulary_version=vocabulary.version, fingerprint=vocabulary.fingerprint, codes=vocabulary.codes,
        concepts=np.stack([rows[code] for code in vocabulary.codes]).astype(np.float32),
        reference=reference.astype(np.float32),
    )


def _checked_images(image_embeddings: np.ndarray, dim: int) -> np.ndarray:
    x = np.atleast_2d(np.asarray(image_embeddings, np.float64))
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"image embeddings have shape {x.shape}, the text embeddings {dim} dimensions")
    if not np.isfinite(x).all():
        raise ValueError("image embeddings contain NaN or infinity")
    if np.abs(np.linalg.norm(x, axis=1) - 1).max(initial=0) > NORM_TOLERANCE:
        raise ValueError("image embeddings must be L2-normalised (as LoadedModel.encode_images returns them)")
    return x


def concept_scores(image_embeddings: np.ndarray, embeddings: ConceptEmbeddings) -> np.ndarray:
    """[N, K] float64: cos(image, concept) - cos(image, reference)."""
    x = _checked_images(image_embeddings, embeddings.concepts.shape[1])
    return x @ embeddings.concepts.T.astype(np.float64) - (x @ embeddings.reference.astype(np.float64))[:, None]


def concept_strength(scores: np.ndarray, thresholds: np.ndarray | float, logit_scale: float) -> np.ndarray:
    """The UI bar: sigmoid(logit_scale x (score - threshold)), 0..1, one half at the threshold."""
    z = logit_scale * (np.asarray(scores, np.float64) - np.asarray(thresholds, np.float64))
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow warnings


@dataclass(frozen=True)
class ConceptThreshold:
    code: str
    threshold: float | None
    status: str  # "estimated" or "not_estimable"
    reason: str
    n_positive: int
    n_negative: int
    sensitivity: float | None = None
    specificity: float | None = None
    youden_j: float | None = None
    auc: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "threshold": self.threshold, "status": self.status, "reason": self.reason,
                "n_positive": self.n_positive, "n_negative": self.n_negative, "sensitivity": self.sensitivity,
                "specificity": self.specificity, "youden_j": self.youden_j, "auc": self.auc}


def youden_threshold(code: str, scores: np.ndarray, positive: np.ndarray) -> ConceptThreshold:
    """The cut maximising TPR - FPR for "present when score >= cut"; see the module docstring."""
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        missing = "positives" if n_pos == 0 else "negatives"
        return ConceptThreshold(code, None, "not_estimable", f"no {missing} in the labelled set", n_pos, n_neg)
    cuts = np.unique(scores)[::-1]  # descending: each observed score as a candidate cut
    called = scores[None, :] >= cuts[:, None]
    tp = (called & positive).sum(axis=1)
    fp = (called & ~positive).sum(axis=1)
    # J x n_pos x n_neg in integers, so that ties are exact (1 - 1/3 and 2/3 differ in floating point)
    j_scaled = tp * n_neg - fp * n_pos
    best = int(np.argmax(j_scaled))  # first maximum in descending order: the highest cut among ties
    tpr, fpr = tp / n_pos, fp / n_neg
    j = tpr - fpr
    area = auc(scores, positive)
    if j_scaled[best] <= 0:
        return ConceptThreshold(code, None, "not_estimable", "scores do not separate positives from negatives "
                                "(Youden J = 0)", n_pos, n_neg, auc=area)
    threshold = float((cuts[best] + cuts[best + 1]) / 2)  # J > 0 excludes the lowest cut, so best + 1 exists
    return ConceptThreshold(code, threshold, "estimated", "", n_pos, n_neg, sensitivity=float(tpr[best]),
                            specificity=float(1 - fpr[best]), youden_j=float(j[best]), auc=area)


@dataclass(frozen=True)
class ConceptCalibration:
    vocabulary_version: str
    fingerprint: str
    rule: str
    n_images: int
    thresholds: tuple[ConceptThreshold, ...]

    def threshold_for(self, code: str) -> float | None:
        return next((t.threshold for t in self.thresholds if t.code == code), None)

    def as_dict(self) -> dict[str, Any]:
        return {"vocabulary_version": self.vocabulary_version, "fingerprint": self.fingerprint, "rule": self.rule,
                "n_images": self.n_images, "thresholds": [t.as_dict() for t in self.thresholds]}


def calibrate_thresholds(
    scores: np.ndarray, labels: Mapping[str, Sequence[float]], *, embeddings: ConceptEmbeddings
) -> ConceptCalibration:
    """Per concept a Youden-J threshold from binary labels (1 present, 0 absent, NaN not labelled).

    `scores` is concept_scores' [N, K] output for the labelled images; `labels` maps concept codes to
    N labels. Concepts absent from `labels` are reported not estimable ("no labels").
    """
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(embeddings.codes):
        raise ValueError(f"scores have shape {scores.shape}, expected [N, {len(embeddings.codes)}]")
    unknown = set(labels) - set(embeddings.codes)
    if unknown:
        raise ValueError(f"labels for concepts not in the vocabulary: {sorted(unknown)}")
    results = []
    for k, code in enumerate(embeddings.codes):
        if code not in labels:
            results.append(ConceptThreshold(code, None, "not_estimable", "no labels", 0, 0))
            continue
        y = np.asarray(labels[code], np.float64)
        if y.shape != (scores.shape[0],):
            raise ValueError(f"concept {code!r}: {y.shape[0] if y.ndim else 0} labels for {scores.shape[0]} images")
        known = ~np.isnan(y)
        if not np.isin(y[known], (0.0, 1.0)).all():
            raise ValueError(f"concept {code!r}: labels must be 0, 1 or NaN (not labelled)")
        results.append(youden_threshold(code, scores[known, k], y[known] == 1))
    return ConceptCalibration(embeddings.vocabulary_version, embeddings.fingerprint, CALIBRATION_RULE,
                              int(scores.shape[0]), tuple(results))


@dataclass(frozen=True)
class ConceptFinding:
    code: str
    name: str
    kind: str
    score: float
    strength: float
    threshold: float
    calibrated: bool
    present: bool | None  # None without a calibrated threshold: there is no principled cut

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "kind": self.kind, "score": round(self.score, digits),
                "strength": round(self.strength, digits), "threshold": round(self.threshold, digits),
                "calibrated": self.calibrated, "present": self.present}


@dataclass(frozen=True)
class ConceptFindings:
    """One case's findings in vocabulary order: what the display snapshot stores."""

    vocabulary_version: str
    fingerprint: str
    logit_scale: float
    findings: tuple[ConceptFinding, ...]

    def top(self, k: int = 5, *, include_artefacts: bool = False) -> tuple[ConceptFinding, ...]:
        shown = [f for f in self.findings if include_artefacts or f.kind != "artefact"]
        return tuple(sorted(shown, key=lambda f: -f.strength)[:k])

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        return {"vocabulary_version": self.vocabulary_version, "fingerprint": self.fingerprint,
                "logit_scale": self.logit_scale, "findings": [f.as_dict(digits) for f in self.findings]}


def case_findings(
    image_embeddings: np.ndarray,
    *,
    embeddings: ConceptEmbeddings,
    vocabulary: ConceptVocabulary,
    logit_scale: float,
    calibration: ConceptCalibration | None = None,
    image_weights: Sequence[float] | None = None,
) -> ConceptFindings:
    """Findings for one case: scores averaged over its images (weighted as the zero-shot fusion is)."""
    if embeddings.fingerprint != vocabulary.fingerprint or (
            calibration is not None and calibration.fingerprint != vocabulary.fingerprint):
        raise ValueError("embeddings, calibration and vocabulary come from different vocabularies")
    per_image = concept_scores(image_embeddings, embeddings)
    weights = np.ones(len(per_image)) if image_weights is None else np.asarray(image_weights, np.float64)
    if weights.shape != (len(per_image),) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("image_weights must be one non-negative weight per image, not all zero")
    scores = weights @ per_image / weights.sum()
    fitted = [None if calibration is None else calibration.threshold_for(c) for c in embeddings.codes]
    thresholds = np.array([UNCALIBRATED_THRESHOLD if t is None else t for t in fitted])
    strengths = concept_strength(scores, thresholds, logit_scale)
    findings = tuple(
        ConceptFinding(code=concept.code, name=concept.name, kind=concept.kind, score=float(scores[k]),
                       strength=float(strengths[k]), threshold=float(thresholds[k]), calibrated=fitted[k] is not None,
                       present=None if fitted[k] is None else bool(scores[k] >= thresholds[k]))
        for k, concept in enumerate(vocabulary.concepts)
    )
    return ConceptFindings(vocabulary.version, vocabulary.fingerprint, float(logit_scale), findings)
