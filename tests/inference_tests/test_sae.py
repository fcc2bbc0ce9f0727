"""Sparse autoencoder: recovery of planted directions, resampling, determinism, decomposition, re-scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from inference.core import maths
from inference.core.concepts import ConceptEmbeddings, vocabulary_from_dict
from inference.core.sae import (
    SAEArtefact,
    SAEConfig,
    _forward,
    _resample,
    load_sae,
    planted_embeddings,
    save_sae,
    train_sae,
)
from inference.core.sae_explain import (
    artefact_latents,
    artefact_robust_logits,
    decompose_logit,
    name_latents,
    top_activating,
)

# Small enough for a few seconds on two cores; 64 planted directions, 3 per embedding.
PLANTED = dict(n=6000, dim=32, n_features=64, active=3, seed=1)
RECOVERY = SAEConfig(expansion=4, l1_coefficient=0.1, steps=1500, batch_size=256, learning_rate=3e-3,
                     resample_every=250, resample_window=200, seed=0)


@pytest.fixture(scope="module")
def planted():
    return planted_embeddings(**PLANTED)


@pytest.fixture(scope="module")
def trained(planted):
    return train_sae(planted.embeddings, config=RECOVERY, device="cpu")


def make_artefact(w_enc, b_enc, w_dec, b_dec, frequency=None) -> SAEArtefact:
    weights = {"W_enc": np.asarray(w_enc, np.float32), "b_enc": np.asarray(b_enc, np.float32),
               "W_dec": np.asarray(w_dec, np.float32), "b_dec": np.asarray(b_dec, np.float32)}
    n_latents = weights["W_dec"].shape[1]
    frequency = np.full(n_latents, 0.5) if frequency is None else np.asarray(frequency, np.float64)
    return SAEArtefact(config=SAEConfig(), weights=weights, n_train=1, input_scale=1.0, fvu=0.0, mean_l0=0.0,
                       dead_fraction=0.0, steps=0, firing_frequency=frequency)


def test_recovers_planted_sparse_directions(planted, trained):
    cosine = planted.directions @ trained.weights["W_dec"]  # [F, L]; both sides unit norm
    recovered = cosine.max(axis=1) > 0.9
    assert recovered.mean() >= 0.9, f"{recovered.sum()} of {len(recovered)} planted directions recovered"
    assert trained.fvu < 0.15
    assert 2.0 <= trained.mean_l0 <= 20.0  # 3 planted per input; a few extra small activations at most
    assert_allclose(np.linalg.norm(trained.weights["W_dec"], axis=0), 1.0, atol=1e-5)
    assert trained.n_latents == 128 and trained.input_dim == 32 and trained.steps == 1500


def test_artefact_is_in_embedding_units(planted, trained):
    """The variance scaling is folded back: the artefact's own encode/decode give the reported FVU."""
    x = planted.embeddings.astype(np.float64)
    f = trained.encode(x)
    x_hat = trained.decode(f)
    fvu = ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert fvu == pytest.approx(trained.fvu, rel=1e-3)
    assert (f > 0).sum(axis=1).mean() == pytest.approx(trained.mean_l0, rel=1e-3)
    assert_allclose((f > 0).mean(axis=0), trained.firing_frequency, atol=1e-3)


def test_training_is_deterministic_on_cpu(planted):
    config = SAEConfig(expansion=2, steps=60, batch_size=128, resample_every=20, resample_window=10, seed=3)
    first = train_sae(planted.embeddings, config=config, device="cpu")
    second = train_sae(planted.embeddings, config=config, device="cpu")
    other = train_sae(planted.embeddings, config=SAEConfig(**{**config.as_dict(), "seed": 4}), device="cpu")
    for name in first.weights:
        assert np.array_equal(first.weights[name], second.weights[name]), name
    assert not np.array_equal(first.weights["W_dec"], other.weights["W_dec"])
    assert first.fvu == second.fvu and first.resamples == second.resamples


def _dead_start(planted, dead: int) -> dict[str, np.ndarray]:
    """Weights where the first `dead` latents can never fire (bias -100 on unit-norm inputs)."""
    rng = np.random.default_rng(0)
    w_dec = rng.standard_normal((32, 64))
    w_dec /= np.linalg.norm(w_dec, axis=0)
    b_enc = np.zeros(64)
    b_enc[:dead] = -100.0
    return {"W_enc": w_dec.copy(), "b_enc": b_enc, "W_dec": w_dec, "b_dec": planted.embeddings.mean(0)}


def test_resampling_revives_planted_dead_latents(planted):
    start = _dead_start(planted, dead=16)
    config = SAEConfig(expansion=2, l1_coefficient=0.1, steps=400, batch_size=256, resample_every=100,
                       resample_window=50, seed=0)
    revived = train_sae(planted.embeddings, config=config, device="cpu", initial=start)
    assert revived.resamples[0][0] == 100 and revived.resamples[0][1] >= 16
    assert (revived.firing_frequency[:16] > 0).all()
    no_resampling = SAEConfig(**{**config.as_dict(), "resample_every": 0})
    stuck = train_sae(planted.embeddings, config=no_resampling, device="cpu", initial=start)
    assert stuck.resamples == ()
    assert (stuck.firing_frequency[:16] == 0).all()
    assert stuck.dead_fraction >= 16 / 64


def test_resample_points_dead_latents_at_the_worst_reconstructed_inputs():
    # All latents dead, so x_hat = b_dec = 0; only inputs 10, 11, 12 have a non-zero loss, hence
    # they are the only candidates, and three dead latents take one each.
    x = torch.zeros(20, 4)
    x[10], x[11], x[12] = torch.tensor([3.0, 0, 0, 0]), torch.tensor([0, 2.0, 0, 0]), torch.tensor([0, 0, 0, 1.0])
    p = {"W_enc": torch.nn.Parameter(torch.eye(4, 6)), "b_enc": torch.nn.Parameter(torch.full((6,), -50.0)),
         "W_dec": torch.nn.Parameter(torch.eye(4, 6)), "b_dec": torch.nn.Parameter(torch.zeros(4))}
    p["b_enc"].data[3:] = 0.0  # latents 3..5 count as alive; their encoder columns have norms 1, 0, 0
    optimiser = torch.optim.Adam([p["W_enc"], p["W_dec"], p["b_enc"]], lr=1e-3)
    f, x_hat = _forward(p, x)
    (x_hat.sum() + f.sum()).backward()
    optimiser.step()
    for state in optimiser.state.values():  # stale moments everywhere, so that the reset shows
        state["exp_avg"].fill_(1.0)
        state["exp_avg_sq"].fill_(1.0)
    dead = torch.tensor([True, True, True, False, False, False])
    count = _resample(p, optimiser, x, dead, torch.Generator().manual_seed(0), SAEConfig(loss_sample=20))
    assert count == 3
    columns = {tuple(p["W_dec"].data[:, j].tolist()) for j in range(3)}
    assert columns == {(1.0, 0, 0, 0), (0, 1.0, 0, 0), (0, 0, 0, 1.0)}
    alive_norm = p["W_enc"].data[:, 3:].norm(dim=0).mean().item()  # about (1 + 0 + 0) / 3
    assert alive_norm == pytest.approx(1 / 3, abs=1e-2)
    assert_allclose(p["W_enc"].data[:, :3].norm(dim=0).numpy(), 0.2 * alive_norm, rtol=1e-6)
    assert (p["b_enc"].data[:3] == 0).all()
    assert (optimiser.state[p["W_enc"]]["exp_avg"][:, :3] == 0).all()
    assert (optimiser.state[p["W_dec"]]["exp_avg_sq"][:, :3] == 0).all()
    assert (optimiser.state[p["W_enc"]]["exp_avg"][:, 3:] == 1).all()  # live latents keep theirs
    assert (optimiser.state[p["b_enc"]]["exp_avg"][:3] == 0).all()


def test_save_and_load_round_trip(trained, tmp_path):
    path = save_sae(trained, tmp_path / "sae.safetensors")
    loaded = load_sae(path)
    for name in trained.weights:
        assert np.array_equal(loaded.weights[name], trained.weights[name])
    assert np.array_equal(loaded.firing_frequency, trained.firing_frequency)
    assert loaded.as_dict() == trained.as_dict()
    assert json.loads(json.dumps(trained.as_dict()))["config"]["expansion"] == 4


def test_logit_decomposition_adds_up_exactly(planted, trained):
    rng = np.random.default_rng(5)
    t = rng.standard_normal(32)
    x = planted.embeddings[:3]
    single = decompose_logit(trained, x[0], t, logit_scale=100.0, class_code="MEL")
    expected = maths.image_logits(x[:1], t[None] / np.linalg.norm(t), 100.0)[0, 0]
    assert single.logit == pytest.approx(expected, rel=1e-12)
    total = sum(c.contribution for c in single.contributions) + single.residual
    assert total == pytest.approx(single.logit, rel=1e-12, abs=1e-12)
    # one contribution by hand: scale x activation x <decoder column, t> / ||t||
    top = single.contributions[0]
    d_j = trained.weights["W_dec"][:, top.latent].astype(np.float64)
    assert top.contribution == pytest.approx(100.0 * top.activation * d_j @ t / np.linalg.norm(t), rel=1e-12)
    assert top.activation == pytest.approx(trained.encode(x[:1])[0, top.latent], rel=1e-12)
    assert [c.contribution for c in single.contributions] == sorted((c.contribution for c in single.contributions),
                                                                   reverse=True)
    # several images, weighted like a role fusion: the weighted mean of the per-image logits
    case = decompose_logit(trained, x, t, logit_scale=100.0, image_weights=[2, 1, 1])
    per_image = maths.image_logits(x, t[None] / np.linalg.norm(t), 100.0)[:, 0]
    assert case.logit == pytest.approx((2 * per_image[0] + per_image[1] + per_image[2]) / 4, rel=1e-12)
    assert sum(c.contribution for c in case.contributions) + case.bias + case.error == pytest.approx(case.logit,
                                                                                                    rel=1e-12)
    assert case.as_dict(k=3)["n_active"] == len(case.contributions)


SMALL_VOCAB = {
    "name": "t", "version": "t1", "templates": {"morphology": ["{}"], "artefact": ["{}"]},
    "reference_prompts": ["skin"],
    "concepts": [{"code": "scale", "name": "scale", "kind": "morphology"},
                 {"code": "crust", "name": "crust", "kind": "morphology"},
                 {"code": "hair", "name": "hair", "kind": "artefact"}],
}


def _toy_concepts():
    vocab = vocabulary_from_dict(SMALL_VOCAB)
    text = np.eye(4, dtype=np.float32)[:3]  # scale = e0, crust = e1, hair = e2
    return vocab, ConceptEmbeddings("t1", vocab.fingerprint, vocab.codes, text, np.eye(4, dtype=np.float32)[3])


def test_latents_are_named_by_their_closest_concept_and_artefacts_found():
    vocab, emb = _toy_concepts()
    w_dec = np.array([[0.0, 0.8, 1.0, 0.0], [0.0, 0.6, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    artefact = make_artefact(w_dec, np.zeros(4), w_dec, np.zeros(4), frequency=[0.1, 0.2, 0.0, 0.3])
    names = name_latents(artefact, embeddings=emb, vocabulary=vocab)
    assert [n.latent for n in names] == [0, 1, 3]  # latent 2 never fired
    assert (names[0].code, names[0].kind, names[0].cosine) == ("hair", "artefact", pytest.approx(1.0))
    assert (names[1].code, names[1].runner_up) == ("scale", "crust")
    assert names[1].cosine == pytest.approx(0.8) and names[1].margin == pytest.approx(0.2)
    assert names[2].cosine == pytest.approx(0.0)  # orthogonal to every concept: named, with cosine 0 to show it
    assert artefact_latents(names) == (0,)


def test_artefact_robust_rescore_by_hand():
    # Two orthonormal latents, hair = e0 and lesion = e1, tied encoder, no biases. x = 0.6 e0 + 0.8 e1
    # activates them 0.6 and 0.8; dropping the hair latent leaves 0.8 e1, renormalised to e1.
    w = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    artefact = make_artefact(w, np.zeros(2), w, np.zeros(3))
    x = np.array([[0.6, 0.8, 0.0]])
    classes = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.8]])
    plain = artefact_robust_logits(artefact, x, classes, logit_scale=10.0, drop=())
    assert_allclose(plain.logits, maths.image_logits(x, classes, 10.0), rtol=1e-12)
    robust = artefact_robust_logits(artefact, x, classes, logit_scale=10.0, drop=[0])
    assert_allclose(robust.logits, [[0.0, 10.0, 6.0]], atol=1e-12)
    assert robust.dropped == (0,) and robust.removed_share[0] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="must lie in"):
        artefact_robust_logits(artefact, x, classes, logit_scale=10.0, drop=[2])


def test_robust_rescore_keeps_plain_logits_when_nothing_is_dropped(planted, trained):
    classes = np.random.default_rng(2).standard_normal((5, 32))
    classes /= np.linalg.norm(classes, axis=1, keepdims=True)
    x = planted.embeddings[:50].astype(np.float64)
    plain = artefact_robust_logits(trained, x, classes, logit_scale=50.0, drop=())
    assert_allclose(plain.logits, maths.image_logits(x, classes, 50.0), rtol=1e-10)
    dropped = artefact_robust_logits(trained, x, classes, logit_scale=50.0, drop=[0, 1, 2])
    assert not np.allclose(dropped.logits, plain.logits)


def test_top_activating_images_per_latent():
    w = np.eye(3)[:, :2]  # latents read dimensions 0 and 1
    artefact = make_artefact(w, np.zeros(2), w, np.zeros(3))
    x = np.array([[0.1, 0.0, 1.0], [0.9, 0.0, 0.1], [0.5, 0.2, 0.0], [0.0, 0.0, 1.0]])
    rows, values = top_activating(artefact, x, k=3)
    assert rows.tolist() == [[1, 2, 0], [2, -1, -1]]  # latent 1 fires on image 2 only
    assert_allclose(values, [[0.9, 0.5, 0.1], [0.2, 0.0, 0.0]], rtol=1e-6)
    rows, _ = top_activating(artefact, x[:2], k=3)  # fewer images than k: padded
    assert rows.tolist() == [[1, 0, -1], [-1, -1, -1]]


def test_config_and_input_checks():
    with pytest.raises(ValueError, match="expansion"):
        SAEConfig(expansion=0)
    with pytest.raises(ValueError, match="resample_until"):
        SAEConfig(resample_until=1.5)
    with pytest.raises(ValueError, match="NaN"):
        train_sae(np.full((4, 3), np.nan), config=SAEConfig(steps=1))
    with pytest.raises(ValueError, match="identical"):
        train_sae(np.ones((4, 3)), config=SAEConfig(steps=1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_training_matches_cpu_quality(planted, trained):
    gpu = train_sae(planted.embeddings, config=RECOVERY, device="cuda")
    assert gpu.device.startswith("cuda")
    assert gpu.fvu == pytest.approx(trained.fvu, abs=0.03)
    recovered = (planted.directions @ gpu.weights["W_dec"]).max(axis=1) > 0.9
    assert recovered.mean() >= 0.9
