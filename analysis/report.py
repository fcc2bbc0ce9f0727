"""Self-contained HTML reports (figures inline as base64 PNG, every text HTML-escaped).

Long module: the compare and MRMC reports section by section; the HTML building blocks are
analysis.html.
"""

from __future__ import annotations

import pandas as pd

from analysis import figures
from analysis.compare import CompareResult, ReaderLevel
from analysis.estimability import glmm_effect
from analysis.html import fmt, fmt_p, html_table, image, p_text, page, paragraph, section
from analysis.model_benchmark import ModelBenchmark
from analysis.mrmc import MrmcResult
from analysis.report_sections import clmm_section, interaction_section
from analysis.tables import arm_summary_row, model_benchmark_table, mrmc_tables, subgroup_table


def compare_report(result: CompareResult) -> str:
    parts = [
        overview(result),
        arm_section(result),
        readers_section(result),
        reading_level_section(result),
        mixed_model_section(result),
        subgroups_section(result),
        site_section(result),
        management_section(result),
        model_section(result),
        roc_section(result),
        time_section(result),
        *_extension_sections(result),
        methods_section(result),
    ]
    return page(
        f"Reader study: {result.outcome}, {result.treatment} vs {result.control}", [p for p in parts if p]
    )


def _extension_sections(result: CompareResult) -> list[str]:
    """Ordinal CLMM and arm x subgroup sections (analysis.report_sections), when the comparison has them."""
    if getattr(result, "clmm", None) is None and getattr(result, "interaction", None) is None:
        return []


    return [clmm_section(result), interaction_section(result)]


def overview(result: CompareResult) -> str:
    text = (
        f"{result.n_readings} readings of {result.n_cases} cases by {result.n_readers} "
        f"readers; outcome '{result.outcome}' ({'binary' if result.binary else 'numeric'}); "
        f"control arm '{result.control}', treatment arm '{result.treatment}'."
    )
    warnings = "".join(paragraph(w, "warn") for w in result.warnings)
    return section("overview", "Overview", paragraph(text), warnings)


def reader_level_table(label: str, block: ReaderLevel) -> str:
    return html_table(pd.DataFrame([arm_summary_row(label, block)]))


def arm_section(result: CompareResult) -> str:
    block = result.reader_level
    figure = figures.arm_means(block, result.control, result.treatment, result.outcome)
    text = (
        f"Difference {result.treatment} - {result.control}: {fmt(block.difference.mean)} "
        f"(95 % CI {fmt(block.difference.ci_low)} to {fmt(block.difference.ci_high)}), "
        f"paired t {p_text(block.paired_t.p_value)}, Wilcoxon "
        f"{p_text(block.wilcoxon.p_value)} (r = {fmt(block.wilcoxon.effect_size_r, 2)}), "
        f"{block.n_readers} readers with readings in both arms."
    )
    return section(
        "arm-means",
        "Arm means (reader level)",
        image(figure, "arm means"),
        paragraph(text),
        reader_level_table(result.outcome, block),
    )


def readers_section(result: CompareResult) -> str:
    if not result.reader_level.readers:
        return ""
    return section(
        "paired-readers",
        f"Each reader: {result.control} vs {result.treatment}",
        image(figures.paired_readers(result), "paired reader plot"),
    )


def reading_level_section(result: CompareResult) -> str:
    paired = result.paired_readings
    rows = {
        "pairs (same reader and case in both arms)": paired.n_pairs,
        f"rate under {result.control}": paired.control_rate,
        f"rate under {result.treatment}": paired.treatment_rate,
    }
    if paired.mcnemar is not None:
        m = paired.mcnemar
        rows |= {
            "b (positive only under control)": m.b,
            "c (positive only under treatment)": m.c,
            f"McNemar ({m.method}) p": fmt_p(m.p_value),
        }
    frame = pd.DataFrame({"quantity": list(rows), "value": list(rows.values())})
    note = paragraph(
        "McNemar's test pools reader x case pairs and ignores clustering by reader "
        "and case; the mixed model below is the primary reading-level analysis.",
        "note",
    )
    return section("reading-level", "Paired readings", html_table(frame), note)


def mixed_model_section(result: CompareResult) -> str:
    glmm = result.glmm
    if glmm is None:
        return section("mixed-model", "Mixed model", paragraph("Not fitted (--no-glmm)."))
    if glmm.error:
        return section(
            "mixed-model",
            "Mixed model",
            paragraph(f"Formula {glmm.formula}: not fitted: {glmm.error}", "warn"),
        )
    effect = glmm.treatment_odds_ratio or glmm.treatment_effect
    name = "Odds ratio" if glmm.treatment_odds_ratio else "Difference in means"
    checked = glmm_effect(glmm.to_dict())  # separation, boundary and convergence beside the estimate
    if checked is not None and not checked["estimable"]:
        effect = None
    summary = (
        f"{glmm.formula} ({glmm.family}, {glmm.method}); converged: {glmm.converged}; "
        f"log-likelihood {fmt(glmm.log_likelihood, 2)}."
    )
    parts = [paragraph(summary)]
    if checked is not None and not checked["estimable"]:
        parts.append(paragraph(f"{name} {result.treatment} vs {result.control}: {checked['reason']}.", "warn"))
    parts += [paragraph(w, "warn") for w in (checked or {}).get("warnings", []) if w not in glmm.warnings]
    if effect is not None:
        parts.append(
            paragraph(
                f"{name} {result.treatment} vs {result.control}: {fmt(effect.estimate)} (95 % Wald "
                f"CI {fmt(effect.ci_low)} to {fmt(effect.ci_high)}), likelihood-ratio "
                f"{p_text(effect.p_value)}."
            )
        )
    parts.append(html_table(pd.DataFrame(list(glmm.fixed_effects))))
    parts.append(html_table(pd.DataFrame(list(glmm.random_effects))))
    if glmm.arm_estimates:
        parts.append(html_table(pd.DataFrame([a.to_dict() for a in glmm.arm_estimates])))
        parts.append(
            paragraph(
                "conditional: typical reader on a typical case (random effects "
                "0); marginal: averaged over readers and cases.",
                "note",
            )
        )
    parts += [paragraph(w, "warn") for w in glmm.warnings]
    return section("mixed-model", "Mixed model (primary reading-level analysis)", *parts)


def subgroups_section(result: CompareResult) -> str:
    table = subgroup_table(result)
    if table.empty:
        return ""
    rows = [
        (f"{r.column} = {r.level}", r.difference, r.difference_ci_low, r.difference_ci_high)
        for r in table.itertuples()
    ]
    shown = table[
        [
            "kind",
            "column",
            "level",
            "n_readers",
            "difference",
            "difference_ci_low",
            "difference_ci_high",
            "paired_t_p",
            "p_value_bonferroni",
        ]
    ]
    note = paragraph(
        f"by_case levels are tested only with at least {result.min_readers} readers "
        "in both arms; Bonferroni over the levels tested, capped at 1.",
        "note",
    )
    return section(
        "subgroups",
        "Subgroups",
        image(figures.forest(rows, f"difference in {result.outcome}"), "forest plot"),
        html_table(shown),
        note,
    )


SITE_COLUMN = "site"


def site_table(result: CompareResult) -> pd.DataFrame:
    """One row per site (``--by site``): readers, each arm's reader-level mean and the difference."""
    rows = [
        {"site": level, **{k: v for k, v in arm_summary_row(result.outcome, block).items() if k != "analysis"}}
        for level, block in (result.by.get(SITE_COLUMN) or {}).items()
    ]
    return pd.DataFrame(rows)


def site_section(result: CompareResult) -> str:
    """The per-site table of a multi-site study, when the comparison was run ``--by site``."""
    table = site_table(result)
    if table.empty:
        return ""
    shown = table[["site", "n_readers", "control_mean", "treatment_mean", "difference", "difference_ci_low",
                   "difference_ci_high", "paired_t_p"]].rename(
        columns={"control_mean": f"{result.control} mean", "treatment_mean": f"{result.treatment} mean"})
    note = paragraph(
        f"Reader-level {result.outcome} per site (readings without a site are left out); "
        "p-values are per site, not adjusted across sites.",
        "note",
    )
    return section("sites", "Per site", html_table(shown), note)


def management_section(result: CompareResult) -> str:
    blocks = {k: v for k, v in result.secondary.items() if k.startswith("management_")}
    if not blocks:
        return ""
    frame = pd.DataFrame([arm_summary_row(name, block) for name, block in blocks.items()])
    return section("management", "Management: appropriateness and harm", html_table(frame))


def roc_section(result: CompareResult) -> str:
    roc = result.roc
    if roc is None:
        return ""
    parts = _roc_parts(roc, model_curve(result.model))
    if result.model is not None and result.model.auc is not None:
        parts.append(
            paragraph(
                f"Dashed red: the model's ROC curve for model_malignant_score on the "
                f"{result.model.auc.n_positive + result.model.auc.n_negative} cases with a model output "
                "(the reader curves use the cases every reader scored in both arms).",
                "note",
            )
        )
    return section("roc", f"ROC: {roc.score} for {roc.truth}", *parts)


def model_curve(
    benchmark: ModelBenchmark | None,
) -> tuple[tuple[float, ...], tuple[float, ...], float] | None:
    if benchmark is None or benchmark.auc is None:
        return None
    return benchmark.auc.fpr, benchmark.auc.tpr, benchmark.auc.value


def _roc_parts(roc: MrmcResult, model: tuple | None = None) -> list[str]:
    auc = roc.auc
    text = (
        f"Mean AUC {roc.control} {fmt(auc.mean(roc.control))}, {roc.treatment} "
        f"{fmt(auc.mean(roc.treatment))}; difference {fmt(auc.rrrc.difference)} "
        f"(95 % CI {fmt(auc.rrrc.ci_low)} to {fmt(auc.rrrc.ci_high)}, ORH random readers "
        f"and cases, {p_text(auc.rrrc.p_value)})."
    )
    caption = (
        f"Points: each reader's operating point calling score >= {fmt(roc.threshold, 0)} positive."
        if roc.threshold is not None
        else ""
    )
    return [
        image(figures.roc_curves(roc.roc, operating_points(roc), model), "ROC curves"),
        paragraph(text),
        paragraph(caption, "note") if caption else "",
    ]


def model_section(result: CompareResult) -> str:
    """The model's standalone accuracy and malignancy AUC beside the readers of each arm."""
    benchmark = result.model
    if benchmark is None:
        return ""
    labels = {
        result.control: f"{result.control} (control)",
        result.treatment: f"{result.treatment} (treatment)",
    }
    top1 = benchmark.top1
    text = (
        f"On {benchmark.n_cases} of the {benchmark.n_cases_read} cases read, the model's top-1 accuracy is "
        f"{fmt(top1.value)} (95 % CI {fmt(top1.ci_low)} to {fmt(top1.ci_high)}) and its top-3 accuracy "
        f"{fmt(benchmark.top3.value)} (95 % CI {fmt(benchmark.top3.ci_low)} to {fmt(benchmark.top3.ci_high)})."
    )
    parts = [*_model_figure(result, benchmark, labels), paragraph(text),
        html_table(model_benchmark_table(benchmark).drop(columns="arm_role")),
        paragraph(model_auc_text(benchmark)),
    ]
    if benchmark.auc is not None and result.roc is None and result.outcome != "malignancy_score":
        parts.append(image(figures.roc_curves((), None, model_curve(benchmark)), "model ROC curve"))
    parts += [paragraph(w, "warn") for w in benchmark.warnings]
    parts.append(
        paragraph(
            "Top-1/top-3 are exact code matches for the model and the readers alike. Difference = model - "
            "readers, per reader on the cases that reader read, averaged over readers; 95 % CIs are "
            f"percentile bootstrap intervals ({benchmark.n_bootstrap} resamples, seed {benchmark.seed}) "
            "resampling cases with the readers fixed, the same draws for model and readers; the "
            "'random readers' interval resamples readers and cases. A reader is beaten when the model's "
            "accuracy on that reader's cases is higher. Malignancy AUC: empirical, DeLong standard error.",
            "note",
        )
    )
    return section("model", "Model beside the readers", *parts)


MODEL_OUTCOME_PANELS = {"correct_top1": ("top1",), "correct_top3": ("top3",)}


def _model_figure(result: CompareResult, benchmark: ModelBenchmark, labels: dict) -> list[str]:
    """The figure for the outcome analysed: top-1 or top-3 accuracy, the malignancy ROC for the malignancy
    score; other outcomes have no model counterpart, so both accuracies are shown and that is said."""
    if result.outcome == "malignancy_score":
        if benchmark.auc is None:
            return [paragraph("No model ROC: no case with both a malignant and a benign reference among those read.",
                              "note")]
        if result.roc is not None:
            return _roc_parts(result.roc, model_curve(benchmark))[:1]
        return [image(figures.roc_curves((), None, model_curve(benchmark)), "model ROC curve")]
    panels = MODEL_OUTCOME_PANELS.get(result.outcome)
    parts = [image(figures.model_beside_readers(benchmark, labels, panels or ("top1", "top3")),
                   "model accuracy beside each reader's")]
    if panels is None:
        parts.append(paragraph(f"The model gives no '{result.outcome}'; it is shown beside the readers on the "
                               "diagnosis (top-1 and top-3 accuracy).", "note"))
    return parts


def model_auc_text(benchmark: ModelBenchmark) -> str:
    auc = benchmark.auc
    if auc is None:
        return "Malignancy AUC: not computed (no case with a malignant and a benign reference among them)."
    return (
        f"Malignancy AUC of model_malignant_score: {fmt(auc.value)} (95 % CI {fmt(auc.ci_low)} to "
        f"{fmt(auc.ci_high)}, DeLong), {auc.n_positive} malignant and {auc.n_negative} benign cases."
    )


def operating_points(roc: MrmcResult) -> dict[str, list[tuple[float, float]]]:
    if roc.sensitivity is None or roc.specificity is None:
        return {}
    points = {}
    for i, arm in enumerate(roc.sensitivity.treatments):
        sens = roc.sensitivity.values[i]
        spec = roc.specificity.values[i]
        points[arm] = [(1 - float(s), float(t)) for t, s in zip(sens, spec, strict=True)]
    return points


def time_section(result: CompareResult) -> str:
    block = result.secondary.get("duration_s")
    if block is None:
        return ""
    values = {
        result.control: [m.control for m in block.readers],
        result.treatment: [m.treatment for m in block.readers],
    }
    figure = figures.reader_boxes(values, "seconds per case (reader mean)", "Time per case")
    return section(
        "time", "Time per case", image(figure, "time per case"), reader_level_table("duration_s", block)
    )


def methods_section(result: CompareResult) -> str:
    return section("methods", "Methods", paragraph(methods_text(result)))


def methods_text(result: CompareResult) -> str:
    glmm = result.glmm
    model = (
        f"a {glmm.family} mixed model ({glmm.formula}, arm coded 0 = {result.control}, "
        f"1 = {result.treatment}) fitted by maximum likelihood; the treatment effect is "
        f"reported as {'an odds ratio' if glmm.family == 'binomial' else 'a difference in means'} with a "
        "Wald 95 % CI and a likelihood-ratio test against the model without arm"
        if glmm is not None
        else "no mixed model (not requested)"
    )
    return (
        "Reader level: each reader's mean outcome per arm, summarised by the mean over readers "
        "with a t-based 95 % CI"
        + (" (for a 0/1 outcome built on the logit scale and transformed back, so it stays inside [0, 1]; "
           "Wilson limits when every reader scored 0 % or 100 %)" if result.binary else "")
        + "; arms compared with the two-sided paired t-test and the "
        "Wilcoxon signed-rank test (zero differences discarded, exact p with fewer than 50 "
        "non-zero differences and no ties, else normal approximation "
        + ("with continuity correction, as R's wilcox.test" if getattr(result, "wilcoxon_correction", True)
           else "without continuity correction, as scipy's default (--wilcoxon-correction off)")
        + "; effect size r = Phi^-1(1 - p/2) / sqrt(n readers)). Reading level: "
        "McNemar's test over reader x case pairs read in both arms (exact binomial if b + c < "
        f"25, else chi-square with continuity correction) and, as the primary analysis, {model}."
        " Subgroups by case attributes are tested only with enough readers and Bonferroni-"
        "adjusted. ROC: empirical (trapezoidal) AUC per reader, compared with the Obuchowski-"
        "Rockette-Hillis method (jackknife covariance, random readers and cases)."
    )


def mrmc_report(result: MrmcResult) -> str:
    tables = mrmc_tables(result)
    auc = result.auc
    text = (
        f"{result.n_readers} readers, {result.n_cases} cases ({result.n_positive} diseased, "
        f"{result.n_negative} non-diseased). AUC difference {result.treatment} - "
        f"{result.control}: {fmt(auc.rrrc.difference, 4)} (95 % CI {fmt(auc.rrrc.ci_low, 4)}"
        f" to {fmt(auc.rrrc.ci_high, 4)}, F = {fmt(auc.rrrc.statistic)}, df = 1 and "
        f"{fmt(auc.rrrc.df2, 2)}, {p_text(auc.rrrc.p_value)})."
    )
    parts: list[str] = [
        section("overview", "Overview", paragraph(text), *(paragraph(w, "warn") for w in result.warnings)),
        section("roc", "ROC curves", *_roc_parts(result)),
        section("fom", "Figure of merit per reader", html_table(_wide(tables["fom_per_reader"]), 4)),
        section("tests", "Tests of the difference", html_table(tables["mrmc_tests"], 4)),
        section("single", "Each treatment alone", html_table(tables["single_treatment"], 4)),
        section("variance", "Variance components", html_table(tables["variance_components"], 6)),
        section("methods", "Methods", paragraph(mrmc_methods(result))),
    ]
    return page(f"MRMC analysis: {result.score} for {result.truth}", parts)


def _wide(frame: pd.DataFrame) -> pd.DataFrame:
    wide = frame.pivot_table(index=["fom", "reader"], columns="arm", values="value", sort=False).reset_index()
    wide.columns = [str(c) for c in wide.columns]
    return wide


def mrmc_methods(result: MrmcResult) -> str:
    return (
        "Empirical (trapezoidal, Mann-Whitney) AUC per reader and treatment"
        + (
            f", and sensitivity/specificity calling score >= {fmt(result.threshold, 2)} positive"
            if result.threshold is not None
            else ""
        )
        + f". Obuchowski-Rockette analysis with {result.auc.covariance} covariance estimates, "
        "Hillis (2008) denominator degrees of freedom for random readers and random cases, a "
        "chi-square test for fixed readers and an F test for fixed cases; Dorfman-Berbaum-Metz "
        "analysis of jackknife pseudovalues. Differences are treatment - control."
    )
