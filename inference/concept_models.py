"""Learned concepts: train a sparse autoencoder on a model's image embeddings and store it as a ConceptModel.

The embeddings are read from (and, for images not yet seen, written to) the one image-embedding
cache precompute fills, so training on the case sets a study already precomputed runs no forward
pass. Latents are named by the concept vocabulary (:func:`inference.core.sae_explain.name_latents`).
The weights are stored as npz bytes (numpy's own format, loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Sequence

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.models import Case, CaseSet
from common.audit import audit_record

from .core.concepts import ConceptEmbeddings, ConceptVocabulary, concept_embeddings, load_vocabulary
from .core.sae import WEIGHT_NAMES, SAEArtefact, SAEConfig, train_sae
from .core.sae_explain import name_latents
from .models import ConceptModel, ModelKind, ModelVersion
from .precompute import iter_case_embeddings, loaded_model

_TEXT: dict[tuple[int, str, str], ConceptEmbeddings] = {}
_TEXT_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def vocabulary() -> ConceptVocabulary:
    return load_vocabulary()


def concept_text_embeddings(model_version: ModelVersion, vocab: ConceptVocabulary) -> ConceptEmbeddings:
    """The vocabulary's prompt-ensemble embeddings, computed once per worker process and model."""
    key = (model_version.pk, model_version.weights_sha256, vocab.fingerprint)
    with _TEXT_LOCK:
        if key not in _TEXT:
            _TEXT[key] = concept_embeddings(loaded_model(model_version).encode_texts, vocab)
        return _TEXT[key]


def concept_model_for(model_version: ModelVersion, name: str | None = None) -> ConceptModel | None:
    """The named concept model of the version, else its newest."""
    rows = ConceptModel.objects.filter(model_version=model_version)
    return (rows.filter(name=name) if name else rows).order_by("-created_at", "-pk").first()


def case_set_embeddings(model_version: ModelVersion, case_sets: Sequence[CaseSet], *,
                        batch_size: int | None = None) -> np.ndarray:
    """[N, D] embeddings of the distinct images of the case sets (cached ones read, the rest computed)."""
    cases = list(Case.objects.filter(case_set__in=case_sets).prefetch_related("images").order_by("pk"))
    vectors: dict[str, np.ndarray] = {}
    for chunk in iter_case_embeddings(cases, model_version=model_version,
                                      batch_size=batch_size or settings.INFERENCE_BATCH_SIZE):
        for item in chunk:
            if item.error:
                continue
            queues = {role: iter(v) for role, v in item.by_role.items()}
            for img in item.case.images.all():
                vectors.setdefault(img.sha256, next(queues[img.role]))
    if len(vectors) < 2:
        raise ValidationError("training a concept model needs at least two embedded images")
    return np.stack([vectors[sha] for sha in sorted(vectors)])


def artefact_bytes(artefact: SAEArtefact) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, firing_frequency=artefact.firing_frequency, **dict(artefact.weights))
    return buffer.getvalue()


def concept_model_artefact(row: ConceptModel) -> SAEArtefact:
    """The stored autoencoder back as an SAEArtefact (weights from the npz, figures from `stats`)."""
    with np.load(io.BytesIO(bytes(row.weights)), allow_pickle=False) as data:
        weights = {name: data[name] for name in WEIGHT_NAMES}
        frequency = data["firing_frequency"]
    stats = row.stats
    config = SAEConfig(**{k: v for k, v in row.config.items() if k in SAEConfig.__dataclass_fields__})
    return SAEArtefact(config=config, weights=weights, n_train=stats["n_train"], input_scale=stats["input_scale"],
                       fvu=stats["fvu"], mean_l0=stats["mean_l0"], dead_fraction=stats["dead_fraction"],
                       steps=stats["steps"], firing_frequency=frequency,
                       resamples=tuple(tuple(r) for r in stats.get("resamples", [])), device=stats.get("device", "cpu"),
                       seconds=stats.get("seconds", 0.0))


def concept_model_train(*, model_version: ModelVersion, case_sets: Sequence[CaseSet], config: SAEConfig | None = None,
                        name: str | None = None, device: str = "auto", actor=None) -> ConceptModel:
    """Train, name and store a concept model; a new training is a new row (a versioned artefact)."""

    if model_version.kind == ModelKind.SIMULATED:
        raise ValidationError("a simulated assistant has no image embeddings to learn concepts from")
    if not case_sets:
        raise ValidationError("name at least one case set")
    name = name or f"{model_version.name}-sae-{ConceptModel.objects.filter(model_version=model_version).count() + 1}"
    if ConceptModel.objects.filter(name=name).exists():
        raise ValidationError(f"a concept model named {name!r} exists already")
    config = config or SAEConfig()
    embeddings = case_set_embeddings(model_version, case_sets)
    artefact = train_sae(embeddings, config=config, device=device)
    vocab = vocabulary()
    names = name_latents(artefact, embeddings=concept_text_embeddings(model_version, vocab), vocabulary=vocab)
    stats = {**{k: v for k, v in artefact.as_dict().items() if k != "config"}, "latents_named": len(names)}
    with transaction.atomic():
        row = ConceptModel(model_version=model_version, name=name, case_sets=[cs.name for cs in case_sets],
                           config={**config.as_dict(), "vocabulary": vocab.version, "fingerprint": vocab.fingerprint},
                           stats=stats, latent_names=[n.as_dict() for n in names], weights=artefact_bytes(artefact))
        row.full_clean(exclude=["latent_names"])  # a model may name no latent
        row.save()
        audit_record(actor=actor, action="inference.concept_model_train", obj=row,
                     data={"model": model_version.name, "case_sets": row.case_sets, "fvu": artefact.fvu,
                           "mean_l0": artefact.mean_l0, "dead_fraction": artefact.dead_fraction})
    return row
