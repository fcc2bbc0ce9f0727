"""Device choice and mixed precision."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def resolve_device(preference: str = "auto") -> torch.device:
    """`auto` takes the GPU when one is present; `cuda` without a GPU is an error, not a silent fallback."""
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("INFERENCE_DEVICE=cuda but no CUDA device is available")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def inference_context(device: torch.device) -> Iterator[None]:
    """No autograd; bf16 autocast on CUDA, full precision on CPU."""
    with torch.inference_mode():
        if device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        else:
            yield
