"""Model specs as data: what a registered model is, independent of where it is stored."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import find_weights, read_config, sha256_file

# Prompt templates for dermatology zero-shot classification; "{}" takes a condition name or synonym.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a clinical photo of {}.",
    "a dermoscopic image of {}.",
    "a photo of skin with {}.",
    "a close-up photo of {}, a skin condition.",
    "{}",
)
# Per image role; renormalised over the roles a case actually has, so a single image works.
DEFAULT_FUSION_WEIGHTS: Mapping[str, float] = {"clinical": 1.0, "dermoscopic": 1.0, "other": 0.5}
DEFAULT_TEMPERATURE = 1.0


@dataclass(frozen=True)
class ModelSpec:
    """One model version's architecture, weights and zero-shot settings."""

    name: str
    folder: Path
    weights_file: Path
    weights_sha256: str
    architecture: str
    model_cfg: Mapping[str, Any]
    preprocess_cfg: Mapping[str, Any]
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    fusion_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FUSION_WEIGHTS))
    temperature: float = DEFAULT_TEMPERATURE


def architecture_label(model_cfg: Mapping[str, Any]) -> str:
    """A short human-readable label such as `ViT w768 L12 p16 @224 + hf:bert-base` for listings."""
    vision = model_cfg.get("vision_cfg", {})
    text = model_cfg.get("text_cfg", {})
    if "timm_model_name" in vision:
        image = f"timm:{vision['timm_model_name']}"
    else:
        image = (
            f"ViT w{vision.get('width', '?')} L{vision.get('layers', '?')} "
            f"p{vision.get('patch_size', '?')} @{vision.get('image_size', '?')}"
        )
    if "hf_model_name" in text:
        name = str(text["hf_model_name"]).rstrip("/").split("/")[-1]
        return f"{image} + hf:{name}"
    return f"{image} + text w{text.get('width', '?')} L{text.get('layers', '?')}"


def spec_from_folder(
    folder: Path | str,
    *,
    name: str,
    templates: tuple[str, ...] | None = None,
    fusion_weights: Mapping[str, float] | None = None,
) -> ModelSpec:
    """Read an open_clip folder and checksum its weights (done once, at registration)."""
    folder = Path(folder).resolve()
    config = read_config(folder)
    weights = find_weights(folder)
    return ModelSpec(
        name=name,
        folder=folder,
        weights_file=weights,
        weights_sha256=sha256_file(weights),
        architecture=architecture_label(config["model_cfg"]),
        model_cfg=config["model_cfg"],
        preprocess_cfg=config.get("preprocess_cfg", {}),
        templates=tuple(templates or DEFAULT_TEMPLATES),
        fusion_weights=dict(fusion_weights or DEFAULT_FUSION_WEIGHTS),
    )


def templates_sha256(templates: tuple[str, ...] | list[str]) -> str:
    return hashlib.sha256(json.dumps(list(templates)).encode()).hexdigest()
