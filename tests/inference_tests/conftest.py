"""Fixtures: tiny model folders (built once per session) and case sets with generated images."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog import models as cm
from inference import precompute
from inference.core.testing import build_tiny_hf_clip, build_tiny_open_clip
from tests.factories import CaseFactory, CaseImageFactory, CaseSetFactory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_open_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture(scope="session")
def hf_model_dir(tmp_path_factory) -> Path:
    return build_tiny_hf_clip(tmp_path_factory.mktemp("models") / "tiny-minilm-clip")


@pytest.fixture(autouse=True)
def _fresh_model_cache(settings):
    settings.INFERENCE_DEVICE = "cpu"
    settings.INFERENCE_BATCH_SIZE = 4
    precompute.clear_model_cache()
    yield
    precompute.clear_model_cache()


def jpeg_bytes(seed: int, size: tuple[int, int] = (96, 72)) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def add_image(case: cm.Case, data: bytes, *, role: str = "clinical", order: int = 0, media_root: Path) -> cm.CaseImage:
    """Store bytes as the importer does: a file named by its sha256 under MEDIA_ROOT."""
    sha = hashlib.sha256(data).hexdigest()
    relative = f"cases/{sha[:2]}/{sha}.jpg"
    path = Path(media_root) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return CaseImageFactory(case=case, role=role, order=order, file=relative, thumbnail=relative, sha256=sha)


@pytest.fixture
def make_case_set(settings):
    """make_case_set(n, corrupt=(indices), dermoscopic=(indices)) -> CaseSet with one image per case."""

    def build(n: int, *, corrupt: tuple[int, ...] = (), dermoscopic: tuple[int, ...] = (), taxonomy=None,
              seed: int = 0) -> cm.CaseSet:
        case_set = CaseSetFactory(**({"taxonomy": taxonomy} if taxonomy else {}))
        for i in range(n):
            case = CaseFactory(case_set=case_set)
            if i in corrupt:
                data = b"\xff\xd8\xff\xe0 this is not really a jpeg" + bytes([i])
            else:
                data = jpeg_bytes(seed * 10_000 + i)
            add_image(case, data, media_root=settings.MEDIA_ROOT)
            if i in dermoscopic:
                add_image(case, jpeg_bytes(seed * 10_000 + 5000 + i), role="dermoscopic", order=1,
                          media_root=settings.MEDIA_ROOT)
        return case_set

    return build
