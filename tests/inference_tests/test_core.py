"""The plain-torch core: loading, safety, zero-shot, fusion, temperature, calibration, simulation, metrics."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from PIL import Image
from scipy.stats import binomtest

from inference.core import maths
from inference.core.calibration import expected_calibration_error, fit_temperature, nll
from inference.core.checkpoint import ChecksumMismatch, UnsafeCheckpoint, sha256_file
from inference.core.evaluation import auc, evaluate
from inference.core.factory import load_model
from inference.core.registry import DEFAULT_TEMPLATES, spec_from_folder
from inference.core.simulated import SimulatedAssistant
from inference.core.testing import minilm_path
from inference.core.zeroshot import ClassNames, class_embeddings, class_prompts

CLASSES = [ClassNames("MEL", ("melanoma", "malignant melanoma")), ClassNames("NEV", ("naevus", "mole")),
           ClassNames("PSO", ("psoriasis",))]


def test_tiny_model_loads_by_path_and_classifies_generated_images(tiny_model_dir):
    spec = spec_from_folder(tiny_model_dir, name="tiny")
    model = load_model(tiny_model_dir, expected_sha256=spec.weights_sha256, device="cpu")
    classes = class_embeddings(model.encode_texts, CLASSES, DEFAULT_TEMPLATES).numpy()
    images = torch.stack([model.preprocess(Image.new("RGB", (80, 60), colour))
                          for colour in [(200, 120, 90), (40, 30, 20)]])
    embeddings = model.encode_images(images).numpy()
    probs = maths.softmax(maths.image_logits(embeddings, classes, model.logit_scale))
    assert probs.shape == (2, 3)
    assert_allclose(probs.sum(axis=1), 1.0)
    assert_allclose(np.linalg.norm(classes, axis=1), 1.0, rtol=1e-5)
    assert spec.architecture.startswith("ViT w32")


def test_hf_text_tower_loads_offline_with_real_minilm_weights(hf_model_dir):
    from open_clip.tokenizer import HFTokenizer
    from safetensors.torch import load_file

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    spec = spec_from_folder(hf_model_dir, name="tiny-hf")
    model = load_model(hf_model_dir, expected_sha256=spec.weights_sha256, device="cpu")
    assert isinstance(model.tokenize, HFTokenizer)
    minilm = load_file(str(minilm_path() / "model.safetensors"))
    ours = model.model.text.transformer.embeddings.word_embeddings.weight
    key = next(k for k in minilm if k.endswith("word_embeddings.weight"))
    assert torch.equal(ours, minilm[key])
    vectors = class_embeddings(model.encode_texts, CLASSES, DEFAULT_TEMPLATES)
    assert vectors.shape == (3, 32)
    assert spec.architecture.endswith("hf:all-MiniLM-L6-v2")


def test_checksum_mismatch_is_refused(tiny_model_dir, tmp_path):
    with pytest.raises(ChecksumMismatch):
        load_model(tiny_model_dir, expected_sha256="0" * 64, device="cpu")
    tampered = shutil.copytree(tiny_model_dir, tmp_path / "tampered")
    good = sha256_file(tampered / "open_clip_model.safetensors")
    with open(tampered / "open_clip_model.safetensors", "r+b") as handle:
        handle.seek(-4, os.SEEK_END)
        handle.write(b"\x00\x00\x80\x3f")
    with pytest.raises(ChecksumMismatch):
        load_model(tampered, expected_sha256=good, device="cpu")


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_unsafe_pickle_is_refused_and_never_runs(tiny_model_dir, tmp_path):
    folder = tmp_path / "evil"
    folder.mkdir()
    shutil.copy(tiny_model_dir / "open_clip_config.json", folder)
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"visual.proj": torch.zeros(1)}, "payload": _Exploit(marker)},
               folder / "open_clip_pytorch_model.bin")
    with pytest.raises(UnsafeCheckpoint):
        load_model(folder, expected_sha256=sha256_file(folder / "open_clip_pytorch_model.bin"), device="cpu")
    assert not marker.exists()


def test_plain_torch_bin_weights_load(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    folder = tmp_path / "bin"
    folder.mkdir()
    shutil.copy(tiny_model_dir / "open_clip_config.json", folder)
    torch.save(load_file(str(tiny_model_dir / "open_clip_model.safetensors")), folder / "open_clip_pytorch_model.bin")
    model = load_model(folder, expected_sha256=sha256_file(folder / "open_clip_pytorch_model.bin"), device="cpu")
    assert model.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)


def test_prompt_ensemble_fills_templates_and_drops_duplicates():
    assert class_prompts(["mole", "Mole ", "mole"], ["a photo of {}.", "{}"]) == [
        "a photo of mole.", "mole", "a photo of Mole.", "Mole"]
    calls = []

    def fake_encode(texts):
        calls.append(list(texts))
        return torch.tensor([[1.0, 0.0] if "melanoma" in t else [0.0, 1.0] for t in texts])

    vectors = class_embeddings(fake_encode, [ClassNames("A", ("melanoma",)), ClassNames("B", ("naevus",))], ["{}", "x {}"])
    assert_allclose(vectors.numpy(), [[1, 0], [0, 1]])
    assert calls == [["melanoma", "x melanoma", "naevus", "x naevus"]]


def test_fusion_and_temperature_against_hand_computed_values():
    clinical = np.array([[2.0, 0.0, -1.0], [4.0, 2.0, 1.0]])  # two clinical images: mean [3, 1, 0]
    dermoscopic = np.array([0.0, 3.0, 0.0])
    fused = maths.fuse_logits({"clinical": clinical, "dermoscopic": dermoscopic}, {"clinical": 2.0, "dermoscopic": 1.0})
    # (2 * [3, 1, 0] + 1 * [0, 3, 0]) / 3 = [2, 5/3, 0]
    assert_allclose(fused, [2.0, 5 / 3, 0.0])
    # A single role is returned unchanged whatever its weight.
    assert_allclose(maths.fuse_logits({"dermoscopic": dermoscopic}, {"dermoscopic": 0.3}), dermoscopic)
    # softmax([2, 0] / T=2) = [e^1, e^0] / (e + 1)
    assert_allclose(maths.softmax(np.array([2.0, 0.0]), 2.0), [np.e / (np.e + 1), 1 / (np.e + 1)])
    assert_allclose(maths.softmax(np.array([1000.0, 0.0])), [1.0, 0.0])
    # CLIP logits: scale x cosine; orthogonal unit vectors give 0, identical give the scale.
    assert_allclose(maths.image_logits(np.eye(2), np.eye(2), 100.0), [[100.0, 0.0], [0.0, 100.0]])
    with pytest.raises(ValueError):
        maths.softmax(np.zeros(2), 0.0)


def test_calibration_lowers_nll_and_ece_on_an_overconfident_set():
    rng = np.random.default_rng(1)
    n, c = 2000, 5
    labels = rng.integers(0, c, n)
    # The arg-max is right 60 % of the time but the logits are scaled as if it always were.
    predicted = np.where(rng.random(n) < 0.6, labels, rng.integers(0, c, n))
    logits = rng.normal(0, 1, (n, c))
    logits[np.arange(n), predicted] += 3
    logits *= 4
    result = fit_temperature(logits, labels)
    assert result.temperature > 1.5
    assert result.nll_after < result.nll_before
    assert result.ece_after < result.ece_before / 2
    assert result.nll_after == pytest.approx(nll(logits, labels, result.temperature))
    # A finer grid cannot beat the fitted temperature.
    grid = np.linspace(result.temperature * 0.8, result.temperature * 1.2, 41)
    assert min(nll(logits, labels, t) for t in grid) >= result.nll_after - 1e-9


def test_ece_hand_computed():
    # Two bins: confidence 0.9 (right, wrong) and 0.6 (right): |0.5-0.9| * 2/3 + |1-0.6| * 1/3
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4]])
    assert expected_calibration_error(probs, [0, 1, 0], n_bins=10) == pytest.approx(0.4 * 2 / 3 + 0.4 / 3)


CODES = [f"C{i}" for i in range(20)]


def test_simulated_assistant_hits_its_accuracy_within_sampling_error():
    assistant = SimulatedAssistant(accuracy=0.7, seed=3)
    n = 3000
    hits = 0
    for i in range(n):
        truth = CODES[i % len(CODES)]
        prediction = assistant.predict(f"case-{i}", truth, CODES)
        assert prediction.top(1)[0][0] == truth or not prediction.details["correct"]
        assert_allclose(sum(prediction.probabilities), 1.0)
        top = prediction.top(2)
        assert top[0][1] > top[1][1]
        hits += prediction.top(1)[0][0] == truth
    ci = binomtest(hits, n).proportion_ci(0.999)
    assert ci.low <= 0.7 <= ci.high, (hits / n, ci)


def test_simulated_faulty_mode_is_wrong_at_its_rate_and_seeded_per_case():
    assistant = SimulatedAssistant(accuracy=0.9, faulty_rate=0.2, seed=1)
    n = 3000
    faulty = correct = 0
    for i in range(n):
        truth = CODES[i % len(CODES)]
        prediction = assistant.predict(f"k{i}", truth, CODES)
        if prediction.details["faulty"]:
            faulty += 1
            assert prediction.top(1)[0][0] != truth
        correct += prediction.top(1)[0][0] == truth
    assert binomtest(faulty, n).proportion_ci(0.999).low <= 0.2 <= binomtest(faulty, n).proportion_ci(0.999).high
    expected = 0.8 * 0.9
    ci = binomtest(correct, n).proportion_ci(0.999)
    assert ci.low <= expected <= ci.high
    assert assistant.predict("k7", "C3", CODES) == assistant.predict("k7", "C3", CODES)
    assert SimulatedAssistant(0.9, 0.2, seed=2).predict("k7", "C3", CODES) != assistant.predict("k7", "C3", CODES)


def test_auc_and_evaluation_against_hand_values():
    # 2 positives (0.8, 0.4), 2 negatives (0.5, 0.1): pairs won 3 of 4 -> AUC 0.75
    assert auc(np.array([0.8, 0.4, 0.5, 0.1]), np.array([1, 1, 0, 0])) == pytest.approx(0.75)
    assert auc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    labels = [0, 1, 1, 2]
    result = evaluate(probs, labels, ["MEL", "NEV", "PSO"], [True, False, False], n_bootstrap=200, seed=0)
    assert result.top1.value == pytest.approx(0.75)
    assert result.top3.value == pytest.approx(1.0)
    assert result.per_class_recall["NEV"].value == pytest.approx(0.5)
    assert result.malignant_auc.value == pytest.approx(1.0)
    assert result.top1.ci_low <= 0.75 <= result.top1.ci_high


def test_threaded_uint8_pipeline_matches_open_clip_preprocess(tiny_model_dir, tmp_path):
    """Decode threads stop after resize/crop; normalising the batch later gives open_clip's exact input."""
    import hashlib

    from inference.core.images import ImageItem, iter_decoded_batches

    spec = spec_from_folder(tiny_model_dir, name="tiny")
    model = load_model(tiny_model_dir, expected_sha256=spec.weights_sha256, device="cpu")
    items = []
    for i, size in enumerate([(50, 40), (40, 90), (33, 33)]):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        items.append(ImageItem(hashlib.sha256(path.read_bytes()).hexdigest(), path))
    (batch,) = list(iter_decoded_batches(items, pil_transform=model.pil_transform, image_size=model.image_size,
                                         batch_size=8, workers=2))
    assert batch.pixels.dtype == torch.uint8 and not batch.errors
    reference = torch.stack([model.preprocess(Image.open(item.path)) for item in items])
    assert_allclose(model.encode_uint8(batch.pixels).numpy(), model.encode_images(reference).numpy(), atol=1e-5)
