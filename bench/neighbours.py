"""Similar-case search (inference.core.neighbours) side by side with a naive exact reference.

    .venv/bin/python bench/neighbours.py                     # 5,000 cases x 50,000 library images, 512 dims
    .venv/bin/python bench/neighbours.py --cases 1000 --library 20000 --images-per-case 1
    .venv/bin/python bench/neighbours.py --no-naive          # ours only

Data (seeded, float32): 400 diagnosis clusters; library images are a cluster centre plus noise, four
images per patient, some lesions shared; cases have 1-3 images (mean 1.4: 70 % one, 20 % two, 10 %
three) unless ``--images-per-case 1``; 2 % of cases carry a library image's hash, 2 % a near-copy
of a library image, 10 % a library patient's id. Both sides apply the same exclusions and return
12 neighbours per case, best-image (max) merge.

Ours: ``find_neighbours`` (blocks of at most ``--block-mib`` of scores, strip-maximum top-N), timed
including the frozen result objects (groups and kNN vote per case). Naive: one full matrix product of
all query images against the library, the per-case maximum, the exclusions, then a full stable
argsort of every row (indices only, no result objects). Each side runs in its own process so its
peak RSS is its own; "above inputs" is the peak minus the RSS once the data were built. The
neighbour lists of the two are compared. Target: ours under 10 s for 5,000 x 50,000 x 512 here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N = 12
TARGET_S = 10.0


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(cases: int, library: int, dim: int, mix: bool, seed: int):
    """Library embeddings [L, D] float32, metadata, and the query cases, all from `seed`."""
    from inference.core.neighbours import LibraryImage, QueryCase

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((400, dim), dtype=np.float32)
    label = rng.integers(400, size=library)
    embeddings = np.empty((library, dim), np.float32)
    for start in range(0, library, 5000):  # in slices, so building the data does not set the peak
        stop = min(library, start + 5000)
        embeddings[start:stop] = centres[label[start:stop]] + 1.2 * rng.standard_normal((stop - start, dim),
                                                                                         dtype=np.float32)
    images = [LibraryImage(f"L{i}", f"sha-{i}", f"lib-{i // 2}", f"D{label[i] % 60}", patient_id=f"P{i // 4}",
                           lesion_id=f"LES{i // 2}") for i in range(library)]
    counts = rng.choice([1, 2, 3], size=cases, p=[0.7, 0.2, 0.1]) if mix else np.ones(cases, int)
    queries = []
    for k in range(cases):
        vectors = centres[rng.integers(400)] + 1.2 * rng.standard_normal((counts[k], dim), dtype=np.float32)
        shas = [f"q{k}-{j}" for j in range(counts[k])]
        draw = rng.random()
        if draw < 0.02:
            shas[0] = f"sha-{rng.integers(library)}"
        elif draw < 0.04:
            vectors[0] = embeddings[rng.integers(library)] + 0.05 * rng.standard_normal(dim, dtype=np.float32)
        patient = f"P{rng.integers(library // 4)}" if rng.random() < 0.1 else f"study-{k}"
        queries.append(QueryCase(f"C{k}", vectors, tuple(shas), patient_id=patient))
    return embeddings, images, queries


def naive(queries, library, n: int, near_duplicate: float) -> np.ndarray:
    """One full product, per-case max, exclusions, full argsort: the plain exact answer."""
    q = np.concatenate([c.embeddings / np.linalg.norm(c.embeddings, axis=1, keepdims=True) for c in queries])
    counts = np.array([len(c.embeddings) for c in queries])
    starts = np.concatenate([[0], np.cumsum(counts)])
    scores = q.astype(np.float32) @ library.embeddings.T
    case_scores = scores[starts[:-1]].copy()
    for j in range(1, counts.max()):
        more = np.nonzero(counts > j)[0]
        case_scores[more] = np.maximum(case_scores[more], scores[starts[more] + j])
    del scores
    by_sha, by_patient = library._by_sha, library._by_patient
    for row, case in enumerate(queries):
        for sha in case.image_sha256:
            case_scores[row, by_sha.get(sha, [])] = -np.inf
        case_scores[row, by_patient.get(case.patient_id, [])] = -np.inf
    case_scores[case_scores > near_duplicate] = -np.inf
    order = np.argsort(-case_scores, axis=1, kind="stable")[:, :n]
    finite = np.isfinite(np.take_along_axis(case_scores, order, axis=1))
    return np.where(finite, order, -1)


def worker(args) -> None:
    from inference.core.neighbours import NEAR_DUPLICATE_COSINE, ReferenceLibrary, find_neighbours

    embeddings, images, queries = make_data(args.cases, args.library, args.dim, args.images_per_case == "mix",
                                            args.seed)
    started = time.perf_counter()
    library = ReferenceLibrary.build(images=images, embeddings=embeddings)
    build_s = time.perf_counter() - started
    del embeddings
    baseline = rss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    if args.worker == "ours":
        found = find_neighbours(queries, library, n=N, block_mib=args.block_mib)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        indices = np.full((len(found), N), -1)
        for row, result in enumerate(found):
            indices[row, :len(result.neighbours)] = [int(nb.image_id[1:]) for nb in result.neighbours]
        extra = {"excluded": {k: int(sum(r.excluded[k] for r in found)) for k in found[0].excluded}}
    else:
        indices = naive(queries, library, N, NEAR_DUPLICATE_COSINE)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        extra = {}
    np.save(args.out, indices)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mib": rss_mib(), "baseline_mib": baseline,
                      "library_build_s": build_s, "query_images": int(sum(len(c.embeddings) for c in queries)),
                      **extra}))


def run_side(side: str, args, folder: Path) -> tuple[dict, np.ndarray]:
    out = folder / f"{side}.npy"
    command = [sys.executable, __file__, "--worker", side, "--out", str(out), "--cases", str(args.cases),
               "--library", str(args.library), "--dim", str(args.dim), "--images-per-case", args.images_per_case,
               "--seed", str(args.seed), "--block-mib", str(args.block_mib)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), np.load(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--library", type=int, default=50000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--images-per-case", choices=("mix", "1"), default="mix")
    parser.add_argument("--block-mib", type=float, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--worker", choices=("ours", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    from threadpoolctl import threadpool_info

    blas = next((f"{p['internal_api']} {p['num_threads']} threads" for p in threadpool_info()
                 if p.get("user_api") == "blas"), "BLAS unknown")
    shape = "1 image" if args.images_per_case == "1" else "1-3 images, mean 1.4"
    print(f"{args.cases} cases ({shape}) x {args.library} library images x {args.dim} "
          f"dims, N = {N}; numpy {np.__version__}, {blas}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs (a shared host: compare CPU seconds when the load is high)")
    with tempfile.TemporaryDirectory() as tmp:
        sides = ["ours"] + ([] if args.no_naive else ["naive"])
        results = {side: run_side(side, args, Path(tmp)) for side in sides}
    for side, (r, _) in results.items():
        line = (f"{side:>5}: {r['seconds']:6.2f} s wall ({r['cpu_seconds']:6.2f} s CPU) for {r['query_images']} "
                f"query images; peak RSS {r['peak_mib']:6.0f} MiB, {r['peak_mib'] - r['baseline_mib']:6.0f} MiB "
                "above inputs")
        if side == "ours":
            line += f"  (target < {TARGET_S:g} s: {'met' if r['seconds'] < TARGET_S else 'MISSED'})"
            print(line)
            print(f"       library index built in {r['library_build_s']:.2f} s (once per library); "
                  f"excluded {r['excluded']}")
        else:
            print(line)
    if "naive" in results:
        ours, naive_idx = results["ours"][1], results["naive"][1]
        same = int(np.all(ours == naive_idx, axis=1).sum())
        print(f"naive/ours {results['naive'][0]['seconds'] / results['ours'][0]['seconds']:.1f}x in wall time; "
              f"identical neighbour lists for {same}/{len(ours)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
