"""What a trained sparse autoencoder says about a case: named latents, logit decomposition, re-scores.

Kept apart from :mod:`inference.core.sae` (training and the artefact) so that each stays short.

Logit decomposition. The zero-shot logit of class c for a normalised image embedding x is
``scale * <x, t_c> / ||t_c||``. Writing x = sum_j f_j d_j + b_dec + e (d_j the unit decoder columns,
f_j the activations, e the reconstruction error) splits it exactly into

    contribution_j = scale * f_j * <d_j, t_c> / ||t_c||
    residual       = scale * <b_dec, t_c> / ||t_c||  (bias)  +  scale * <e, t_c> / ||t_c||  (error)

and the contributions plus the residual are the logit, up to float64 rounding. For a case with
several images the decomposition is the weighted mean of the per-image ones, as the logit is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .concepts import ConceptEmbeddings, ConceptVocabulary
from .sae import EVAL_CHUNK, SAEArtefact


@dataclass(frozen=True)
class LatentName:
    """A live latent named by the concept text whose embedding its decoder column is closest to."""

    latent: int
    code: str
    name: str
    kind: str
    cosine: float
    runner_up: str  # second-best concept code, to show how clear-cut the name is
    margin: float  # cosine of the best minus that of the runner-up

    def as_dict(self) -> dict[str, Any]:
        return {"latent": self.latent, "code": self.code, "name": self.name, "kind": self.kind,
                "cosine": round(self.cosine, 4), "runner_up": self.runner_up, "margin": round(self.margin, 4)}


def name_latents(artefact: SAEArtefact, *, embeddings: ConceptEmbeddings,
                 vocabulary: ConceptVocabulary) -> tuple[LatentName, ...]:
    """Every live latent (fired on some training input) with its best-matching concept, in latent order."""
    if embeddings.fingerprint != vocabulary.fingerprint:
        raise ValueError("concept embeddings and vocabulary come from different vocabularies")
    if embeddings.concepts.shape[1] != artefact.input_dim:
        raise ValueError(f"concept embeddings have {embeddings.concepts.shape[1]} dimensions, "
                         f"the autoencoder {artefact.input_dim}")
    if len(vocabulary.concepts) < 2:
        raise ValueError("naming needs at least two concepts (a best and a runner-up)")
    columns = artefact.weights["W_dec"].astype(np.float64)
    columns = columns / np.linalg.norm(columns, axis=0, keepdims=True)
    text = embeddings.concepts.astype(np.float64)
    cosine = (text / np.linalg.norm(text, axis=1, keepdims=True)) @ columns  # [K, L]
    order = np.argsort(-cosine, axis=0, kind="stable")
    names = []
    for j in np.flatnonzero(artefact.live):
        best, second = order[0, j], order[1, j]
        concept = vocabulary.concepts[best]
        names.append(LatentName(int(j), concept.code, concept.name, concept.kind, float(cosine[best, j]),
                                vocabulary.concepts[second].code, float(cosine[best, j] - cosine[second, j])))
    return tuple(names)


def artefact_latents(names: Iterable[LatentName]) -> tuple[int, ...]:
    """Latents named by an artefact concept (hair, ink, ruler): the ones the robust re-score drops."""
    return tuple(sorted(n.latent for n in names if n.kind == "artefact"))


@dataclass(frozen=True)
class LatentContribution:
    latent: int
    activation: float
    contribution: float
    code: str | None = None
    name: str | None = None

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        return {"latent": self.latent, "activation": round(self.activation, digits),
                "contribution": round(self.contribution, digits), "code": self.code, "name": self.name}


@dataclass(frozen=True)
class LogitDecomposition:
    """A class's zero-shot logit as latent contributions (active latents, largest first) plus residual."""

    class_code: str
    logit: float
    contributions: tuple[LatentContribution, ...]
    bias: float
    error: float

    @property
    def residual(self) -> float:
        return self.bias + self.error

    def top(self, k: int = 5) -> tuple[LatentContribution, ...]:
        """The k latents that push the logit up the most (positive contributions only)."""
        return tuple(c for c in self.contributions[:k] if c.contribution > 0)

    def as_dict(self, k: int | None = None, digits: int = 4) -> dict[str, Any]:
        shown = self.contributions if k is None else self.top(k)
        return {"class_code": self.class_code, "logit": round(self.logit, digits),
                "contributions": [c.as_dict(digits) for c in shown], "bias": round(self.bias, digits),
                "error": round(self.error, digits), "residual": round(self.residual, digits),
                "n_active": len(self.contributions)}


def _image_weights(n: int, image_weights: Sequence[float] | None) -> np.ndarray:
    weights = np.ones(n) if image_weights is None else np.asarray(image_weights, np.float64)
    if weights.shape != (n,) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("image_weights must be one non-negative weight per image, not all zero")
    return weights / weights.sum()


def decompose_logit(
    artefact: SAEArtefact,
    image_embeddings: np.ndarray,
    class_embedding: np.ndarray,
    *,
    logit_scale: float,
    class_code: str = "",
    image_weights: Sequence[float] | None = None,
    names: Iterable[LatentName] = (),
) -> LogitDecomposition:
    """Split one class's zero-shot logit for a case (its images [M, D] or one [D]) into latents.

    `image_weights` reproduces a role-weighted fusion (each image's weight = its role's weight
    divided by the number of images of that role); equal weights by default.
    """
    x = np.atleast_2d(np.asarray(image_embeddings, np.float64))
    t = np.asarray(class_embedding, np.float64).reshape(-1)
    if x.shape[1] != artefact.input_dim or t.shape[0] != artefact.input_dim:
        raise ValueError(f"embeddings must have {artefact.input_dim} dimensions")
    w = _image_weights(len(x), image_weights)
    unit = t / np.linalg.norm(t)
    f = artefact.encode(x)  # [M, L] float64
    mean_f = w @ f
    along = artefact.weights["W_dec"].astype(np.float64).T @ unit  # [L]: <d_j, t> / ||t||
    contributions = logit_scale * mean_f * along
    bias = logit_scale * float(artefact.weights["b_dec"].astype(np.float64) @ unit)
    error = logit_scale * float(w @ ((x - artefact.decode(f)) @ unit))
    labels = {n.latent: n for n in names}
    active = np.flatnonzero(mean_f > 0)
    active = active[np.argsort(-contributions[active], kind="stable")]
    return LogitDecomposition(
        class_code=class_code,
        logit=logit_scale * float(w @ (x @ unit)),
        contributions=tuple(
            LatentContribution(int(j), float(mean_f[j]), float(contributions[j]),
                               labels[j].code if j in labels else None, labels[j].name if j in labels else None)
            for j in active),
        bias=bias,
        error=error,
    )


@dataclass(frozen=True, eq=False)
class RobustLogits:
    logits: np.ndarray  # [N, C] zero-shot logits of the embeddings with the dropped latents removed
    dropped: tuple[int, ...]
    removed_share: np.ndarray  # [N] ||removed part|| / ||x||: how much of each embedding was artefact


def artefact_robust_logits(
    artefact: SAEArtefact,
    image_embeddings: np.ndarray,
    class_embeddings: np.ndarray,
    *,
    logit_scale: float,
    drop: Sequence[int],
) -> RobustLogits:
    """Zero-shot logits after removing the dropped latents' part of each embedding (a research flag).

    x' = x - sum_{j in drop} f_j d_j, i.e. the reconstruction without those latents plus the
    reconstruction error, rescaled to x's norm because zero-shot logits are cosines of unit vectors.
    Keeping the error means that dropping nothing gives the plain zero-shot logits back exactly.
    """
    x = np.atleast_2d(np.asarray(image_embeddings, np.float64))
    classes = np.asarray(class_embeddings, np.float64)
    dropped = tuple(sorted({int(j) for j in drop}))
    if any(not 0 <= j < artefact.n_latents for j in dropped):
        raise ValueError(f"latents to drop must lie in [0, {artefact.n_latents})")
    columns = artefact.weights["W_dec"].astype(np.float64)[:, list(dropped)]
    removed = artefact.encode(x)[:, list(dropped)] @ columns.T
    clean = x - removed
    norms = np.linalg.norm(clean, axis=1, keepdims=True)
    if (norms <= 0).any():
        raise ValueError("an embedding is entirely made of the dropped latents: nothing left to classify")
    original = np.linalg.norm(x, axis=1, keepdims=True)
    clean *= original / norms  # back to the input's norm: exactly x when nothing is dropped
    units = classes / np.linalg.norm(classes, axis=1, keepdims=True)
    share = np.linalg.norm(removed, axis=1) / original[:, 0]
    return RobustLogits(logit_scale * clean @ units.T, dropped, share)


def top_activating(artefact: SAEArtefact, embeddings: np.ndarray, *, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Per latent the k library images it fires on most: ([L, k] row indices, [L, k] activations).

    Indices are -1 where a latent fires on fewer than k images. Runs in chunks (float32), so a
    50,000-image library never needs its [N, L] activation matrix at once.
    """
    x = torch.as_tensor(np.asarray(embeddings, np.float32))
    w = {name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in artefact.weights.items()}
    best_values = torch.zeros(0, artefact.n_latents)
    best_rows = torch.zeros(0, artefact.n_latents, dtype=torch.long)
    for start in range(0, x.shape[0], EVAL_CHUNK):
        f = torch.relu((x[start: start + EVAL_CHUNK] - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
        rows = torch.arange(start, start + f.shape[0]).unsqueeze(1).expand_as(f)
        values = torch.cat([best_values, f])
        candidates = torch.cat([best_rows, rows])
        keep = min(k, values.shape[0])
        best_values, order = values.topk(keep, dim=0)
        best_rows = candidates.gather(0, order)
    best_rows = torch.where(best_values > 0, best_rows, torch.full_like(best_rows, -1))
    missing = k - best_rows.shape[0]  # a library smaller than k
    if missing > 0:
        best_rows = torch.cat([best_rows, torch.full((missing, artefact.n_latents), -1)])
        best_values = torch.cat([best_values, torch.zeros(missing, artefact.n_latents)])
    return best_rows.T.numpy(), best_values.T.numpy()
