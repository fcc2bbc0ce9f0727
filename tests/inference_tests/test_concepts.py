"""Concept vocabulary, MONET-style concept scores, strength bars and Youden-J thresholds."""

from __future__ import annotations

import copy
import hashlib
import json
import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from PIL import Image

from inference.core.concepts import (
    ConceptEmbeddings,
    VocabularyError,
    calibrate_thresholds,
    case_findings,
    concept_embeddings,
    concept_scores,
    concept_strength,
    load_vocabulary,
    vocabulary_from_dict,
    youden_threshold,
)
from inference.core.factory import load_model
from inference.core.registry import spec_from_folder
from inference.core.zeroshot import class_prompts

SMALL = {
    "name": "test", "version": "t1",
    "templates": {"morphology": ["a photo of {}.", "{}"], "artefact": ["a photo with {}."]},
    "reference_prompts": ["a photo of skin.", "skin"],
    "concepts": [
        {"code": "papule", "name": "papule", "synonyms": ["bump"], "kind": "morphology"},
        {"code": "scale", "name": "scale", "synonyms": [], "kind": "morphology", "templates": ["{} on skin"]},
        {"code": "hair", "name": "hair", "synonyms": ["hairs"], "kind": "artefact"},
    ],
}


def fake_encoder(dim: int = 8):
    """Deterministic text 'embeddings': a vector seeded by each prompt's hash (not normalised on purpose)."""

    def encode(texts: list[str]) -> torch.Tensor:
        rows = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).standard_normal(dim) * 3
                for t in texts]
        return torch.tensor(np.stack(rows), dtype=torch.float32)

    return encode


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_shipped_vocabulary_has_forty_odd_concepts_of_every_kind():
    vocab = load_vocabulary()
    assert vocab.version == "1"
    assert 38 <= len(vocab.concepts) <= 46
    assert {c.kind for c in vocab.concepts} == {"morphology", "dermoscopic", "colour", "artefact"}
    assert vocab.artefact_codes == {"hair", "ink_marker", "ruler"}
    for code in ("papule", "plaque", "scale", "crust", "ulcer", "erythema", "pigment_network", "blue_white_veil"):
        assert vocab.concept(code).prompts()
    assert vocab.concept("blue_white_veil").prompts()[0] == "a dermoscopic image showing blue-white veil."
    assert len(vocab.reference_prompts) >= 3
    assert len(vocab.fingerprint) == 64


MUTATIONS = [
    (lambda d: d["concepts"][0].update(kind="shape"), "concept 'papule' (#0): field 'kind' is 'shape'"),
    (lambda d: d["concepts"][1].update(code="papule"), "concept 'papule' (#1): field 'code' is used twice"),
    (lambda d: d["concepts"][1].update(templates=["scale on skin"]), "concept 'scale' (#1): field 'templates'"),
    (lambda d: d["concepts"][1].update(templates=["{} {}"]), "concept 'scale' (#1): field 'templates'"),
    (lambda d: d["concepts"][2].pop("name"), "concept 'hair' (#2): field 'name'"),
    (lambda d: d["concepts"][2].update(synonym=["x"]), "concept 'hair' (#2): unknown field(s) ['synonym']"),
    (lambda d: d["concepts"][0].update(synonyms="bump"), "concept 'papule' (#0): field 'synonyms'"),
    (lambda d: d["concepts"][0].update(synonyms=["papule"]), "concept 'papule' (#0): field 'synonyms' repeats"),
    (lambda d: d["concepts"][0].update(code="Papule"), "concept 'Papule' (#0): field 'code' must be lower-case"),
    (lambda d: d["concepts"][2].update(kind="colour"), "concept 'hair' (#2): field 'templates' missing"),
    (lambda d: d.update(reference_prompts=[]), "field 'reference_prompts' must not be empty"),
    (lambda d: d.update(version=""), "field 'version'"),
    (lambda d: d.update(concepts=[]), "field 'concepts'"),
    (lambda d: d["templates"].update(shape=["{}"]), "field 'templates' must map kinds"),
]


@pytest.mark.parametrize(("mutate", "message"), MUTATIONS)
def test_vocabulary_errors_name_the_concept_and_field(mutate, message):
    data = copy.deepcopy(SMALL)
    vocabulary_from_dict(data)  # valid before the mutation
    mutate(data)
    with pytest.raises(VocabularyError) as info:
        vocabulary_from_dict(data)
    assert message in str(info.value)


def test_concept_templates_resolve_own_then_kind():
    vocab = vocabulary_from_dict(SMALL)
    assert vocab.concept("papule").prompts() == ["a photo of papule.", "papule", "a photo of bump.", "bump"]
    assert vocab.concept("scale").prompts() == ["scale on skin"]
    assert vocab.concept("hair").templates == ("a photo with {}.",)


def test_concept_embeddings_are_normalised_means_of_normalised_prompts():
    vocab = vocabulary_from_dict(SMALL)
    encode = fake_encoder()
    emb = concept_embeddings(encode, vocab)
    assert emb.codes == ("papule", "scale", "hair")
    for k, concept in enumerate(vocab.concepts):
        prompts = class_prompts(concept.names, concept.templates)
        expected = unit(unit(encode(prompts).numpy()).sum(axis=0))
        assert_allclose(emb.concepts[k], expected, rtol=1e-5, atol=1e-6)
    assert_allclose(emb.reference, unit(unit(encode(["a photo of skin.", "skin"]).numpy()).sum(0)), atol=1e-6)


def _toy_embeddings() -> ConceptEmbeddings:
    # Hand-made 3-d text embeddings: reference along z, concepts tilted towards x and y.
    return ConceptEmbeddings("t1", vocabulary_from_dict(SMALL).fingerprint, ("papule", "scale", "hair"),
                             unit([[0.6, 0.0, 0.8], [0.0, 0.6, 0.8], [0.0, 0.0, 1.0]]).astype(np.float32),
                             np.array([0.0, 0.0, 1.0], np.float32))


def test_scores_are_similarity_to_concept_minus_reference_by_hand():
    x = np.array([[0.6, 0.0, 0.8], [0.0, 0.0, 1.0]])
    scores = concept_scores(x, _toy_embeddings())
    # image 0: cos to papule 0.36 + 0.64 = 1, to scale 0.64, to hair 0.8, minus reference 0.8;
    # image 1 (the reference itself): 0.8, 0.8, 1 minus 1
    assert_allclose(scores, [[0.2, -0.16, 0.0], [-0.2, -0.2, 0.0]], atol=1e-7)
    with pytest.raises(ValueError, match="L2-normalised"):
        concept_scores(x * 2, _toy_embeddings())
    with pytest.raises(ValueError, match="3 dimensions"):
        concept_scores(np.ones((1, 4)) / 2, _toy_embeddings())


def test_strength_is_the_two_way_softmax_and_one_half_at_the_threshold():
    assert_allclose(concept_strength(0.1, 0.0, 10.0), 1 / (1 + math.exp(-1)), rtol=1e-12)
    assert_allclose(concept_strength(np.array([0.3, 0.3]), np.array([0.3, 0.5]), 20.0),
                    [0.5, 1 / (1 + math.exp(4))], rtol=1e-12)
    assert concept_strength(-50.0, 0.0, 100.0) == 0.0  # no overflow warning, no NaN


def test_youden_threshold_by_hand():
    # cuts (>=): 0.9 J=1/3, 0.8 J=2/3, 0.7 J=1/3, 0.6 J=2/3, 0.5 J=1/3, 0.4 J=0; the tie goes to the
    # higher cut 0.8 and the threshold lies halfway to the next score down: 0.75.
    # AUC: positives .9, .8, .6 against negatives .7, .5, .4 win 3 + 3 + 2 of 9 pairs.
    result = youden_threshold("scale", np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), np.array([1, 1, 0, 1, 0, 0]))
    assert result.status == "estimated"
    assert result.threshold == pytest.approx(0.75)
    assert result.youden_j == pytest.approx(2 / 3)
    assert result.sensitivity == pytest.approx(2 / 3)
    assert result.specificity == 1.0
    assert result.auc == pytest.approx(8 / 9)
    assert (result.n_positive, result.n_negative) == (3, 3)


def test_youden_not_estimable_cases_say_why():
    none_pos = youden_threshold("a", np.array([0.1, 0.2]), np.array([0, 0]))
    assert (none_pos.status, none_pos.threshold, none_pos.reason) == ("not_estimable", None,
                                                                     "no positives in the labelled set")
    assert youden_threshold("a", np.array([0.1, 0.2]), np.array([1, 1])).reason == "no negatives in the labelled set"
    reversed_ = youden_threshold("a", np.array([0.1, 0.2, 0.5, 0.6]), np.array([1, 1, 0, 0]))
    assert reversed_.status == "not_estimable" and "Youden J = 0" in reversed_.reason
    assert reversed_.auc == 0.0


def test_calibration_masks_unlabelled_and_reports_every_concept():
    emb = _toy_embeddings()
    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.7, 0.3, 0.0], [0.6, 0.4, 0.0],
                       [0.5, 0.5, 0.0], [0.4, 0.6, 0.0], [0.3, 0.7, 0.0]])
    labels = {"papule": [1, 1, 0, 1, 0, 0, np.nan], "scale": [0, 0, 0, 0, 0, 0, 0]}
    calibration = calibrate_thresholds(scores, labels, embeddings=emb)
    by_code = {t.code: t for t in calibration.thresholds}
    assert by_code["papule"].threshold == pytest.approx(0.75)  # the hand-checked case above; NaN row left out
    assert by_code["papule"].n_positive + by_code["papule"].n_negative == 6
    assert by_code["scale"].reason == "no positives in the labelled set"
    assert by_code["hair"].reason == "no labels"
    assert calibration.rule == "youden_j" and calibration.n_images == 7
    json.dumps(calibration.as_dict())
    with pytest.raises(ValueError, match="not in the vocabulary"):
        calibrate_thresholds(scores, {"ulcer": [1] * 7}, embeddings=emb)
    with pytest.raises(ValueError, match="'papule': 3 labels for 7 images"):
        calibrate_thresholds(scores, {"papule": [1, 0, 1]}, embeddings=emb)
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        calibrate_thresholds(scores, {"papule": [2, 0, 1, 0, 1, 0, 1]}, embeddings=emb)


def test_case_findings_average_images_and_use_calibrated_thresholds():
    vocab = vocabulary_from_dict(SMALL)
    emb = _toy_embeddings()
    images = np.array([[0.6, 0.0, 0.8], [0.0, 0.0, 1.0]])  # papule scores 0.2 and -0.2 (hand-checked above)
    plain = case_findings(images, embeddings=emb, vocabulary=vocab, logit_scale=10.0)
    papule = plain.findings[0]
    assert papule.score == pytest.approx(0.0, abs=1e-7)  # float32 text embeddings
    assert papule.strength == pytest.approx(0.5)
    assert (papule.calibrated, papule.present, papule.threshold) == (False, None, 0.0)
    weighted = case_findings(images, embeddings=emb, vocabulary=vocab, logit_scale=10.0, image_weights=[3, 1])
    assert weighted.findings[0].score == pytest.approx(0.1)  # (3 x 0.2 - 0.2) / 4
    assert weighted.findings[0].strength == pytest.approx(1 / (1 + math.exp(-1)))

    calibration = calibrate_thresholds(np.array([[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0]]),
                                       {"papule": [0, 1, 1]}, embeddings=emb)
    assert calibration.threshold_for("papule") == pytest.approx(0.05)
    found = case_findings(images, embeddings=emb, vocabulary=vocab, logit_scale=10.0, calibration=calibration,
                          image_weights=[3, 1])
    assert found.findings[0].present is True  # 0.1 >= 0.05
    assert found.findings[0].strength == pytest.approx(1 / (1 + math.exp(-0.5)))  # 10 x (0.1 - 0.05)
    assert found.findings[1].calibrated is False
    assert [f.code for f in found.top(5)] == ["papule", "scale"]  # artefacts left out of the chips
    assert "hair" in [f.code for f in found.top(5, include_artefacts=True)]
    snapshot = json.loads(json.dumps(found.as_dict()))
    assert snapshot["findings"][0] == {"code": "papule", "name": "papule", "kind": "morphology", "score": 0.1,
                                       "strength": 0.6225, "threshold": 0.05, "calibrated": True, "present": True}
    other = vocabulary_from_dict({**SMALL, "version": "t2"})
    with pytest.raises(ValueError, match="different vocabularies"):
        case_findings(images, embeddings=emb, vocabulary=other, logit_scale=10.0)


def test_tiny_open_clip_scores_the_shipped_vocabulary(tiny_model_dir):
    spec = spec_from_folder(tiny_model_dir, name="tiny")
    model = load_model(tiny_model_dir, expected_sha256=spec.weights_sha256, device="cpu")
    vocab = load_vocabulary()
    emb = concept_embeddings(model.encode_texts, vocab)
    assert emb.concepts.shape == (len(vocab.concepts), 32)
    images = torch.stack([model.preprocess(Image.new("RGB", (64, 48), colour))
                          for colour in [(200, 120, 90), (40, 30, 20), (230, 230, 240)]])
    x = model.encode_images(images).numpy()
    scores = concept_scores(x, emb)
    # the same number computed the long way round for one concept: prompts -> text tower -> ensemble
    veil = vocab.concept("blue_white_veil")
    veil_vec = unit(unit(model.encode_texts(veil.prompts()).numpy()).sum(0))
    ref_vec = unit(unit(model.encode_texts(list(vocab.reference_prompts)).numpy()).sum(0))
    k = vocab.codes.index("blue_white_veil")
    assert_allclose(scores[:, k], x @ veil_vec - x @ ref_vec, atol=1e-5)
    assert np.ptp(scores[:, k]) > 0  # the images differ, so do their scores
    findings = case_findings(x[:1], embeddings=emb, vocabulary=vocab, logit_scale=model.logit_scale)
    assert len(findings.findings) == len(vocab.concepts)
    assert all(0 < f.strength < 1 for f in findings.findings)
    assert_allclose([f.score for f in findings.findings], scores[0], rtol=1e-12)
    assert findings.fingerprint == vocab.fingerprint and findings.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)
