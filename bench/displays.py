"""Benchmark: images/s of precompute with every AI display against the bare model forward, same run.

    .venv/bin/python bench/displays.py [--images 64] [--library 256] [--batch-size 32]
                                       [--models tiny,vit-b-16] [--device auto] [--repeats 1]

The path is a fresh precompute job (read, decode, forward, image embeddings stored, one output per
case) followed by a display job with all four kinds (malignancy, 16 similar cases against the
library, concept findings over the 42-concept vocabulary, learned concepts from a trained
autoencoder), both payload variants, from a cold image cache for the study cases. The bare
forward is `encode_image` on ready tensors (bench/inference.py). Target: path >= 90 % of bare.

Once per model and not timed (as the text embeddings in bench/inference.py): loading, the class and
concept text embeddings, embedding the reference library (its figure is printed beside), training
the concept model. Runs on a temporary SQLite file unless DATABASE_URL is set; random weights.

Recorded 2026-12-02 on this 2-core CPU (`--models tiny,vit-b-16`; ViT-B-16 with --images 16
--library 32 --batch-size 8, as larger runs exceed 15 minutes here): ViT-B-16 bare 1.4 images/s,
precompute + all displays 1.6 images/s (ratio 113 %: within this run's noise, the displays cost
~17 ms per case against ~700 ms per image of forward); tiny model: the forward is free, so the
ratio (4 %) only shows the displays' fixed per-case cost (about 60 cases/s).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_inference", ROOT / "bench" / "inference.py")
bench_inference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_inference)


def cold_run(version, case_set, library, batch_size: int) -> tuple[float, float]:
    """(images/s of outputs + all displays, images/s of outputs alone) from a cold cache for the study images."""
    from inference.displays import display_run
    from inference.models import (
        DisplayJob,
        DisplayKind,
        DisplayOutput,
        ImageEmbedding,
        ModelOutput,
        PrecomputeJob,
    )
    from inference.precompute import precompute_run

    shas = list(case_set.cases.values_list("images__sha256", flat=True))
    ModelOutput.objects.filter(model_version=version).delete()
    DisplayOutput.objects.filter(model_version=version).delete()
    ImageEmbedding.objects.filter(model_version=version, image_sha256__in=shas).delete()
    concept_model = version.concept_models.order_by("-pk").first().name
    job = PrecomputeJob.objects.create(model_version=version, case_set=case_set)
    displays = DisplayJob.objects.create(model_version=version, case_set=case_set, library=library,
                                         kinds=sorted(DisplayKind.values), params={"concept_model": concept_model})
    started = time.perf_counter()
    job = precompute_run(job.pk, batch_size=batch_size)
    outputs_s = time.perf_counter() - started
    displays = display_run(displays.pk, batch_size=batch_size)
    elapsed = time.perf_counter() - started
    assert job.done == job.total and displays.done == displays.total, (job.done, displays.done, displays.failed)
    return len(shas) / elapsed, len(shas) / outputs_s


def bench_model(name: str, folder: Path, case_set, library, args) -> dict:
    from inference.concept_models import concept_model_train, concept_text_embeddings, vocabulary
    from inference.core.sae import SAEConfig
    from inference.displays import library_embeddings
    from inference.precompute import class_embeddings_for, loaded_model
    from inference.services import model_register

    version = model_register(path=folder, name=f"bench-{name}-{time.time_ns()}", verify=False)
    loaded = loaded_model(version)
    class_embeddings_for(version, case_set.taxonomy)
    concept_text_embeddings(version, vocabulary())
    started = time.perf_counter()
    library_embeddings(version, library, batch_size=args.batch_size)
    library_rate = library.cases.count() / (time.perf_counter() - started)
    concept_model_train(model_version=version, case_sets=[library], config=SAEConfig(steps=args.sae_steps))
    cold_run(version, case_set, library, args.batch_size)  # warm-up
    bare, path, outputs = [], [], []
    for _ in range(args.repeats):
        bare.append(bench_inference.bare_forward(loaded, args.images, args.batch_size))
        with_displays, outputs_only = cold_run(version, case_set, library, args.batch_size)
        path.append(with_displays)
        outputs.append(outputs_only)
    result = {"model": name, "device": str(loaded.device), "bare": statistics.median(bare),
              "path": statistics.median(path), "outputs_only": statistics.median(outputs), "library": library_rate}
    result["ratio"] = result["path"] / result["bare"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--library", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", default="tiny,vit-b-16")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sae-steps", type=int, default=300)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-displays-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{work / 'bench.sqlite3'}")
    os.environ["MEDIA_ROOT"] = str(work / "media")
    os.environ["INFERENCE_DEVICE"] = args.device
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")
    import django

    django.setup()
    import torch
    from django.conf import settings
    from django.core.management import call_command

    from inference.core.testing import build_tiny_open_clip

    call_command("migrate", verbosity=0)
    # Random weights map every generated image within cosine 0.98 of the others: with the near-duplicate
    # rule on, no library image would be left to show (the search still scores the whole library).
    settings.INFERENCE_NEAR_DUPLICATE_COSINE = 1.0
    size = tuple(int(v) for v in args.size.split("x"))
    case_set = bench_inference.make_case_set(args.images, size, work / "media")
    library = bench_inference.make_case_set(args.library, (size[0] // 2 + 1, size[1] // 2 + 1), work / "media")
    library.reference_library = True
    library.save(update_fields=["reference_library"])
    print(f"{args.images} study cases, {args.library} library cases; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, cuda: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
    builders = {"tiny": lambda: build_tiny_open_clip(work / "tiny"),
                "vit-b-16": lambda: bench_inference.build_vit_b_16(work / "vit-b-16")}
    for name in args.models.split(","):
        r = bench_model(name, builders[name](), case_set, library, args)
        print(f"{name:>9} on {r['device']}, batch {args.batch_size}: bare forward {r['bare']:8.1f} images/s | "
              f"precompute + all displays {r['path']:8.1f} images/s | ratio {100 * r['ratio']:5.1f} % (target >= 90 %) "
              f"| outputs only {r['outputs_only']:8.1f} | library embedding {r['library']:8.1f} images/s (once)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
