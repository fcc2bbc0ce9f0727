"""Zero-shot logits, fusion of image roles, and temperature-scaled probabilities (numpy, float64)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def image_logits(image_embeddings: np.ndarray, class_embeddings: np.ndarray, logit_scale: float) -> np.ndarray:
    """CLIP logits: logit_scale x cosine similarity (both inputs already L2-normalised). [N, D] x [C, D] -> [N, C]."""
    return logit_scale * (np.asarray(image_embeddings, np.float64) @ np.asarray(class_embeddings, np.float64).T)


def fuse_logits(logits_by_role: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted mean of per-role logits; each role's images are averaged first.

    Weights are renormalised over the roles present, so a case with one image gets that image's
    logits unchanged. A role missing from `weights` gets weight 1.
    """
    if not logits_by_role:
        raise ValueError("no image logits to fuse")
    total = None
    weight_sum = 0.0
    for role, logits in logits_by_role.items():
        role_logits = np.asarray(logits, np.float64)
        if role_logits.ndim == 2:
            role_logits = role_logits.mean(axis=0)
        weight = float(weights.get(role, 1.0))
        if weight < 0:
            raise ValueError(f"negative fusion weight for {role}")
        total = weight * role_logits if total is None else total + weight * role_logits
        weight_sum += weight
    if weight_sum <= 0:
        raise ValueError("fusion weights of the roles present sum to zero")
    return total / weight_sum


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of logits / temperature along the last axis, numerically stable."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    scaled = np.asarray(logits, np.float64) / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, np.float64) / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    return scaled - np.log(np.exp(scaled).sum(axis=-1, keepdims=True))
