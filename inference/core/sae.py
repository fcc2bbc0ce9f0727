"""A sparse autoencoder on image embeddings: learned concepts for the "learned concepts" display.

f = ReLU((x - b_dec) W_enc + b_enc), x_hat = f W_dec^T + b_dec, with W_dec's columns (one per latent)
kept at unit norm by renormalising after every optimiser step, so the L1 penalty on f cannot be
dodged by shrinking f and growing W_dec (Bricken et al. 2023, "Towards Monosemanticity").
Loss = mean ||x - x_hat||^2 + l1_coefficient x mean ||f||_1, Adam.

Inputs are scaled by one number so that their mean squared distance from their mean is 1; the L1
coefficient is therefore in units of the data's variance and one setting carries across models
(whose embeddings spread differently). The scale is folded back into b_enc and b_dec at the end,
so the artefact's activations and reconstructions are in the embeddings' own units.

Dead latents are resampled (same paper): every `resample_every` steps up to `resample_until` of the
run, each latent that has not fired for `resample_window` steps gets a new decoder column pointing
at a training input drawn with probability proportional to its squared reconstruction loss (an
input the dictionary explains badly), an encoder row along it scaled to 0.2 x the mean norm of the
live encoder rows, a zero bias, and fresh Adam moments.

All randomness comes from one seeded CPU generator, so a run is bit-for-bit repeatable on the CPU
and starts from the same initialisation on a GPU.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .runtime import resolve_device

FORMAT = "readerstudy-sae/1"
WEIGHT_NAMES = ("W_enc", "b_enc", "W_dec", "b_dec")
EVAL_CHUNK = 8192


@dataclass(frozen=True)
class SAEConfig:
    # Defaults from bench/sae.py: on 50,000 x 512 planted embeddings they recover every planted
    # direction within the CPU time target; small batches learn more per second than large ones here.
    expansion: int = 8  # latents = expansion x embedding dimensions
    l1_coefficient: float = 0.1  # in units of the data's variance (see the module docstring)
    steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 3e-3
    resample_every: int = 500  # 0 turns resampling off
    resample_window: int = 400  # a latent silent for this many steps counts as dead
    resample_until: float = 0.75  # share of the run after which no more resampling, so revived latents settle
    resample_scale: float = 0.2
    loss_sample: int = 8192  # inputs scored to choose resampling targets
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("expansion", "steps", "batch_size", "loss_sample", "resample_window")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"SAEConfig.{name} must be at least 1")
        if self.l1_coefficient < 0 or self.learning_rate <= 0 or self.resample_every < 0:
            raise ValueError("SAEConfig: l1_coefficient >= 0, learning_rate > 0, resample_every >= 0")
        if not 0 <= self.resample_until <= 1:
            raise ValueError("SAEConfig.resample_until must lie in [0, 1]")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SAEArtefact:
    """A trained autoencoder with the figures that say how good it is; weights in embedding units."""

    config: SAEConfig
    weights: Mapping[str, np.ndarray]  # W_enc [D, L], b_enc [L], W_dec [D, L] unit columns, b_dec [D]; float32
    n_train: int
    input_scale: float
    fvu: float  # fraction of variance unexplained on the training set: SSE / sum ||x - mean||^2
    mean_l0: float  # mean number of latents firing per input
    dead_fraction: float  # share of latents that fire on no training input
    steps: int
    firing_frequency: np.ndarray  # [L] share of training inputs each latent fires on
    resamples: tuple[tuple[int, int], ...] = ()  # (step, latents resampled)
    device: str = "cpu"
    seconds: float = 0.0

    @property
    def input_dim(self) -> int:
        return int(self.weights["W_dec"].shape[0])

    @property
    def n_latents(self) -> int:
        return int(self.weights["W_dec"].shape[1])

    @property
    def live(self) -> np.ndarray:
        return self.firing_frequency > 0

    def encode(self, x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """[N, L] activations; float64 by default so that logit decompositions add up exactly."""
        x = np.atleast_2d(np.asarray(x, dtype))
        w = {k: v.astype(dtype) for k, v in self.weights.items()}
        return np.maximum((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"], 0)

    def decode(self, f: np.ndarray) -> np.ndarray:
        f = np.atleast_2d(np.asarray(f, np.float64))
        return f @ self.weights["W_dec"].astype(np.float64).T + self.weights["b_dec"].astype(np.float64)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.weights.items()}

    def as_dict(self) -> dict[str, Any]:
        """Everything but the weights, for JSON snapshots and the artefact's metadata."""
        return {"format": FORMAT, "config": self.config.as_dict(), "input_dim": self.input_dim,
                "n_latents": self.n_latents, "n_train": self.n_train, "input_scale": self.input_scale,
                "fvu": self.fvu, "mean_l0": self.mean_l0, "dead_fraction": self.dead_fraction,
                "live_latents": int(self.live.sum()), "steps": self.steps,
                "resamples": [list(r) for r in self.resamples], "device": self.device, "seconds": self.seconds}


def _as_training_tensor(embeddings: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(embeddings, np.float32))
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"embeddings must be [N >= 2, D], got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinity")
    return x


def _initial_params(d: int, n_latents: int, mean: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random unit decoder columns, the encoder tied to them, b_dec at the data mean."""
    w_dec = torch.randn(d, n_latents, generator=generator)
    w_dec /= w_dec.norm(dim=0, keepdim=True)
    return {"W_enc": w_dec.clone(), "b_enc": torch.zeros(n_latents), "W_dec": w_dec, "b_dec": mean.clone()}


def _scaled_initial(initial: Mapping[str, np.ndarray], scale: float, d: int, n_latents: int) -> dict[str, torch.Tensor]:
    """A warm start given in embedding units, moved into the scaled training units."""
    params = {k: torch.as_tensor(np.asarray(initial[k], np.float32)).clone() for k in WEIGHT_NAMES}
    shapes = {"W_enc": (d, n_latents), "b_enc": (n_latents,), "W_dec": (d, n_latents), "b_dec": (d,)}
    for name, shape in shapes.items():
        if tuple(params[name].shape) != shape:
            raise ValueError(f"initial {name} has shape {tuple(params[name].shape)}, expected {shape}")
    params["W_dec"] /= params["W_dec"].norm(dim=0, keepdim=True).clamp_min(1e-12)
    params["b_enc"] *= scale
    params["b_dec"] *= scale
    return params


def _forward(p: Mapping[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # x W_enc + (b_enc - b_dec W_enc) rather than (x - b_dec) W_enc + b_enc: the same value, but
    # autograd then takes b_dec's encoder gradient through a [D] x [D, L] product instead of a
    # [B, L] x [L, D] one, and never builds x - b_dec (about 25 % less time per step on the CPU).
    f = torch.relu(torch.addmm(p["b_enc"] - p["b_dec"] @ p["W_enc"], x, p["W_enc"]))
    return f, torch.addmm(p["b_dec"], f, p["W_dec"].T)


def _resample(p: Mapping[str, torch.nn.Parameter], optimiser: torch.optim.Optimizer, x: torch.Tensor,
              dead: torch.Tensor, generator: torch.Generator, config: SAEConfig) -> int:
    """Point dead latents at badly reconstructed inputs; returns how many were resampled."""
    dead_idx = dead.nonzero().flatten()
    if len(dead_idx) == 0:
        return 0
    sample = torch.randperm(x.shape[0], generator=generator)[: config.loss_sample].to(x.device)
    with torch.no_grad():
        xb = x[sample]
        loss = (xb - _forward(p, xb)[1]).pow(2).sum(dim=1)
        weights = loss.double().pow(2).cpu()
        if not weights.sum() > 0:
            return 0
        replace = len(dead_idx) > int((weights > 0).sum())
        chosen = torch.multinomial(weights, len(dead_idx), replacement=replace, generator=generator).to(x.device)
        directions = xb[chosen] - p["b_dec"]
        directions /= directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
        alive = ~dead
        enc_norm = p["W_enc"][:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0, device=x.device)
        p["W_dec"][:, dead_idx] = directions.T
        p["W_enc"][:, dead_idx] = directions.T * (config.resample_scale * enc_norm)
        p["b_enc"][dead_idx] = 0.0
        for name in ("W_enc", "W_dec", "b_enc"):
            state = optimiser.state.get(p[name], {})
            for moment in ("exp_avg", "exp_avg_sq"):
                if moment in state:
                    state[moment][..., dead_idx] = 0.0
    return len(dead_idx)


def _evaluate(p: Mapping[str, torch.Tensor], x: torch.Tensor) -> tuple[float, float, np.ndarray]:
    """(FVU, mean L0, per-latent firing frequency) over all of x, in chunks."""
    sse = 0.0
    active = 0.0
    fired = torch.zeros(p["W_dec"].shape[1], dtype=torch.float64, device=x.device)
    mean = x.mean(dim=0)
    sst = float((x - mean).pow(2).sum(dtype=torch.float64))
    with torch.no_grad():
        for start in range(0, x.shape[0], EVAL_CHUNK):
            xb = x[start: start + EVAL_CHUNK]
            f, x_hat = _forward(p, xb)
            sse += float((xb - x_hat).pow(2).sum(dtype=torch.float64))
            on = f > 0
            active += float(on.sum(dtype=torch.float64))
            fired += on.sum(dim=0, dtype=torch.float64)
    n = x.shape[0]
    return sse / sst, active / n, (fired / n).cpu().numpy()


def train_sae(
    embeddings: np.ndarray | torch.Tensor,
    *,
    config: SAEConfig = SAEConfig(),
    device: str = "auto",
    initial: Mapping[str, np.ndarray] | None = None,
) -> SAEArtefact:
    """Train on [N, D] embeddings; `initial` warm-starts from weights in embedding units."""
    started = time.perf_counter()
    x = _as_training_tensor(embeddings)
    n, d = x.shape
    n_latents = config.expansion * d
    generator = torch.Generator().manual_seed(config.seed)
    mean = x.mean(dim=0)
    spread = float((x - mean).pow(2).sum(dim=1).mean())
    if spread <= 0:
        raise ValueError("all embeddings are identical: nothing to learn")
    scale = spread ** -0.5
    target = resolve_device(device)
    init = (_initial_params(d, n_latents, mean * scale, generator) if initial is None
            else _scaled_initial(initial, scale, d, n_latents))
    params = {k: torch.nn.Parameter(v.to(target)) for k, v in init.items()}
    optimiser = torch.optim.Adam(params.values(), lr=config.learning_rate)
    xs = (x * scale).to(target)
    last_fired = torch.zeros(n_latents, dtype=torch.long, device=target)
    resamples: list[tuple[int, int]] = []
    order = torch.randperm(n, generator=generator)
    cursor = 0
    batch = min(config.batch_size, n)
    for step in range(1, config.steps + 1):
        if cursor + batch > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        xb = xs[order[cursor: cursor + batch].to(target)]
        cursor += batch
        f, x_hat = _forward(params, xb)
        loss = (xb - x_hat).pow(2).sum(dim=1).mean() + config.l1_coefficient * f.sum(dim=1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            params["W_dec"] /= params["W_dec"].norm(dim=0, keepdim=True).clamp_min(1e-12)
            last_fired[(f > 0).any(dim=0)] = step
        if config.resample_every and step % config.resample_every == 0 and step <= config.resample_until * config.steps:
            dead = (step - last_fired) >= config.resample_window
            count = _resample(params, optimiser, xs, dead, generator, config)
            if count:
                resamples.append((step, count))
                last_fired[dead] = step  # a fresh window to prove themselves
    fvu, mean_l0, frequency = _evaluate(params, xs)
    final = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in params.items()}
    final["b_enc"] /= scale  # back to embedding units: f = ReLU((x - b_dec) W_enc + b_enc) x (1 / scale)
    final["b_dec"] /= scale
    return SAEArtefact(
        config=config, weights=final, n_train=int(n), input_scale=float(scale), fvu=float(fvu),
        mean_l0=float(mean_l0), dead_fraction=float((frequency == 0).mean()), steps=config.steps,
        firing_frequency=frequency, resamples=tuple(resamples), device=str(target),
        seconds=time.perf_counter() - started,
    )


def save_sae(artefact: SAEArtefact, path: Path | str) -> Path:
    """One safetensors file: the weights and firing frequencies, the metadata as JSON in its header."""
    from safetensors.numpy import save_file

    tensors = {**{k: np.ascontiguousarray(v) for k, v in artefact.weights.items()},
               "firing_frequency": np.ascontiguousarray(artefact.firing_frequency)}
    path = Path(path)
    save_file(tensors, str(path), metadata={"format": FORMAT, "artefact": json.dumps(artefact.as_dict())})
    return path


def load_sae(path: Path | str) -> SAEArtefact:
    """Read a file written by save_sae (safetensors: no pickle, no code runs)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        meta = handle.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file")
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open has no iterator)
    info = json.loads(meta["artefact"])
    return SAEArtefact(
        config=SAEConfig(**info["config"]), weights={k: tensors[k] for k in WEIGHT_NAMES}, n_train=info["n_train"],
        input_scale=info["input_scale"], fvu=info["fvu"], mean_l0=info["mean_l0"],
        dead_fraction=info["dead_fraction"], steps=info["steps"], firing_frequency=tensors["firing_frequency"],
        resamples=tuple(tuple(r) for r in info["resamples"]), device=info["device"], seconds=info["seconds"],
    )


@dataclass(frozen=True, eq=False)
class PlantedEmbeddings:
    """Synthetic embeddings with a known dictionary: a shared offset plus a few planted directions each."""

    embeddings: np.ndarray  # [N, D] float32, unit rows
    directions: np.ndarray  # [F, D] float32, unit rows
    active: np.ndarray  # [N, A] indices of the planted directions in each embedding
    frequency: np.ndarray  # [F] probability of each direction being drawn


def planted_embeddings(n: int, dim: int, n_features: int, *, active: int = 4, offset: float = 1.0,
                       noise: float = 0.02, zipf: float = 0.5, seed: int = 0) -> PlantedEmbeddings:
    """x = offset x m + sum of `active` directions x U(0.5, 1.5) + noise, L2-normalised.

    Like CLIP embeddings, all share one offset direction m (the "cone"); the directions are drawn
    with Zipf-like frequencies (rank^-zipf), so some are rare, as real concepts are.
    """
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((n_features, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    common = rng.standard_normal(dim)
    common /= np.linalg.norm(common)
    frequency = np.arange(1, n_features + 1, dtype=np.float64) ** -zipf
    frequency /= frequency.sum()
    chosen = rng.choice(n_features, size=(n, active), p=frequency)
    magnitudes = rng.uniform(0.5, 1.5, size=(n, active))
    x = offset * common + noise * rng.standard_normal((n, dim))
    for slot in range(active):  # a loop over the few slots keeps memory at [N, D]
        x += magnitudes[:, slot, None] * directions[chosen[:, slot]]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return PlantedEmbeddings(x.astype(np.float32), directions.astype(np.float32), chosen, frequency)
