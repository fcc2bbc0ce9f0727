"""A model's standalone performance on labelled cases, with case-bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Estimate:
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


@dataclass(frozen=True)
class EvaluationResult:
    n_cases: int
    top1: Estimate
    top3: Estimate
    malignant_auc: Estimate
    per_class_recall: dict[str, Estimate]
    n_bootstrap: int
    seed: int
    malignant_roc: dict[str, list[float]] | None = None  # {"fpr": [...], "tpr": [...]}, None without both classes

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_cases": self.n_cases,
            "top1": self.top1.as_dict(),
            "top3": self.top3.as_dict(),
            "malignant_auc": self.malignant_auc.as_dict(),
            "per_class_recall": {code: est.as_dict() for code, est in self.per_class_recall.items()},
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "ci": "percentile, 95 %, resampling cases",
            "malignant_roc": self.malignant_roc,
        }


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Empirical ROC AUC (Mann-Whitney, ties count one half); None without both classes."""
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_points(scores: np.ndarray, positive: np.ndarray) -> dict[str, list[float]] | None:
    """The empirical ROC curve (one point per distinct score, from (0, 0) to (1, 1)); None without both classes."""
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    fpr, tpr = [0.0], [0.0]
    for threshold in np.unique(scores)[::-1]:
        called = scores >= threshold
        tpr.append(float((called & positive).sum() / n_pos))
        fpr.append(float((called & ~positive).sum() / n_neg))
    return {"fpr": fpr, "tpr": tpr}


def _topk_hits(probs: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1)


def _interval(samples: list[float]) -> tuple[float | None, float | None]:
    values = [s for s in samples if s is not None and not np.isnan(s)]
    if not values:
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _bootstrap_recall(boot: np.ndarray, labels: np.ndarray, hits: np.ndarray, n_classes: int) -> np.ndarray:
    """[n_bootstrap, n_classes] recall per resample; NaN where a class was not drawn."""
    rows = np.repeat(np.arange(boot.shape[0]), boot.shape[1])
    drawn = labels[boot].ravel()
    totals = np.zeros((boot.shape[0], n_classes))
    correct = np.zeros((boot.shape[0], n_classes))
    np.add.at(totals, (rows, drawn), 1)
    np.add.at(correct, (rows, drawn), hits[boot].ravel())
    with np.errstate(invalid="ignore", divide="ignore"):
        return correct / totals


def evaluate(
    probs: np.ndarray,
    labels: Sequence[int],
    codes: Sequence[str],
    malignant: Sequence[bool],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> EvaluationResult:
    """Top-1/top-3 accuracy, per-class recall and malignant-vs-benign AUC from summed malignant probability."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, int)
    malignant_mask = np.asarray(malignant, bool)
    n = len(labels)
    if n == 0:
        raise ValueError("no cases to evaluate")
    hit1, hit3 = _topk_hits(probs, labels, 1), _topk_hits(probs, labels, 3)
    score = probs[:, malignant_mask].sum(axis=1)
    truth_malignant = malignant_mask[labels]
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, n, size=(n_bootstrap, n))
    top1_s = [hit1[i].mean() for i in boot]
    top3_s = [hit3[i].mean() for i in boot]
    auc_s = [auc(score[i], truth_malignant[i]) for i in boot]
    recall_s = _bootstrap_recall(boot, labels, hit1, len(codes))
    recall: dict[str, Estimate] = {}
    for index, code in enumerate(codes):
        in_class = labels == index
        if in_class.any():
            low, high = _interval(list(recall_s[:, index]))
            recall[code] = Estimate(float(hit1[in_class].mean()), low, high, int(in_class.sum()))
    return EvaluationResult(
        n_cases=n,
        top1=Estimate(float(hit1.mean()), *_interval(top1_s), n),
        top3=Estimate(float(hit3.mean()), *_interval(top3_s), n),
        malignant_auc=Estimate(auc(score, truth_malignant), *_interval(auc_s), n),
        per_class_recall=recall,
        n_bootstrap=n_bootstrap,
        seed=seed,
        malignant_roc=roc_points(score, truth_malignant),
    )
