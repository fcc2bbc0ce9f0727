"""Benchmark: images/s of the whole precompute path against the bare model forward, same batch size, same run.

    .venv/bin/python bench/inference.py [--images 256] [--batch-size 32] [--models tiny,vit-b-16]
                                        [--size 640x480] [--device auto] [--repeats 2]

The path is `precompute_run` on a fresh job: read and hash the JPEGs, decode and preprocess them in
a thread pool running ahead of the model, forward (bf16 autocast on CUDA), store image embeddings,
fuse logits, write one output per case and the job's progress. The bare forward is
`encode_image` on ready-made tensors of the same batch size. Model loading and the (once per
taxonomy) text embeddings are warmed up first and not timed. Target: path >= 90 % of bare.

Runs against DATABASE_URL when set, else a temporary SQLite file; weights are random (no download).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_vit_b_16(folder: Path) -> Path:
    """A randomly initialised ViT-B-16 CLIP saved in open_clip's folder layout."""
    import open_clip
    from safetensors.torch import save_file

    if (folder / "open_clip_model.safetensors").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    model = open_clip.create_model("ViT-B-16", pretrained=None)
    save_file({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    config = {"model_cfg": open_clip.get_model_config("ViT-B-16"),
              "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD)}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    return folder


def make_case_set(n: int, size: tuple[int, int], media: Path):
    """n cases with one photo-like JPEG each, stored as the importer stores them (sha256-named)."""
    from catalog.models import Case, CaseImage, CaseSet
    from catalog.services.taxonomy import default_taxonomy

    taxonomy = default_taxonomy()
    conditions = list(taxonomy.conditions.order_by("order"))
    case_set = CaseSet.objects.create(name=f"bench-{n}-{time.time_ns()}", taxonomy=taxonomy)
    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        base = np.stack([160 + 40 * np.sin(xx / (50 + i % 17)), 110 + 30 * np.cos(yy / 40), 90 + 0 * xx], -1)
        pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        relative = f"cases/{sha[:2]}/{sha}.jpg"
        (media / relative).parent.mkdir(parents=True, exist_ok=True)
        (media / relative).write_bytes(data)
        case = Case.objects.create(case_set=case_set, key=f"B{i:05d}", reference=conditions[i % len(conditions)],
                                   reference_source="histopathology")
        CaseImage.objects.create(case=case, role="clinical", file=relative, thumbnail=relative, sha256=sha,
                                 width=w, height=h)
    return case_set


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_forward(loaded, n_images: int, batch_size: int) -> float:
    """images/s of encode_image alone on ready tensors (batches of `batch_size`)."""
    import torch

    pixels = torch.randn(batch_size, 3, loaded.image_size, loaded.image_size)
    if loaded.device.type == "cuda":
        pixels = pixels.pin_memory()
    loaded.encode_images(pixels)  # warm-up (kernels, autotuning)
    _sync(loaded.device)
    n_batches = max(1, n_images // batch_size)
    started = time.perf_counter()
    for _ in range(n_batches):
        loaded.encode_images(pixels)
    _sync(loaded.device)
    return n_batches * batch_size / (time.perf_counter() - started)


def precompute_path(version, case_set, batch_size: int) -> float:
    """images/s of a full precompute job over the case set, from a cold image-embedding cache."""
    from inference.models import ImageEmbedding, ModelOutput, PrecomputeJob
    from inference.precompute import precompute_run

    ModelOutput.objects.filter(model_version=version).delete()
    ImageEmbedding.objects.filter(model_version=version).delete()
    job = PrecomputeJob.objects.create(model_version=version, case_set=case_set)
    started = time.perf_counter()
    job = precompute_run(job.pk, batch_size=batch_size)
    elapsed = time.perf_counter() - started
    assert job.done == job.total, (job.done, job.total, job.failed)
    return job.total / elapsed


def bench_model(name: str, folder: Path, case_set, args) -> dict:
    from inference.precompute import class_embeddings_for, loaded_model
    from inference.services import model_register

    version = model_register(path=folder, name=f"bench-{name}-{time.time_ns()}", verify=False)
    loaded = loaded_model(version)
    class_embeddings_for(version, case_set.taxonomy)  # once per taxonomy; not part of the image path
    precompute_path(version, case_set, args.batch_size)  # warm-up run
    bare, path = [], []
    for _ in range(args.repeats):
        bare.append(bare_forward(loaded, args.images, args.batch_size))
        path.append(precompute_path(version, case_set, args.batch_size))
    result = {"model": name, "device": str(loaded.device), "batch_size": args.batch_size, "images": args.images,
              "bare_images_per_s": statistics.median(bare), "path_images_per_s": statistics.median(path)}
    result["ratio"] = result["path_images_per_s"] / result["bare_images_per_s"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", default="tiny,vit-b-16")
    parser.add_argument("--size", default="640x480", help="JPEG size of the generated case images.")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{work / 'bench.sqlite3'}")
    os.environ["MEDIA_ROOT"] = str(work / "media")
    os.environ["INFERENCE_DEVICE"] = args.device
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")
    import django

    django.setup()
    import torch
    from django.core.management import call_command

    from inference.core.testing import build_tiny_open_clip

    call_command("migrate", verbosity=0)
    size = tuple(int(v) for v in args.size.split("x"))
    t0 = time.perf_counter()
    case_set = make_case_set(args.images, size, work / "media")
    print(f"{args.images} cases of one {size[0]}x{size[1]} JPEG in {time.perf_counter() - t0:.1f} s; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"cuda: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}; "
          f"database: {django.db.connection.vendor}")
    builders = {"tiny": lambda: build_tiny_open_clip(work / "tiny"), "vit-b-16": lambda: build_vit_b_16(work / "vit-b-16")}
    results = []
    for name in args.models.split(","):
        result = bench_model(name, builders[name](), case_set, args)
        results.append(result)
        print(f"{name:>9} on {result['device']}, batch {args.batch_size}: bare forward "
              f"{result['bare_images_per_s']:9.1f} images/s | precompute path {result['path_images_per_s']:9.1f} "
              f"images/s | ratio {100 * result['ratio']:5.1f} %  (target >= 90 %)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
