"""Prompt-ensemble class embeddings for zero-shot classification over a taxonomy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ClassNames:
    """A taxonomy condition as the prompts see it: its code, then its name and synonyms."""

    code: str
    names: tuple[str, ...]


def class_prompts(names: Sequence[str], templates: Sequence[str]) -> list[str]:
    """Every template filled with every name, duplicates dropped, order kept."""
    prompts: list[str] = []
    for name in dict.fromkeys(n.strip() for n in names if n and n.strip()):
        for template in templates:
            prompt = template.format(name)
            if prompt not in prompts:
                prompts.append(prompt)
    return prompts


def class_embeddings(
    encode_texts: Callable[[list[str]], torch.Tensor],
    classes: Sequence[ClassNames],
    templates: Sequence[str],
    *,
    batch_size: int = 256,
) -> torch.Tensor:
    """[C, D] float32: per class, the mean of its normalised prompt embeddings, renormalised."""
    if not classes:
        raise ValueError("no classes to embed")
    prompts: list[str] = []
    owner: list[int] = []
    for index, cls in enumerate(classes):
        for prompt in class_prompts(cls.names, templates):
            prompts.append(prompt)
            owner.append(index)
    if len(set(owner)) != len(classes):
        raise ValueError("every class needs at least one name")
    chunks = [encode_texts(prompts[i : i + batch_size]) for i in range(0, len(prompts), batch_size)]
    embeddings = torch.nn.functional.normalize(torch.cat(chunks).float(), dim=-1)
    index = torch.tensor(owner)
    sums = torch.zeros(len(classes), embeddings.shape[1]).index_add_(0, index, embeddings)
    return torch.nn.functional.normalize(sums, dim=-1)
