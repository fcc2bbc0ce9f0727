"""Similar cases (content-based image retrieval) against a reference library: exact search, numpy only.

A reference library is a labelled case set kept apart from the study's cases, each image embedded
by the model's image tower. For a study case we return the N library images most similar to it
(cosine on L2-normalised embeddings), their diagnoses grouped, and a similarity-weighted kNN vote.

How a case queries (``merge``). A case has one or more images. By default (``"max"``) every image
queries and a library image scores its best cosine with any of the case's images. We prefer this to
the mean of the case's normalised embeddings (``"mean"``, kept as an option) because the gallery is
shown to readers for side-by-side comparison: with ``max`` every neighbour looks like at least one
image the reader sees, and it records which one (``query_image``); the mean of a close-up and a
dermoscopic image lies between the two views' regions of the embedding space and retrieves images
that resemble neither. The near-duplicate rule is per image in both modes.

Exclusions (a library image is never shown when): it has the sha256 of any image of the query case;
its cosine with any query image exceeds ``near_duplicate`` (a re-encoded or resized copy); or it has
the patient id or the lesion id of the query case, compared only when both sides carry one (the ids
must come from the same registry on both sides; they are compared as strings).

Search is exact: the query images are processed in blocks whose score matrix stays under
``block_mib`` (peak about 1.3 x that with ``max``, 2.3 x with ``mean``, plus the library itself); in each block the top N per case is found without sorting the whole row: the row is
cut into strips of ``STRIP`` columns, the N-th largest strip maximum is a lower bound of the N-th
largest score (N strips hold N distinct scores at least that large), so only strips reaching it
(about N of them) are ranked. Ties rank by library order, so results are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .knn import DiagnosisGroup, KnnVote, tally

DEFAULT_N = 12
ARM_N_RANGE = (8, 16)  # the arm schema's bounds; the search itself accepts any n >= 1
NEAR_DUPLICATE_COSINE = 0.98
BLOCK_MIB = 128
STRIP = 128  # columns per strip of the top-N search
MERGES = ("max", "mean")
_NEG = np.float32(-np.inf)


@dataclass(frozen=True)
class LibraryImage:
    """One library image and what the display and the exclusions need to know about it."""

    image_id: str
    sha256: str
    case_key: str
    diagnosis: str
    patient_id: str | None = None
    lesion_id: str | None = None


@dataclass(frozen=True, eq=False)
class ReferenceLibrary:
    """Library embeddings [L, D] (stored as unit-norm float32) with their images, in the same order.

    The hash, patient and lesion indexes the exclusions use are built once here, not per query.
    """

    embeddings: np.ndarray
    images: tuple[LibraryImage, ...]
    _by_sha: dict[str, np.ndarray] = field(init=False, repr=False)
    _by_patient: dict[str, np.ndarray] = field(init=False, repr=False)
    _by_lesion: dict[str, np.ndarray] = field(init=False, repr=False)
    _diagnoses: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        images = tuple(self.images)
        vectors = unit_rows(self.embeddings, what="library embedding")
        if len(vectors) != len(images) or not images:
            raise ValueError(f"{len(images)} library images but {len(vectors)} embeddings (need >= 1 each)")
        for name, value in (("embeddings", vectors), ("images", images),
                            ("_by_sha", _index(im.sha256 for im in images)),
                            ("_by_patient", _index(im.patient_id for im in images)),
                            ("_by_lesion", _index(im.lesion_id for im in images)),
                            ("_diagnoses", np.array([im.diagnosis for im in images], dtype=object))):
            object.__setattr__(self, name, value)

    @classmethod
    def build(cls, *, images: Sequence[LibraryImage], embeddings: np.ndarray) -> ReferenceLibrary:
        return cls(embeddings=embeddings, images=tuple(images))

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True, eq=False)
class QueryCase:
    """A study case: its image embeddings [k, D] (k >= 1) and the image hashes, in the same order."""

    case_key: str
    embeddings: np.ndarray
    image_sha256: tuple[str, ...]
    patient_id: str | None = None
    lesion_id: str | None = None


@dataclass(frozen=True)
class Neighbour:
    rank: int
    image_id: str
    sha256: str
    case_key: str
    diagnosis: str
    similarity: float
    query_image: str  # sha256 of the case's image this one is most similar to (side-by-side view)

    def as_dict(self) -> dict[str, object]:
        return {"rank": self.rank, "image_id": self.image_id, "sha256": self.sha256, "case_key": self.case_key,
                "diagnosis": self.diagnosis, "similarity": round(self.similarity, 6), "query_image": self.query_image}


@dataclass(frozen=True)
class CaseNeighbours:
    """The gallery of one study case: neighbours by rank, the same grouped by diagnosis, the kNN vote."""

    case_key: str
    neighbours: tuple[Neighbour, ...]
    groups: tuple[DiagnosisGroup, ...]
    vote: KnnVote
    merge: str
    near_duplicate: float
    excluded: dict[str, int]  # library images left out, by first matching reason
    rule: str = "nearest"  # "nearest", or how :mod:`inference.core.coherence` re-ranked it

    def as_dict(self) -> dict[str, object]:
        return {"case_key": self.case_key, "n": len(self.neighbours), "merge": self.merge,
                "near_duplicate_cosine": self.near_duplicate, "rule": self.rule, "excluded": dict(self.excluded),
                "neighbours": [nb.as_dict() for nb in self.neighbours],
                "groups": [g.as_dict() for g in self.groups], "vote": self.vote.as_dict()}


def gallery(case_key: str, neighbours: Sequence[Neighbour], *, merge: str, near_duplicate: float,
            excluded: dict[str, int], rule: str = "nearest", vote_temperature: float | None = None) -> CaseNeighbours:
    """A :class:`CaseNeighbours` from ranked neighbours (ranks are renumbered 1..n in the given order)."""
    ranked = tuple(Neighbour(i, nb.image_id, nb.sha256, nb.case_key, nb.diagnosis, nb.similarity, nb.query_image)
                   for i, nb in enumerate(neighbours, start=1))
    groups, vote = tally([(nb.diagnosis, nb.similarity) for nb in ranked], vote_temperature)
    return CaseNeighbours(case_key=case_key, neighbours=ranked, groups=groups, vote=vote, merge=merge,
                          near_duplicate=near_duplicate, excluded=excluded, rule=rule)


def find_neighbours(
    cases: Sequence[QueryCase],
    library: ReferenceLibrary,
    *,
    n: int = DEFAULT_N,
    near_duplicate: float = NEAR_DUPLICATE_COSINE,
    merge: str = "max",
    vote_temperature: float | None = None,
    only_diagnosis: Sequence[str | None] | None = None,
    block_mib: float = BLOCK_MIB,
) -> tuple[CaseNeighbours, ...]:
    """The n most similar library images of each case, after the exclusions; same order as `cases`.

    `only_diagnosis`, one entry per case, restricts that case's search to library images of one
    diagnosis (None: all); the coherent faulty gallery uses it. Fewer than n neighbours come back
    when fewer library images are left after the exclusions.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if merge not in MERGES:
        raise ValueError(f"merge must be one of {MERGES}")
    if not -1.0 <= near_duplicate <= 1.0:
        raise ValueError("near_duplicate is a cosine in [-1, 1]")
    if only_diagnosis is not None and len(only_diagnosis) != len(cases):
        raise ValueError("only_diagnosis needs one entry per case")
    queries, starts = _stack_queries(cases, library.embeddings.shape[1])
    per_row = max(1, int(block_mib * 2**20 // (4 * len(library))))
    results: list[CaseNeighbours] = []
    first = 0
    while first < len(cases):
        last = first + 1
        while last < len(cases) and starts[last + 1] - starts[first] <= per_row:
            last += 1
        chunk = slice(first, last)
        only = only_diagnosis[chunk] if only_diagnosis is not None else None
        results += _search_block(cases[chunk], queries[starts[first]:starts[last]], starts[first:last + 1] - starts[first],
                                 library, n=n, near_duplicate=near_duplicate, merge=merge, only=only,
                                 vote_temperature=vote_temperature)
        first = last
    return tuple(results)


def _search_block(cases, queries, starts, library, *, n, near_duplicate, merge, only, vote_temperature):
    # Rows are ordered image position first (every case's first image, then the second images, ...),
    # so the first images' scores are the case-level array in place and only extra images are merged.
    m = len(cases)
    counts = np.diff(starts)
    extra = [np.nonzero(counts > j)[0] for j in range(1, int(counts.max()))]
    order = np.concatenate([starts[:-1]] + [starts[c] + j for j, c in enumerate(extra, start=1)])
    scores = queries[order] @ library.embeddings.T  # [images, L] float32
    best = scores[:m]  # a view; after the loop, each case's best cosine over its images
    ranked = best.copy() if merge == "mean" and extra and len(extra[0]) else best
    offset = m
    for cases_j in extra:
        rows = slice(offset, offset + len(cases_j))
        best[cases_j] = np.maximum(best[cases_j], scores[rows])
        if ranked is not best:
            ranked[cases_j] += scores[rows]
        offset += len(cases_j)
    if ranked is not best:  # cosine with the normalised mean = sum of cosines / norm of the summed embeddings
        sums = np.zeros_like(queries[:m])
        np.add.at(sums, np.repeat(np.arange(m), counts), queries)
        ranked /= np.linalg.norm(sums, axis=1)[:, None]
    excluded = []
    for row, case in enumerate(cases):
        reasons = {}
        for reason, columns in _identity_exclusions(case, library):
            fresh = columns[np.isfinite(best[row, columns])]
            reasons[reason] = len(fresh)
            best[row, fresh] = _NEG
            ranked[row, fresh] = _NEG  # the same array unless merge is "mean"
        excluded.append(reasons)
    duplicate = best > near_duplicate
    for row, count in enumerate(np.count_nonzero(duplicate, axis=1)):
        excluded[row]["near_duplicate"] = int(count)
    np.putmask(ranked, duplicate, _NEG)
    del duplicate
    if only is not None:
        for row, code in enumerate(only):
            if code is not None:
                ranked[row, library._diagnoses != code] = _NEG
    columns, values = top_n(ranked, n)
    out = []
    for row, case in enumerate(cases):
        keep = np.isfinite(values[row])
        cols = columns[row][keep]
        which = np.zeros(len(cols), np.int64) if counts[row] == 1 else (
            queries[starts[row]:starts[row + 1]] @ library.embeddings[cols].T).argmax(axis=0)
        neighbours = [
            Neighbour(0, library.images[c].image_id, library.images[c].sha256, library.images[c].case_key,
                      library.images[c].diagnosis, float(v), case.image_sha256[w])
            for c, v, w in zip(cols, values[row][keep], which, strict=True)
        ]
        out.append(gallery(case.case_key, neighbours, merge=merge, near_duplicate=near_duplicate,
                           excluded=excluded[row], vote_temperature=vote_temperature))
    return out


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns and values of the n largest finite entries of each row, best first, ties by column.

    Exact; rows with fewer than n finite entries are padded with column -1 and value -inf.
    """
    rows, width = scores.shape
    strips = width // STRIP
    if strips >= n:
        body = scores[:, :strips * STRIP].reshape(rows, strips, STRIP)
        strip_max = body.max(axis=2)
        floor = np.partition(strip_max, strips - n, axis=1)[:, strips - n]
        floor = np.maximum(floor, np.finfo(np.float32).min)  # -inf is never a candidate
        hit_rows, hit_strips = np.nonzero(strip_max >= floor[:, None])
        cand_rows = np.concatenate([np.repeat(hit_rows, STRIP), np.repeat(np.arange(rows), width - strips * STRIP)])
        cand_cols = np.concatenate([(hit_strips[:, None] * STRIP + np.arange(STRIP)).ravel(),
                                    np.tile(np.arange(strips * STRIP, width), rows)])
    else:
        floor = np.full(rows, np.finfo(np.float32).min, np.float32)
        cand_rows, cand_cols = np.repeat(np.arange(rows), width), np.tile(np.arange(width), rows)
    cand_vals = scores[cand_rows, cand_cols]
    keep = cand_vals >= floor[cand_rows]
    cand_rows, cand_cols, cand_vals = cand_rows[keep], cand_cols[keep], cand_vals[keep]
    order = np.lexsort((cand_cols, -cand_vals, cand_rows))
    cand_rows, cand_cols, cand_vals = cand_rows[order], cand_cols[order], cand_vals[order]
    row_start = np.searchsorted(cand_rows, np.arange(rows))
    position = np.arange(len(cand_rows)) - row_start[cand_rows]
    take = position < n
    columns = np.full((rows, n), -1, np.int64)
    values = np.full((rows, n), _NEG, np.float32)
    columns[cand_rows[take], position[take]] = cand_cols[take]
    values[cand_rows[take], position[take]] = cand_vals[take]
    return columns, values


def unit_rows(vectors: np.ndarray, *, what: str) -> np.ndarray:
    """float32 copy with unit-length rows; zero or non-finite rows are an error (no silent NaN)."""
    array = np.array(vectors, dtype=np.float32, ndmin=2)
    if array.ndim != 2:
        raise ValueError(f"{what}s must be a 2-D array")
    norms = np.linalg.norm(array, axis=1)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError(f"a {what} is zero or not finite")
    array /= norms[:, None]
    return array


def _stack_queries(cases: Sequence[QueryCase], dim: int) -> tuple[np.ndarray, np.ndarray]:
    blocks = []
    for case in cases:
        vectors = unit_rows(case.embeddings, what="query embedding")
        if vectors.shape[1] != dim:
            raise ValueError(f"case {case.case_key}: embeddings of {vectors.shape[1]} dims, library has {dim}")
        if len(case.image_sha256) != len(vectors):
            raise ValueError(f"case {case.case_key}: {len(vectors)} embeddings but {len(case.image_sha256)} hashes")
        blocks.append(vectors)
    if not blocks:
        return np.empty((0, dim), np.float32), np.zeros(1, np.int64)
    return np.concatenate(blocks), np.cumsum([0] + [len(b) for b in blocks])


def _identity_exclusions(case: QueryCase, library: ReferenceLibrary):
    """(reason, library columns) in precedence order; a column counts under the first reason only."""
    empty = np.empty(0, np.int64)
    same_image = [library._by_sha.get(sha, empty) for sha in set(case.image_sha256)]
    yield "same_image", np.concatenate(same_image) if same_image else empty
    yield "same_patient", library._by_patient.get(case.patient_id, empty) if case.patient_id else empty
    yield "same_lesion", library._by_lesion.get(case.lesion_id, empty) if case.lesion_id else empty


def _index(keys) -> dict[str, np.ndarray]:
    """key -> library columns holding it (missing or empty keys are not indexed)."""
    index: dict[str, list[int]] = {}
    for column, key in enumerate(keys):
        if key:
            index.setdefault(str(key), []).append(column)
    return {key: np.array(columns, np.int64) for key, columns in index.items()}
