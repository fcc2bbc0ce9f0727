"""Model folders in open_clip's layout: config, weights file, checksum and safe loading."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import torch

CONFIG_FILE = "open_clip_config.json"
# Preferred first, as open_clip's own `_find_checkpoint_in_dir` orders them.
WEIGHT_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)


class CheckpointError(Exception):
    """The folder cannot be used as a model."""


class ChecksumMismatch(CheckpointError):
    pass


class UnsafeCheckpoint(CheckpointError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_config(folder: Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder} has no {CONFIG_FILE}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    if "model_cfg" not in config:
        raise CheckpointError(f"{path} has no 'model_cfg'")
    return config


def find_weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"{folder} has none of {', '.join(WEIGHT_FILES)}")


def load_state_dict(path: Path, *, expected_sha256: str) -> dict[str, torch.Tensor]:
    """Read the weights once, check their sha256, then deserialise without running any pickle code.

    The bytes that are hashed are the bytes that are loaded, so the file cannot change in between.
    """
    data = Path(path).read_bytes()
    actual = sha256_bytes(data)
    if expected_sha256 and actual != expected_sha256:
        raise ChecksumMismatch(f"{path}: sha256 {actual} does not match the registered {expected_sha256}")
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load as load_safetensors

        state = load_safetensors(data)
    else:
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise UnsafeCheckpoint(f"{path} holds objects other than tensors; refusing to unpickle it") from exc
    return _normalise_state_dict(state)


def _normalise_state_dict(state: Any) -> dict[str, torch.Tensor]:
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise CheckpointError("the weights file does not hold a state dict")
    if next(iter(state)).startswith("module."):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    # transformers >= 4.31 text towers no longer keep position_ids as a buffer.
    state.pop("text.transformer.embeddings.position_ids", None)
    return state
