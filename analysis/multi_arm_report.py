"""Tables and the HTML report of `compare --arms` (the numbers live in analysis.multi_arm)."""

from __future__ import annotations

import math

import pandas as pd

from analysis import figures
from analysis.html import fmt, html_table, image, p_text, page, paragraph, section
from analysis.multi_arm import MultiArmResult


def contrast_table(result: MultiArmResult) -> pd.DataFrame:
    """One row per AI arm: the mixed-model effect and its p-values beside the reader-level difference."""
    model = {c.arm: c for c in result.glmm.contrasts} if result.glmm is not None else {}
    rows = []
    for paired in result.paired:
        contrast, block = model.get(paired.arm), paired.block
        rows.append({
            "arm": paired.arm,
            "control": result.control,
            "estimate": contrast.estimate if contrast else math.nan,
            "ci_low": contrast.ci_low if contrast else math.nan,
            "ci_high": contrast.ci_high if contrast else math.nan,
            "p_value": contrast.p_value if contrast else math.nan,
            "p_value_holm": contrast.p_value_holm if contrast else math.nan,
            "p_value_wald": contrast.p_value_wald if contrast else math.nan,
            "estimable": contrast.estimable if contrast else False,
            "reader_difference": block.difference.mean if block else math.nan,
            "reader_paired_t_p": block.paired_t.p_value if block else math.nan,
            "reader_paired_t_p_holm": paired.p_value_holm if block else math.nan,
            "n_readers_both": block.n_readers if block else 0,
        })
    return pd.DataFrame(rows)


def per_arm_table(result: MultiArmResult) -> pd.DataFrame:
    estimates = {a.arm: a for a in result.glmm.arm_estimates} if result.glmm is not None else {}
    rows = []
    for arm in result.per_arm:
        model = estimates.get(arm.arm)
        rows.append({
            "arm": arm.arm, "n_readers": arm.n_readers, "n_cases": arm.n_cases, "n_readings": arm.n_readings,
            "mean": arm.summary.mean, "sd": arm.summary.sd, "ci_low": arm.summary.ci_low,
            "ci_high": arm.summary.ci_high,
            "glmm_marginal": model.marginal if model else math.nan,
            "glmm_conditional": model.conditional if model else math.nan,
        })
    return pd.DataFrame(rows)


def reader_means_table(result: MultiArmResult) -> pd.DataFrame:
    """Readers x arms: each reader's mean outcome per arm (empty where a reader did not read that arm)."""
    frame = pd.DataFrame({arm.arm: pd.Series(dict(arm.per_reader), dtype=float) for arm in result.per_arm})
    return frame.rename_axis("reader").reset_index()


def multi_arm_tables(result: MultiArmResult) -> dict[str, pd.DataFrame]:
    return {
        "multi_arm_per_arm": per_arm_table(result),
        "multi_arm_contrasts": contrast_table(result),
        "multi_arm_reader_means": reader_means_table(result),
    }


def effect_word(result: MultiArmResult) -> str:
    return "odds ratio" if result.binary else "difference in means"


def summary_line(result: MultiArmResult) -> str:
    """The one line the command prints: arm means, then each AI arm's effect with its Holm p."""
    means = ", ".join(f"{a.arm} {fmt(a.summary.mean)}" for a in result.per_arm)
    line = f"{result.outcome}: {means} ({result.n_readers} readers)"
    if result.glmm is None or result.glmm.error:
        return line + ("; mixed model failed" if result.glmm is not None else "")
    effects = "; ".join(
        f"{c.arm} vs {result.control} {effect_word(result)} {fmt(c.estimate)} "
        f"(95% CI {fmt(c.ci_low)} to {fmt(c.ci_high)}, Holm {p_text(c.p_value_holm)})"
        if c.estimable else f"{c.arm} vs {result.control} not estimable"
        for c in result.glmm.contrasts
    )
    return f"{line}; {effects}"


def _forest_rows(result: MultiArmResult) -> list[tuple[str, float, float, float]]:
    rows = []
    for c in result.glmm.contrasts if result.glmm is not None else ():
        if not c.estimable:
            continue
        if result.binary:  # drawn on the log scale, where the CI is symmetric and 0 is no effect
            rows.append((f"{c.arm} vs {result.control}", c.coefficient, math.log(c.ci_low), math.log(c.ci_high)))
        else:
            rows.append((f"{c.arm} vs {result.control}", c.estimate, c.ci_low, c.ci_high))
    return rows


def model_section(result: MultiArmResult) -> str:
    glmm = result.glmm
    if glmm is None:
        return section("glmm", "Mixed model", paragraph("Not fitted (--no-glmm).", "note"))
    if glmm.error:
        return section("glmm", "Mixed model", paragraph(f"Not estimable: {glmm.error}", "warn"))
    parts = [paragraph(f"{glmm.formula} ({glmm.family}, {glmm.method}); reference level: {result.control}.")]
    if glmm.lrt is not None:
        parts.append(paragraph(
            f"All arms equal (likelihood-ratio test, {glmm.lrt['df']} df): chi-square "
            f"{fmt(glmm.lrt['statistic'])}, {p_text(glmm.lrt['p_value'])}."))
    table = contrast_table(result).drop(columns=["control"]).rename(columns={
        "estimate": "odds_ratio" if result.binary else "difference", "p_value_holm": "holm_p", "p_value_wald": "wald_p",
        "reader_paired_t_p_holm": "reader_paired_t_holm_p", "n_readers_both": "readers_in_both"})
    parts.append(html_table(table))  # names ending in _p print as p-values ("< 0.001")
    rows = _forest_rows(result)
    if rows:
        label = "log odds ratio (95 % CI)" if result.binary else "difference in means (95 % CI)"
        parts.append(image(figures.forest(rows, label), f"{effect_word(result)} of each AI arm against the control"))
    parts += [paragraph(c.reason, "warn") for c in glmm.contrasts if not c.estimable]
    parts += [paragraph(w, "warn") for w in glmm.warnings]
    return section("glmm", "Mixed model: each AI arm against the control", *parts)


def methods_text(result: MultiArmResult) -> str:
    glmm = result.glmm
    p_kind = "likelihood-ratio test against the model with that arm pooled with the control"
    if glmm is not None and glmm.p_method == "wald":
        p_kind = "Wald z test"
    model = (
        f"one {glmm.family} mixed model over the readings of all {len(result.arms)} arms ({glmm.formula}; arm a "
        f"factor with {result.control} as reference level), fitted by maximum likelihood; each AI arm's "
        f"{effect_word(result)} with a Wald 95 % CI and a p-value from the {p_kind}; Holm's step-down "
        f"adjustment over the {len(result.treatments)} AI arms; omnibus likelihood-ratio test of all arms equal"
        if glmm is not None else "no mixed model (--no-glmm)"
    )
    return (
        "Reader level: each reader's mean outcome per arm, the mean over readers with a t-based 95 % CI"
        + (" (logit scale for a 0/1 outcome)" if result.binary else "")
        + "; each AI arm against the control over the readers who read both (paired t, Wilcoxon signed-rank; "
        f"Holm over the AI arms on the paired t p). Reading level, the primary analysis: {model}."
    )


def multi_arm_report(result: MultiArmResult) -> str:
    overview = paragraph(
        f"{result.outcome}: {len(result.arms)} arms, control {result.control}; {result.n_readers} readers, "
        f"{result.n_cases} cases, {result.n_readings} readings.")
    per_arm = per_arm_table(result)
    parts = [
        section("overview", "Overview", overview, *(paragraph(w, "warn") for w in result.warnings)),
        section("arms", "Arms at reader level", html_table(per_arm),
                *(paragraph(p.note, "note") for p in result.paired if p.block is None)),
        model_section(result),
        section("methods", "Methods", paragraph(methods_text(result))),
    ]
    return page(f"{result.outcome}: {', '.join(result.arms)}", parts)

