"""Build an open_clip model from a local folder, offline, with checked and safely loaded weights."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .checkpoint import CheckpointError, find_weights, load_state_dict, read_config
from .runtime import inference_context, resolve_device

HF_CONFIG = "config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model")


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference; built once per worker process and reused for every task."""

    model: torch.nn.Module
    tokenize: Callable[[list[str]], torch.Tensor]
    preprocess: Callable[[Image.Image], torch.Tensor]
    pil_transform: Callable[[Image.Image], Image.Image]  # resize, crop, RGB: the part that runs in decode threads
    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_size: int
    device: torch.device
    logit_scale: float
    weights_sha256: str

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """L2-normalised float32 image embeddings, on the CPU."""
        with inference_context(self.device):
            features = self.model.encode_image(pixels.to(self.device, non_blocking=True))
        return torch.nn.functional.normalize(features.float(), dim=-1).cpu()

    def encode_uint8(self, pixels: torch.Tensor) -> torch.Tensor:
        """Embeddings of a uint8 NHWC batch: scaled and normalised on the device (4x less to copy than float)."""
        x = pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, -1, 1, 1)
        return self.encode_images(x.sub_(mean).div_(std))

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """L2-normalised float32 text embeddings, on the CPU."""
        tokens = self.tokenize(texts).to(self.device)
        with inference_context(self.device):
            features = self.model.encode_text(tokens)
        return torch.nn.functional.normalize(features.float(), dim=-1).cpu()


def _hf_offline() -> None:
    # The environment variables are read when huggingface_hub is imported; set the constant too in
    # case something imported it earlier.
    import huggingface_hub.constants as hf_constants

    hf_constants.HF_HUB_OFFLINE = True


def _resolve_hf_path(folder: Path, name: str) -> str:
    """The text tower's HF config must be local: a path, a subfolder, or the model folder itself."""
    for candidate in (Path(name), folder / name, folder / Path(name).name):
        if (candidate / HF_CONFIG).is_file():
            return str(candidate.resolve())
    if (folder / HF_CONFIG).is_file():
        return str(folder)
    # Last resort: a model already in the local Hugging Face cache (offline lookup only).
    return name


def _tokenizer_dir(folder: Path, hf_path: str) -> str:
    if any((folder / name).is_file() for name in TOKENIZER_FILES):
        return str(folder)
    return hf_path


def _build_architecture(folder: Path, model_cfg: Mapping[str, Any]) -> tuple[torch.nn.Module, Callable]:
    from open_clip.model import CLIP, CustomTextCLIP
    from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, HFTokenizer, SimpleTokenizer

    cfg = copy.deepcopy(dict(model_cfg))
    text_cfg = cfg.setdefault("text_cfg", {})
    context_length = text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH)
    if "hf_model_name" in text_cfg:
        _hf_offline()
        hf_path = _resolve_hf_path(folder, text_cfg["hf_model_name"])
        text_cfg["hf_model_name"] = hf_path
        text_cfg["hf_model_pretrained"] = False  # the weights come from the folder's checkpoint
        tokenizer = HFTokenizer(
            _tokenizer_dir(folder, hf_path),
            context_length=context_length,
            tokenizer_mode=text_cfg.get("tokenizer_mode"),
            **text_cfg.get("tokenizer_kwargs", {}),
        )
    else:
        tokenizer = SimpleTokenizer(context_length=context_length, **text_cfg.get("tokenizer_kwargs", {}))
    if "multimodal_cfg" in cfg:
        raise CheckpointError("CoCa models are not supported for zero-shot classification here")
    custom_text = cfg.pop("custom_text", False) or "hf_model_name" in text_cfg
    model = (CustomTextCLIP if custom_text else CLIP)(**cfg)
    return model, tokenizer


@dataclass(frozen=True)
class _Preprocessing:
    full: Callable[[Image.Image], torch.Tensor]
    pil_stage: Callable[[Image.Image], Image.Image]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    side: int


def _preprocess(model: torch.nn.Module, preprocess_cfg: Mapping[str, Any]) -> _Preprocessing:
    """open_clip's eval transform, split where PIL ends: threads resize and crop, the batch is normalised at once."""
    from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
    from torchvision.transforms import Compose, Normalize, ToTensor

    merged = merge_preprocess_dict(PreprocessCfg(), dict(preprocess_cfg))
    size = getattr(model.visual, "image_size", merged.get("size", 224))
    merged["size"] = size
    transform = image_transform_v2(PreprocessCfg(**merged), is_train=False)
    steps = list(transform.transforms)
    cut = next(i for i, step in enumerate(steps) if isinstance(step, ToTensor))
    normalize = next(step for step in steps if isinstance(step, Normalize))
    side = size if isinstance(size, int) else max(size)
    return _Preprocessing(transform, Compose(steps[:cut]), tuple(normalize.mean), tuple(normalize.std), side)


def load_model(folder: Path | str, *, expected_sha256: str, device: str = "auto") -> LoadedModel:
    """Instantiate the folder's architecture and load its weights (checksum checked, no pickle code)."""
    folder = Path(folder).resolve()
    config = read_config(folder)
    model, tokenizer = _build_architecture(folder, config["model_cfg"])
    state = load_state_dict(find_weights(folder), expected_sha256=expected_sha256)
    if "logit_scale" in state and state["logit_scale"].ndim != model.logit_scale.ndim:
        state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit the architecture in {folder}: {exc}") from exc
    target = resolve_device(device)
    model.eval().to(target)
    prep = _preprocess(model, config.get("preprocess_cfg", {}))
    return LoadedModel(
        model=model,
        tokenize=tokenizer,
        preprocess=prep.full,
        pil_transform=prep.pil_stage,
        mean=prep.mean,
        std=prep.std,
        image_size=prep.side,
        device=target,
        logit_scale=float(model.logit_scale.detach().exp().reshape(-1)[0]),
        weights_sha256=expected_sha256,
    )
