"""Image decoding in a thread pool that runs ahead of the model.

Pillow releases the GIL while decoding and resizing, so threads overlap decoding with the forward
pass without forking (Celery prefork children are daemonic and cannot start DataLoader workers).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError


@dataclass(frozen=True)
class ImageItem:
    key: str  # the image's sha256
    path: Path


@dataclass(frozen=True)
class DecodedBatch:
    items: tuple[ImageItem, ...]  # successfully decoded, in the order of `pixels`
    pixels: torch.Tensor | None  # uint8, N x H x W x 3
    errors: dict[str, str]  # image key -> why it could not be decoded


def default_decode_workers() -> int:
    return max(1, min(16, (os.cpu_count() or 2) - 1))


def decode(item: ImageItem, pil_transform: Callable[[Image.Image], Image.Image], image_size: int) -> np.ndarray:
    """Read, check the content hash, decode (JPEG at reduced scale), resize and crop: uint8 H x W x 3.

    No torch here: torch ops from several threads make OpenMP pools fight over the cores.
    """
    data = item.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != item.key:
        raise ValueError("file content does not match its sha256")
    with Image.open(io.BytesIO(data)) as image:
        # JPEG DCT scaling decodes straight to >= 2x the model's input size: far less work, same result
        # after the bicubic resize.
        image.draft("RGB", (2 * image_size, 2 * image_size))
        return np.asarray(pil_transform(image.convert("RGB")), dtype=np.uint8)


def _decode_batch(items: Sequence[ImageItem], pil_transform: Callable, image_size: int) -> DecodedBatch:
    ok: list[ImageItem] = []
    arrays: list[np.ndarray] = []
    errors: dict[str, str] = {}
    for item in items:
        try:
            arrays.append(decode(item, pil_transform, image_size))
            ok.append(item)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            errors[item.key] = f"{item.path.name}: {exc.__class__.__name__}: {exc}"
    pixels = torch.from_numpy(np.stack(arrays)) if arrays else None
    return DecodedBatch(items=tuple(ok), pixels=pixels, errors=errors)


def iter_decoded_batches(
    items: Iterable[ImageItem],
    *,
    pil_transform: Callable[[Image.Image], Image.Image],
    image_size: int,
    batch_size: int,
    workers: int | None = None,
    prefetch: int | None = None,
) -> Iterator[DecodedBatch]:
    """Yield decoded batches in order while later batches decode in the background.

    Batches are split into per-thread chunks so all threads work on the next batch at once.
    """
    workers = workers or default_decode_workers()
    prefetch = prefetch or 2
    item_list = list(items)
    batches = [item_list[i : i + batch_size] for i in range(0, len(item_list), batch_size)]
    chunk = max(1, -(-batch_size // workers))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        queue: deque[list[Future[DecodedBatch]]] = deque()

        def submit(batch: list[ImageItem]) -> None:
            queue.append([
                pool.submit(_decode_batch, batch[i : i + chunk], pil_transform, image_size)
                for i in range(0, len(batch), chunk)
            ])

        pending = iter(batches)
        for batch in pending:
            submit(batch)
            if len(queue) >= prefetch:
                break
        while queue:
            parts = [future.result() for future in queue.popleft()]
            next_batch = next(pending, None)
            if next_batch is not None:
                submit(next_batch)
            yield _join(parts)


def _join(parts: list[DecodedBatch]) -> DecodedBatch:
    items = tuple(item for part in parts for item in part.items)
    tensors = [part.pixels for part in parts if part.pixels is not None]
    errors = {key: error for part in parts for key, error in part.errors.items()}
    pixels = torch.cat(tensors) if tensors else None
    if pixels is not None and torch.cuda.is_available():
        pixels = pixels.pin_memory()  # lets the host-to-GPU copy overlap with compute
    return DecodedBatch(items=items, pixels=pixels, errors=errors)
