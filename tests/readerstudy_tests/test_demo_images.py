"""Procedural demo images: deterministic by seed, valid JPEGs for both roles, every look drawable, fast."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from catalog.models import ConditionGroup
from catalog.services.taxonomy import DEFAULT_TAXONOMY_PATH
from readerstudy.demo.images import GROUP_LOOKS, LOOKS, draw_case_images, look_for

DEFAULT_CONDITIONS = json.loads(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))["conditions"]


def draw(
    code: str = "MEL",
    group: str = "malignant_neoplasm",
    malignant: bool = True,
    tone: int = 2,
    seed: int = 1,
    size: int = 512,
) -> dict[str, bytes]:
    return draw_case_images(
        condition_code=code, group=group, malignant=malignant, skin_tone=tone, seed=seed, size=size
    )


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)


def test_both_roles_are_valid_jpegs_of_the_requested_size():
    images = draw(size=384)
    assert set(images) == {"clinical", "dermoscopic"}
    for data in images.values():
        assert data[:3] == b"\xff\xd8\xff"
        image = Image.open(io.BytesIO(data))
        image.verify()
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (384, 384))


def test_same_seed_same_bytes_and_different_seeds_differ():
    assert draw(seed=7) == draw(seed=7)
    first, second = draw(seed=7), draw(seed=8)
    for role in ("clinical", "dermoscopic"):
        assert first[role] != second[role]
        assert np.abs(pixels(first[role]) - pixels(second[role])).mean() > 1.0


def test_dermoscopic_field_is_black_outside_the_circle():
    image = pixels(draw()["dermoscopic"])
    corners = image[:20, :20].mean(), image[-20:, -20:].mean()
    assert max(corners) < 8
    assert image[246:266, 246:266].mean() > 20


def test_background_darkens_with_the_fitzpatrick_type():
    corners = [
        pixels(draw(code="NEV", group="benign_neoplasm", malignant=False, tone=tone)["clinical"])[
            :60, :60
        ].mean()
        for tone in range(1, 7)
    ]
    assert corners == sorted(corners, reverse=True), corners


def test_every_default_condition_draws_and_no_drawing_is_pathologically_slow():
    """Not a benchmark: seed_demo draws thousands of pairs, so catch anything near a second per pair."""
    draw()  # warm caches
    slowest = 0.0
    for index, condition in enumerate(DEFAULT_CONDITIONS):
        started = time.perf_counter()
        images = draw(
            code=condition["code"],
            group=condition["group"],
            malignant=condition["malignant"],
            tone=1 + index % 6,
            seed=index,
        )
        slowest = max(slowest, time.perf_counter() - started)
        assert set(images) == {"clinical", "dermoscopic"}
        assert pixels(images["clinical"]).std() > 2, condition["code"]  # something was drawn
    assert slowest < 1.0


def test_looks_cover_the_default_taxonomy_and_unknown_codes_fall_back_to_their_group():
    assert {c["code"] for c in DEFAULT_CONDITIONS} <= set(LOOKS)
    assert set(GROUP_LOOKS) == set(ConditionGroup.values)
    assert look_for("TIN", "infectious", False) == GROUP_LOOKS["infectious"]
    assert look_for("XYZ", "unknown", True) == GROUP_LOOKS["malignant_neoplasm"]
    images = draw(code="TIN", group="infectious", malignant=False)
    assert set(images) == {"clinical", "dermoscopic"}


def test_bad_skin_tone_is_refused():
    with pytest.raises(ValueError, match="Fitzpatrick"):
        draw(tone=7)
