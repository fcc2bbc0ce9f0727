"""Benchmark: import N cases x 2 images (default 1,000 x 2) into a fresh database and print the time.

    .venv/bin/python bench/import_cases.py [--cases 1000] [--size 1024x768]

Runs against DATABASE_URL when set (e.g. PostgreSQL), else a temporary SQLite file. Target: under 60 s
on a 2-core machine. Exits non-zero when the target is missed.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_images(folder: Path, n: int, size: tuple[int, int]) -> None:
    """Photo-like JPEGs (smooth colour field plus noise) so encode/decode cost is realistic."""
    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    bases = [np.stack([160 + 40 * np.sin(xx / (50 + k)), 110 + 30 * np.cos(yy / 40), 90 + 0 * xx], -1)
             for k in range(17)]
    noise = [rng.normal(0, 8, bases[0].shape) for _ in range(13)]
    for i in range(n):
        # 17 x 13 x a per-image offset: every file differs, so every image is decoded and stored.
        noisy = np.clip(bases[i % 17] + noise[i % 13] + (i % 7) + 7 * (i // 1547), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noisy).save(buffer, "JPEG", quality=90)
        (folder / f"img{i}.jpg").write_bytes(buffer.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--size", default="1024x768")
    parser.add_argument("--target-s", type=float, default=60.0)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{work / 'bench.sqlite3'}")
    os.environ["MEDIA_ROOT"] = str(work / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from catalog.services.case_import import case_import
    from catalog.services.taxonomy import default_taxonomy

    call_command("migrate", verbosity=0)
    taxonomy = default_taxonomy()
    codes = list(taxonomy.conditions.values_list("code", flat=True))
    images = work / "images"
    images.mkdir()
    t0 = time.perf_counter()
    make_images(images, 2 * args.cases, size)
    print(f"generated {2 * args.cases} images of {size[0]}x{size[1]} in {time.perf_counter() - t0:.1f} s")
    manifest = work / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "clinical_image", "dermoscopic_image", "age", "sex", "reference_code",
                         "reference_source"])
        for i in range(args.cases):
            writer.writerow([f"B{i:05d}", f"img{2 * i}.jpg", f"img{2 * i + 1}.jpg", 20 + i % 70, "FM"[i % 2],
                             codes[i % len(codes)], "histopathology"])
    t0 = time.perf_counter()
    report = case_import(manifest=manifest, images=images, case_set_name="bench", taxonomy=taxonomy)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    case_import(manifest=manifest, images=images, case_set_name="bench", taxonomy=taxonomy)
    again = time.perf_counter() - t0
    db = django.db.connection.vendor
    print(f"import of {report.n_cases} cases / {report.n_images} images on {db}: {first:.1f} s "
          f"({report.n_images / first:.0f} images/s); re-import (no-op check): {again:.1f} s; target < {args.target_s} s")
    return 0 if first < args.target_s else 1


if __name__ == "__main__":
    raise SystemExit(main())
