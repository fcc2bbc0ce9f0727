"""Figures for the reports, rendered with matplotlib's Agg canvas to base64 PNG (no pyplot state)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.compare import CompareResult, ReaderLevel
from analysis.fom import RocCurve
from analysis.model_benchmark import ModelBenchmark

CONTROL_COLOUR, TREATMENT_COLOUR = "#6b7b8c", "#1f6fb4"
MODEL_COLOUR = "#c0392b"
GROUP_COLOURS = ("#1f6fb4", "#d9822b", "#3b9c5a", "#9b59b6", "#c0392b", "#7f8c8d")


def _figure(width: float = 5.5, height: float = 3.6) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def to_base64_png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def arm_means(block: ReaderLevel, control: str, treatment: str, ylabel: str) -> str:
    """Mean over readers per arm with its 95 % CI."""
    figure = _figure(4.2, 3.4)
    axes = figure.add_subplot()
    summaries = (block.control, block.treatment)
    means = [s.mean for s in summaries]
    errors = np.array([[s.mean - s.ci_low for s in summaries], [s.ci_high - s.mean for s in summaries]])
    axes.bar([0, 1], means, color=[CONTROL_COLOUR, TREATMENT_COLOUR], width=0.55, alpha=0.85)
    axes.errorbar([0, 1], means, yerr=np.nan_to_num(errors), fmt="none", ecolor="black", capsize=6)
    axes.set_xticks([0, 1], [control, treatment])
    axes.set_ylabel(ylabel)
    axes.set_title("Mean over readers (95 % CI)")
    return to_base64_png(figure)


def paired_readers(result: CompareResult) -> str:
    """Each reader's mean outcome unaided vs with the treatment, coloured by reader group."""
    figure = _figure(4.8, 4.2)
    axes = figure.add_subplot()
    groups = sorted(set(result.reader_groups.values()))
    colour = {g: GROUP_COLOURS[i % len(GROUP_COLOURS)] for i, g in enumerate(groups)}
    for mean in result.reader_level.readers:
        group = result.reader_groups.get(mean.reader)
        axes.scatter(mean.control, mean.treatment, color=colour.get(group, CONTROL_COLOUR), s=28, label=group)
    values = [v for m in result.reader_level.readers for v in (m.control, m.treatment)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = 0.05 * (high - low or 1)
    axes.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", lw=1, ls="--")
    axes.set_xlabel(f"{result.control} (reader mean)")
    axes.set_ylabel(f"{result.treatment} (reader mean)")
    axes.set_title("Readers above the line did better with " + result.treatment)
    _dedupe_legend(axes)
    return to_base64_png(figure)


def _dedupe_legend(axes) -> None:
    handles, labels = axes.get_legend_handles_labels()
    unique = {label: handle for handle, label in zip(handles, labels, strict=True) if label}
    if unique:
        axes.legend(unique.values(), unique.keys(), fontsize=8, frameon=False)


def forest(rows: Sequence[tuple[str, float, float, float]], xlabel: str) -> str:
    """Forest plot of (label, estimate, ci_low, ci_high), top to bottom."""
    figure = _figure(5.8, 0.45 * len(rows) + 1.2)
    axes = figure.add_subplot()
    y = np.arange(len(rows))[::-1]
    for yi, (_, est, low, high) in zip(y, rows, strict=True):
        axes.plot([low, high], [yi, yi], color="black", lw=1.2)
        axes.plot(est, yi, "s", color=TREATMENT_COLOUR)
    axes.axvline(0, color="grey", ls="--", lw=1)
    axes.set_yticks(y, [label for label, *_ in rows])
    axes.set_xlabel(xlabel)
    return to_base64_png(figure)


def roc_curves(
    curves: Sequence[RocCurve],
    operating_points: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    model_curve: tuple[Sequence[float], Sequence[float], float] | None = None,
    average_points: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """Per-reader curves (thin), pooled curve per arm (thick), reader operating points and the model;
    `average_points` {arm: {fpr, tpr, fpr_low, fpr_high, tpr_low, tpr_high}}: the readers' mean operating
    point with its 95 % CIs as a cross."""
    figure = _figure(4.8, 4.6)
    axes = figure.add_subplot()
    arms = list(dict.fromkeys(curve.arm for curve in curves))
    colour = {arm: (CONTROL_COLOUR, TREATMENT_COLOUR)[min(i, 1)] for i, arm in enumerate(arms)}
    for curve in curves:
        pooled = curve.reader == "pooled"
        axes.plot(
            curve.fpr,
            curve.tpr,
            color=colour[curve.arm],
            lw=2.2 if pooled else 0.6,
            alpha=1.0 if pooled else 0.35,
            label=f"{curve.arm} (pooled AUC {curve.auc:.3f})" if pooled else None,
        )
    for arm, points in (operating_points or {}).items():
        if points:
            fpr, tpr = zip(*points, strict=True)
            axes.scatter(
                fpr,
                tpr,
                color=colour.get(arm, "black"),
                marker="o",
                s=22,
                edgecolor="white",
                zorder=3,
                label=f"{arm} readers at threshold",
            )
    for arm, point in (average_points or {}).items():
        axes.errorbar(
            point["fpr"], point["tpr"],
            xerr=[[point["fpr"] - point["fpr_low"]], [point["fpr_high"] - point["fpr"]]],
            yerr=[[point["tpr"] - point["tpr_low"]], [point["tpr_high"] - point["tpr"]]],
            color=colour.get(arm, "black"), marker="D", ms=6, mec="black", capsize=3, lw=1.4, zorder=4,
            label=f"{arm} readers' mean (95 % CI)",
        )
    if model_curve is not None:
        fpr, tpr, auc = model_curve
        axes.plot(fpr, tpr, color=MODEL_COLOUR, lw=2, ls="--", label=f"model (AUC {auc:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    axes.set_xlabel("1 - specificity")
    axes.set_ylabel("Sensitivity")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    return to_base64_png(figure)


def reader_boxes(values: Mapping[str, Sequence[float]], ylabel: str, title: str) -> str:
    """Box plot of per-reader values per arm (e.g. mean seconds per case)."""
    figure = _figure(4.2, 3.4)
    axes = figure.add_subplot()
    labels = list(values)
    axes.boxplot([list(values[k]) for k in labels], tick_labels=labels, widths=0.5)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    return to_base64_png(figure)


def model_beside_readers(
    benchmark: ModelBenchmark, labels: Mapping[str, str] | None = None, outcomes: tuple[str, ...] = ("top1", "top3")
) -> str:
    """Each reader's accuracy per arm (points), the readers' mean (bar) and the model (line), one panel per
    outcome (top-1 and/or top-3: the report draws the one analysed)."""
    figure = _figure(3.4 * len(outcomes) if len(outcomes) > 1 else 3.8, 3.4)
    arms = benchmark.arms
    rng = np.random.default_rng(0)  # jitter only
    for index, outcome in enumerate(outcomes):
        axes = figure.add_subplot(1, len(outcomes), index + 1)
        for position, arm in enumerate(arms):
            comparison = benchmark.comparison(arm, outcome)
            values = [r.accuracy for r in comparison.readers]
            colour = (CONTROL_COLOUR, TREATMENT_COLOUR)[min(position, 1)]
            axes.scatter(
                position + rng.uniform(-0.12, 0.12, len(values)), values, color=colour, s=18, alpha=0.8
            )
            axes.plot(
                [position - 0.25, position + 0.25], [comparison.readers_mean.value] * 2, color="black", lw=2
            )
        model = benchmark.accuracy(outcome)
        axes.axhline(model.value, color=MODEL_COLOUR, ls="--", lw=1.6, label=f"model {model.value:.2f}")
        if np.isfinite([model.ci_low, model.ci_high]).all():
            axes.axhspan(model.ci_low, model.ci_high, color=MODEL_COLOUR, alpha=0.08, lw=0)
        axes.set_xticks(range(len(arms)), [(labels or {}).get(a, a) for a in arms])
        axes.set_xlim(-0.6, len(arms) - 0.4)
        axes.set_ylim(-0.02, 1.02)
        axes.set_title(f"{'Top-1' if outcome == 'top1' else 'Top-3'} accuracy")
        axes.legend(fontsize=8, frameon=False, loc="lower right")
    figure.axes[0].set_ylabel("accuracy (points: readers; bar: mean)")
    return to_base64_png(figure)
