"""Similar cases: exact search, each exclusion, how a multi-image case queries, groups and kNN vote.

Hand-built library: unit vectors in a plane at known angles from the query, so every similarity is
cos(angle) and the order of the neighbours is known before the search runs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from inference.core.knn import knn_vote, vote_weights
from inference.core.neighbours import (
    LibraryImage,
    QueryCase,
    ReferenceLibrary,
    find_neighbours,
    top_n,
)

# angle (degrees from the query), diagnosis; cos: 5° .996195, 15° .965926, 30° .866025, 45° .707107,
# 60° .5, 90° 0, 120° -.5, -20° .939693
PLANE = [(5, "NEV"), (15, "NEV"), (30, "MEL"), (45, "NEV"), (60, "SK"), (90, "SK"), (120, "MEL"), (-20, "MEL")]


def at(degrees: float, dim: int = 3) -> np.ndarray:
    vector = np.zeros(dim)
    vector[:2] = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    return vector


def plane_library(overrides: dict[int, dict] | None = None) -> ReferenceLibrary:
    overrides = overrides or {}
    images = []
    for i, (_, code) in enumerate(PLANE):
        fields = {"image_id": f"L{i}", "sha256": f"sha-L{i}", "case_key": f"lib-{i}", "diagnosis": code}
        fields.update(overrides.get(i, {}))
        images.append(LibraryImage(**fields))
    return ReferenceLibrary.build(images=images, embeddings=np.stack([at(a) for a, _ in PLANE]))


def query(*vectors, shas=None, patient=None, lesion=None, key="Q1") -> QueryCase:
    shas = tuple(shas or (f"q-{i}" for i in range(len(vectors))))
    return QueryCase(key, np.stack(vectors), shas, patient_id=patient, lesion_id=lesion)


def ids(result) -> list[str]:
    return [nb.image_id for nb in result.neighbours]


def test_nearest_in_order_with_cosines_groups_and_vote():
    (result,) = find_neighbours([query(at(0))], plane_library(), n=4)
    # L0 (5°, cos .996) is a near-duplicate at the default 0.98; then 15°, -20°, 30°, 45°.
    assert ids(result) == ["L1", "L7", "L2", "L3"]
    assert [nb.rank for nb in result.neighbours] == [1, 2, 3, 4]
    assert_allclose([nb.similarity for nb in result.neighbours], [0.965926, 0.939693, 0.866025, 0.707107], atol=1e-6)
    assert result.excluded == {"same_image": 0, "same_patient": 0, "same_lesion": 0, "near_duplicate": 1}
    # Vote by hand: MEL .939693 + .866025 = 1.805718, NEV .965926 + .707107 = 1.673033, total 3.478751.
    assert result.vote.winner == "MEL"
    assert_allclose(result.vote.share("MEL"), 1.805718 / 3.478751, atol=1e-6)
    assert_allclose(result.vote.share("NEV"), 1.673033 / 3.478751, atol=1e-6)
    assert [(g.diagnosis, g.count, g.ranks) for g in result.groups] == [("MEL", 2, (2, 3)), ("NEV", 2, (1, 4))]
    assert_allclose([g.best_similarity for g in result.groups], [0.939693, 0.965926], atol=1e-6)
    snapshot = json.loads(json.dumps(result.as_dict()))
    assert snapshot["neighbours"][0] == {"rank": 1, "image_id": "L1", "sha256": "sha-L1", "case_key": "lib-1",
                                         "diagnosis": "NEV", "similarity": 0.965926, "query_image": "q-0"}
    assert snapshot["vote"]["winner"] == "MEL" and snapshot["n"] == 4 and snapshot["rule"] == "nearest"
    assert snapshot["groups"][1] == {"diagnosis": "NEV", "count": 2, "share": round(1.673033 / 3.478751, 6),
                                     "best_similarity": 0.965926, "ranks": [1, 4]}


def test_near_duplicate_threshold_is_configurable():
    (result,) = find_neighbours([query(at(0))], plane_library(), n=2, near_duplicate=0.999)
    assert ids(result) == ["L0", "L1"] and result.excluded["near_duplicate"] == 0
    (result,) = find_neighbours([query(at(0))], plane_library(), n=2, near_duplicate=0.95)
    assert ids(result) == ["L7", "L2"] and result.excluded["near_duplicate"] == 2


def test_same_image_hash_as_any_image_of_the_case_is_excluded():
    library = plane_library({1: {"sha256": "q-second"}, 7: {"sha256": "q-first"}})
    (result,) = find_neighbours([query(at(0), np.array([0, 0, 1.0]), shas=("q-first", "q-second"))], library, n=3)
    assert ids(result) == ["L2", "L3", "L4"]
    assert result.excluded["same_image"] == 2


def test_same_patient_or_lesion_only_when_both_sides_carry_it():
    library = plane_library({1: {"patient_id": "P1"}, 7: {"lesion_id": "LES9"}, 2: {"patient_id": "P2"}})
    (both,) = find_neighbours([query(at(0), patient="P1", lesion="LES9")], library, n=3)
    assert ids(both) == ["L2", "L3", "L4"]
    assert both.excluded == {"same_image": 0, "same_patient": 1, "same_lesion": 1, "near_duplicate": 1}
    (unknown,) = find_neighbours([query(at(0))], library, n=3)  # the query carries no ids: nothing to compare
    assert ids(unknown) == ["L1", "L7", "L2"]
    (other,) = find_neighbours([query(at(0), patient="P3")], library, n=3)
    assert ids(other) == ["L1", "L7", "L2"]


def test_fewer_neighbours_than_asked_when_the_library_runs_out():
    library = plane_library({i: {"patient_id": "P1"} for i in range(6)})
    (result,) = find_neighbours([query(at(0), patient="P1")], library, n=5)
    assert ids(result) == ["L7", "L6"]  # the others share the patient; 120° (cos -.5) is still a neighbour
    assert_allclose([nb.similarity for nb in result.neighbours], [0.939693, -0.5], atol=1e-6)


def test_two_view_case_max_merge_finds_each_views_match_mean_finds_the_in_between():
    close_up, dermoscopy = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    embeddings = np.stack([
        np.cos(np.deg2rad(15)) * close_up + np.sin(np.deg2rad(15)) * np.array([0, 1.0, 0]),  # like the close-up
        np.cos(np.deg2rad(15)) * dermoscopy + np.sin(np.deg2rad(15)) * np.array([0, 1.0, 0]),  # like the dermoscopy
        (close_up + dermoscopy) / np.sqrt(2),  # like neither: cos .707107 with each view
    ])
    images = [LibraryImage(f"L{i}", f"s{i}", f"c{i}", code) for i, code in enumerate(["BCC", "BCC", "SK"])]
    library = ReferenceLibrary.build(images=images, embeddings=embeddings)
    case = query(close_up, dermoscopy, shas=("clin", "derm"))
    (by_max,) = find_neighbours([case], library, n=2, merge="max")
    assert ids(by_max) == ["L0", "L1"]
    assert [nb.query_image for nb in by_max.neighbours] == ["clin", "derm"]
    assert_allclose([nb.similarity for nb in by_max.neighbours], [0.965926, 0.965926], atol=1e-6)
    (by_mean,) = find_neighbours([case], library, n=2, merge="mean")
    # The normalised mean is (1, 0, 1)/sqrt 2: cos 1 with L2, .965926 / sqrt 2 = .683013 with L0 and L1.
    assert ids(by_mean) == ["L2", "L0"]
    assert_allclose([nb.similarity for nb in by_mean.neighbours], [1.0, 0.683013], atol=1e-6)


def test_only_diagnosis_restricts_one_case_and_not_the_other():
    results = find_neighbours([query(at(0), key="A"), query(at(0), key="B")], plane_library(), n=2,
                              only_diagnosis=["SK", None])
    assert ids(results[0]) == ["L4", "L5"] and {nb.diagnosis for nb in results[0].neighbours} == {"SK"}
    assert ids(results[1]) == ["L1", "L7"]


def brute_force(cases, library, n, near_duplicate):
    """Reference: every case against every image, full sort, the same exclusions written out plainly."""
    out = []
    for case in cases:
        q = case.embeddings / np.linalg.norm(case.embeddings, axis=1, keepdims=True)
        sims = (q @ library.embeddings.T.astype(np.float64)).max(axis=0)
        allowed = [i for i, im in enumerate(library.images)
                   if im.sha256 not in case.image_sha256 and sims[i] <= near_duplicate
                   and not (case.patient_id and im.patient_id == case.patient_id)
                   and not (case.lesion_id and im.lesion_id == case.lesion_id)]
        out.append(sorted(allowed, key=lambda i: (-sims[i], i))[:n])
    return out


def test_chunked_strip_search_equals_brute_force_with_exclusions():
    rng = np.random.default_rng(7)
    size, dim = 3000, 16
    centres = rng.normal(size=(40, dim))
    which = rng.integers(40, size=size)
    embeddings = centres[which] + 0.5 * rng.normal(size=(size, dim))
    images = [LibraryImage(f"L{i}", f"s{i}", f"c{i}", f"D{which[i] % 7}", patient_id=f"P{i % 500}",
                           lesion_id=f"LES{i % 900}" if i % 3 else None) for i in range(size)]
    library = ReferenceLibrary.build(images=images, embeddings=embeddings)
    cases = []
    for k in range(60):
        m = 1 + k % 3
        base = centres[rng.integers(40)]
        vectors = base + 0.5 * rng.normal(size=(m, dim))
        if k % 10 == 0:
            vectors[0] = embeddings[k] + 1e-3 * rng.normal(size=dim)  # a near-copy of a library image
        shas = tuple(f"s{k * 7 + j}" if j == 0 and k % 4 == 0 else f"q{k}-{j}" for j in range(m))
        cases.append(QueryCase(f"Q{k}", vectors, shas, patient_id=f"P{k}" if k % 2 else None,
                               lesion_id=f"LES{k}" if k % 5 else None))
    # 0.05 MiB: blocks of 4 query images against 3,000 columns, so many blocks and 23 strips per row.
    found = find_neighbours(cases, library, n=12, block_mib=0.05)
    expected = brute_force(cases, library, 12, 0.98)
    assert [[int(nb.image_id[1:]) for nb in r.neighbours] for r in found] == expected
    assert sum(r.excluded["near_duplicate"] for r in found) >= 6
    assert sum(r.excluded["same_image"] for r in found) == 15
    assert all(r.excluded["same_patient"] == 6 for r in found if r.case_key[1:] and int(r.case_key[1:]) % 2)


def test_top_n_ties_by_column_and_pads_short_rows():
    scores = np.array([[0.5, 0.9, 0.5, -np.inf, 0.9], [-np.inf, 0.1, -np.inf, -np.inf, -np.inf]], np.float32)
    columns, values = top_n(scores, 3)
    assert columns.tolist() == [[1, 4, 0], [1, -1, -1]]
    assert_allclose(values[0], [0.9, 0.9, 0.5])
    assert np.isneginf(values[1, 1:]).all()


def test_vote_weighting_temperature_and_count_fallback():
    # exp((s - .9)/.1) for s = .9, .8, .5: 1, e^-1 = .367879, e^-4 = .018316; A = 1.018316 of 1.386195.
    vote = knn_vote([("A", 0.9), ("B", 0.8), ("A", 0.5)], temperature=0.1)
    assert vote.winner == "A" and vote.weighting == "exp(similarity/0.1)"
    assert_allclose(vote.share("A"), 0.734612, atol=1e-6)
    assert_allclose(vote.share("B"), 0.265388, atol=1e-6)
    weights, name = vote_weights([0.3, -0.2])
    assert name == "similarity" and weights.tolist() == [0.3, 0.0]
    fallback = knn_vote([("A", -0.1), ("B", -0.3), ("B", -0.4)])
    assert fallback.weighting == "count" and fallback.winner == "B"
    assert_allclose(fallback.share("B"), 2 / 3)
    tie = knn_vote([("B", 0.5), ("A", 0.5)])  # equal weight and best similarity: by code
    assert tie.winner == "A"
    empty = knn_vote([])
    assert empty.winner is None and empty.distribution == ()


def test_inputs_that_cannot_be_searched_say_why():
    library = plane_library()
    with pytest.raises(ValueError, match="dims"):
        find_neighbours([QueryCase("Q", np.ones((1, 4)), ("a",))], library)
    with pytest.raises(ValueError, match="zero or not finite"):
        find_neighbours([QueryCase("Q", np.zeros((1, 3)), ("a",))], library)
    with pytest.raises(ValueError, match="hashes"):
        find_neighbours([QueryCase("Q", np.ones((2, 3)), ("a",))], library)
    with pytest.raises(ValueError, match="merge"):
        find_neighbours([query(at(0))], library, merge="median")
    assert find_neighbours([], library) == ()
