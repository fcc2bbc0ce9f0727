"""Per-concept thresholds calibrated on a labelled case set (`manage.py calibrate_concepts MODEL --cases SET`).

Labels come from the manifest's extra metadata: ``Case.extra["concepts"] = {"present": [codes],
"absent": [codes]}`` (a plain list means present). A concept a case names in neither list is not
labelled for that case. A case's score is the number its concept display shows (the fusion-weighted
mean over its images of cos(image, concept) - cos(image, reference)), so the threshold and the display
compare the same thing. The thresholds (Youden J per concept; not estimable without positives and
negatives) are stored under ``ModelVersion.calibration["concepts"]``; the concept display then marks
each concept present or not, and its params, so its stored rows, change with the calibration.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.models import Case, CaseSet
from common.audit import audit_record

from .concept_models import concept_text_embeddings, vocabulary
from .core.concepts import ConceptCalibration, ConceptThreshold, calibrate_thresholds, concept_scores
from .core.display_payloads import image_weights
from .core.registry import DEFAULT_FUSION_WEIGHTS
from .models import ModelKind, ModelVersion
from .precompute import iter_case_embeddings

CALIBRATION_KEY = "concepts"
_THRESHOLD_FIELDS = {f.name for f in fields(ConceptThreshold)}


def concept_labels(case: Case, codes: tuple[str, ...]) -> np.ndarray:
    """1 present, 0 absent, NaN not labelled, per vocabulary code; unknown codes name the case."""
    raw = (case.extra or {}).get("concepts")
    present, absent = (raw, []) if isinstance(raw, list) else ((raw or {}).get("present", []), (raw or {}).get("absent", []))
    unknown = sorted((set(present) | set(absent)) - set(codes))
    if unknown:
        raise ValidationError(f"case {case.key}: concepts not in the vocabulary: {', '.join(unknown)}")
    both = sorted(set(present) & set(absent))
    if both:
        raise ValidationError(f"case {case.key}: concepts both present and absent: {', '.join(both)}")
    labels = np.full(len(codes), np.nan)
    for index, code in enumerate(codes):
        if code in present:
            labels[index] = 1.0
        elif code in absent:
            labels[index] = 0.0
    return labels


def concept_calibration(model_version: ModelVersion) -> ConceptCalibration | None:
    """The stored calibration, when it was made with today's vocabulary (else None: it no longer applies)."""
    stored = (model_version.calibration or {}).get(CALIBRATION_KEY)
    if not stored or stored.get("fingerprint") != vocabulary().fingerprint:
        return None
    thresholds = tuple(ConceptThreshold(**{k: v for k, v in t.items() if k in _THRESHOLD_FIELDS})
                       for t in stored["thresholds"])
    return ConceptCalibration(stored["vocabulary_version"], stored["fingerprint"], stored["rule"],
                              int(stored["n_images"]), thresholds)


def concepts_calibrate(*, model_version: ModelVersion, case_set: CaseSet, batch_size: int = 16,
                       actor=None) -> ConceptCalibration:
    """Fit and store per-concept thresholds on the labelled cases of `case_set`."""
    if model_version.kind == ModelKind.SIMULATED:
        raise ValidationError("a simulated assistant has no image embeddings to calibrate concepts on")
    vocab = vocabulary()
    embeddings = concept_text_embeddings(model_version, vocab)
    cases = [case for case in Case.objects.filter(case_set=case_set).prefetch_related("images").order_by("pk")
             if (case.extra or {}).get("concepts") is not None]
    if not cases:
        raise ValidationError(f"no case of {case_set.name} has concept labels (extra.concepts)")
    labels = {case.pk: concept_labels(case, embeddings.codes) for case in cases}
    fusion = model_version.fusion_weights or DEFAULT_FUSION_WEIGHTS
    rows, label_rows = [], []
    for chunk in iter_case_embeddings(cases, model_version=model_version, batch_size=batch_size):
        for item in chunk:
            if item.error:
                continue
            images = list(item.case.images.all())
            queues = {role: iter(vectors) for role, vectors in item.by_role.items()}
            x = np.stack([next(queues[image.role]) for image in images])
            weights = np.asarray(image_weights([image.role for image in images], fusion), np.float64)
            rows.append(np.average(concept_scores(x, embeddings), axis=0, weights=weights))
            label_rows.append(labels[item.case.pk])
    if not rows:
        raise ValidationError("no labelled case could be embedded")
    scores, matrix = np.stack(rows), np.stack(label_rows)
    calibration = calibrate_thresholds(
        scores, {code: matrix[:, k] for k, code in enumerate(embeddings.codes) if not np.isnan(matrix[:, k]).all()},
        embeddings=embeddings)
    with transaction.atomic():
        model_version.calibration = {**(model_version.calibration or {}), CALIBRATION_KEY: calibration.as_dict()}
        model_version.save(update_fields=["calibration"])
        estimated = sum(t.status == "estimated" for t in calibration.thresholds)
        audit_record(actor=actor, action="model.calibrate_concepts", obj=model_version,
                     data={"case_set": case_set.name, "cases": len(rows), "estimated": estimated,
                           "vocabulary": vocab.version})
    return calibration


def calibration_summary(calibration: ConceptCalibration) -> dict[str, Any]:
    estimated = [t for t in calibration.thresholds if t.status == "estimated"]
    return {"cases": calibration.n_images, "estimated": len(estimated),
            "not_estimable": len(calibration.thresholds) - len(estimated)}
