"""Reports and figures of the reliance and agreement analyses (and the compare extensions).

Kept apart from analysis.report so that module stays the compare/MRMC report; the helpers
(page, section, html_table, fmt) are shared from there. matplotlib is imported with the figures.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from analysis import figures
from analysis.html import fmt, html_table, image, page, paragraph, section

TRANSITION_COLOURS = {
    "right_to_right": "#3b9c5a",
    "wrong_to_right": "#9ad0a8",
    "right_to_wrong": "#e8a29a",
    "wrong_to_wrong": "#c0392b",
}


# --- reliance ------------------------------------------------------------------------------------


def switching_figure(transitions: dict[str, dict[str, int]], control: str, treatment: str) -> str:
    """Stacked bars: share of pairs right/wrong before -> after, all readers and per reader group."""
    figure = figures._figure(6.0, 3.6)
    axes = figure.add_subplot()
    groups = list(transitions)
    bottom = np.zeros(len(groups))
    for key, colour in TRANSITION_COLOURS.items():
        totals = np.array([sum(transitions[g].values()) or 1 for g in groups], float)
        share = np.array([transitions[g][key] for g in groups], float) / totals
        axes.bar(range(len(groups)), share, bottom=bottom, color=colour, label=key.replace("_", " "), width=0.6)
        bottom += share
    axes.set_xticks(range(len(groups)), groups, fontsize=8)
    axes.set_ylabel("share of (reader, case) pairs")
    axes.set_ylim(0, 1)
    axes.set_title(f"{control} (phase 1) -> {treatment} (phase 2), pooled pairs")
    axes.legend(fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    return figures.to_base64_png(figure)


def accuracy_by_ai_figure(block: dict, control: str, treatment: str) -> str:
    """Accuracy per arm when the AI is right vs wrong, with two-way bootstrap 95 % CIs."""
    figure = figures._figure(4.8, 3.4)
    axes = figure.add_subplot()
    for offset, (arm, key, colour) in enumerate(
        ((control, "control", figures.CONTROL_COLOUR), (treatment, "treatment", figures.TREATMENT_COLOUR))
    ):
        xs, means, errors = [], [], [[], []]
        for position, name in enumerate(("ai_right", "ai_wrong")):
            entry = block.get(name) or {}
            mean = entry.get(key)
            low, high = entry.get(f"{key}_ci") or (None, None)
            if mean is None or not np.isfinite(mean):
                continue
            xs.append(position + (offset - 0.5) * 0.36)
            means.append(mean)
            errors[0].append(mean - low if low is not None and np.isfinite(low) else 0)
            errors[1].append(high - mean if high is not None and np.isfinite(high) else 0)
        axes.bar(xs, means, width=0.34, color=colour, alpha=0.85, label=arm)
        axes.errorbar(xs, means, yerr=errors, fmt="none", ecolor="black", capsize=4)
    axes.set_xticks([0, 1], ["AI right", "AI wrong"])
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("accuracy")
    axes.set_title("Accuracy when the AI is right vs wrong (95 % CI)")
    axes.legend(fontsize=8, frameon=False)
    return figures.to_base64_png(figure)


def reliance_section(result) -> str:
    data = result.to_dict()
    parts = [paragraph(_reliance_summary(data))]
    parts += [paragraph(note, "warn") for note in data["notes"]]
    accuracy = data["accuracy_by_ai_correct"]
    rows = [
        {
            "AI": name.replace("_", " "),
            "n control": entry["n_control"],
            "n treatment": entry["n_treatment"],
            f"{result.control}": entry["control"],
            f"{result.treatment}": entry["treatment"],
            "difference": entry["difference"],
            "ci_low": entry["ci_low"],
            "ci_high": entry["ci_high"],
        }
        for name, entry in accuracy.items()
    ]
    parts.append(html_table(pd.DataFrame(rows)))
    parts.append(image(accuracy_by_ai_figure(accuracy, result.control, result.treatment), "accuracy by AI correctness"))
    measures = pd.DataFrame(
        [{"measure": name, **interval} for name, interval in data["ci"].items()]
    )
    if not measures.empty:
        parts.append(paragraph("Rates with two-way (readers x cases) bootstrap 95 % CIs:", "note"))
        parts.append(html_table(measures))
    if result.sequential:
        parts.append(image(switching_figure(data["transitions"], result.control, result.treatment), "switching"))
        parts.append(paragraph("Switch table (pooled counts over pairs):", "note"))
        parts.append(html_table(pd.DataFrame(data["switch_table"]), 0))
        if data["per_reader"]:
            parts.append(paragraph("Per reader (pooled counts):", "note"))
            parts.append(html_table(pd.DataFrame(data["per_reader"])))
        for column, levels in data["by"].items():
            table = pd.DataFrame([{column: level, **counts} for level, counts in levels.items()])
            parts.append(paragraph(f"By {column} (pooled counts):", "note"))
            parts.append(html_table(table))
        woa = data["weight_of_advice"]
        if woa:
            parts.append(
                paragraph(
                    f"Weight of advice (malignancy score, {woa['n_pairs']} pairs where the AI's score "
                    f"differed from the initial one): mean {fmt(woa['mean'])} (95 % CI "
                    f"{fmt(woa['ci_low'])} to {fmt(woa['ci_high'])}), median {fmt(woa['median'])}."
                )
            )
        model = data["switch_by_confidence"]
        if model:
            parts.append(paragraph(f"Switching model: {model['formula']} (logistic GLMM, Laplace ML).", "note"))
            if model.get("error"):
                parts.append(paragraph(f"model not fitted: {model['error']}", "warn"))
            else:
                parts.append(html_table(pd.DataFrame(model["fixed_effects"])))
                parts += [paragraph(w, "warn") for w in model.get("warnings") or []]
    return section("reliance", "AI reliance and automation bias", *parts)


def _reliance_summary(data: dict) -> str:
    acc = data["accuracy_by_ai_correct"]
    right, wrong = acc.get("ai_right") or {}, acc.get("ai_wrong") or {}
    text = (
        f"{data['n_control_readings']} {data['control']} and {data['n_treatment_readings']} "
        f"{data['treatment']} readings by {data['n_readers']} readers of {data['n_cases']} cases "
        f"({data['design']} design). When the AI was wrong, accuracy changed by "
        f"{fmt(wrong.get('difference'))} (95 % CI {fmt(wrong.get('ci_low'))} to {fmt(wrong.get('ci_high'))}) "
        f"with it; when it was right, by {fmt(right.get('difference'))} (95 % CI "
        f"{fmt(right.get('ci_low'))} to {fmt(right.get('ci_high'))})."
    )
    if data["n_pairs"]:
        text += (
            f" Of {data['n_pairs']} pairs, {data['changed']} changed their top-1 answer: "
            f"{data['wrong_to_right']} wrong -> right, {data['right_to_wrong']} right -> wrong "
            f"(net benefit {fmt(data['net_benefit'])}, pooled)."
        )
    return text


def reliance_methods(result) -> str:
    return (
        "Pairs are (reader, case) with a control and a treatment reading; in a sequential design "
        "the control is the phase-1 answer and the treatment the phase-2 revision. Changed: the "
        "top-1 code differs. Net benefit = (wrong->right - right->wrong) / pairs. Over-reliance = "
        "P(final top-1 = AI top-1 | AI wrong); under-reliance = P(final != AI | AI right, initial "
        "wrong); RAIR = share of initially wrong pairs with the AI right that switched to the AI; "
        "RSR = share of initially right pairs with the AI wrong that kept their answer (Schemmer "
        "et al. 2023). Weight of advice = (final - initial) / (AI - initial) of the malignancy "
        "score. Confidence intervals: percentile, from a two-way bootstrap resampling readers and "
        f"cases independently ({result.replicates} replicates, seed {result.seed}); counts are "
        "pooled over pairs. Switching model: logistic GLMM with crossed reader and case "
        "intercepts, Laplace ML."
    )


def reliance_report(result) -> str:
    parts = [
        reliance_section(result),
        section("methods", "Methods", paragraph(reliance_methods(result))),
    ]
    return page(f"AI reliance: {result.treatment} vs {result.control}", parts)


# --- agreement -----------------------------------------------------------------------------------


def agreement_figure(data: dict) -> str:
    """Fleiss' kappa per arm with its two-way bootstrap 95 % CI (and each reader's repeat kappa)."""
    arms = data["arms"]
    figure = figures._figure(5.4, 3.4)
    axes = figure.add_subplot(1, 2 if data["intra_reader"] else 1, 1)
    for position, arm in enumerate(arms):
        block = data["inter_reader"][arm]
        value = block["fleiss_kappa"]
        low, high = block["fleiss_kappa_ci"]
        colour = (figures.CONTROL_COLOUR, figures.TREATMENT_COLOUR)[min(position, 1)]
        if value is None or not np.isfinite(value):
            continue
        axes.bar(position, value, color=colour, width=0.55, alpha=0.85)
        if low is not None and np.isfinite(low):
            axes.errorbar(position, value, yerr=[[value - low], [high - value]], fmt="none", ecolor="black", capsize=6)
    axes.set_xticks(range(len(arms)), arms)
    axes.set_ylabel("Fleiss' kappa")
    axes.set_title("Inter-reader agreement (95 % CI)", fontsize=9)
    if data["intra_reader"]:
        axes2 = figure.add_subplot(1, 2, 2)
        kappas = [r["kappa"] for r in data["intra_reader"]["per_reader"] if r["kappa"] is not None]
        kappas = [k for k in kappas if np.isfinite(k)]
        axes2.scatter(np.zeros(len(kappas)) + np.linspace(-0.1, 0.1, len(kappas)), kappas, color="#1f6fb4", s=18)
        axes2.axhline(data["intra_reader"]["threshold"], color="#9a4d00", ls="--", lw=1)
        axes2.set_xticks([])
        axes2.set_xlim(-0.5, 0.5)
        axes2.set_title("Intra-reader kappa per reader", fontsize=9)
    return figures.to_base64_png(figure)


def agreement_section(result) -> str:
    data = result.to_dict()
    parts = [paragraph(note, "warn") for note in data["notes"]]
    rows = [{"arm": arm, **{k: v for k, v in data["inter_reader"][arm].items() if k != "fleiss_kappa_ci"},
             "ci_low": data["inter_reader"][arm]["fleiss_kappa_ci"][0],
             "ci_high": data["inter_reader"][arm]["fleiss_kappa_ci"][1]} for arm in data["arms"]]
    parts.append(paragraph(
        f"Inter-reader agreement on '{data['rating']}' (Fleiss' kappa, unweighted; pairwise Cohen's kappa "
        f"weights: {data['weights']}):"
    ))
    parts.append(html_table(pd.DataFrame(rows)))
    diff = data["inter_reader"].get("difference")
    if diff:
        parts.append(paragraph(
            f"{diff['treatment_minus_control']}: Fleiss' kappa difference {fmt(diff['estimate'])} (95 % CI "
            f"{fmt(diff['ci_low'])} to {fmt(diff['ci_high'])}, two-way bootstrap over readers and cases); "
            f"mean pairwise kappa difference {fmt(diff['mean_pairwise_kappa'])}."
        ))
    parts.append(image(agreement_figure(data), "agreement"))
    intra = data["intra_reader"]
    if intra:
        parts.append(paragraph(
            f"Intra-reader agreement over {intra['n_pairs']} repeat pairs by {intra['n_readers']} readers: mean "
            f"kappa {fmt(intra['mean_kappa'])} (pooled over pairs {fmt(intra['pooled_kappa'])})."
        ))
        parts += [paragraph(w, "warn") for w in intra["warnings"]]
        parts.append(html_table(pd.DataFrame(intra["per_reader"])))
    if data["icc"]:
        parts.append(paragraph("Intraclass correlation (Shrout-Fleiss, two-way ANOVA of the complete case x "
                               "reader table; ICC2 = ICC(2,1), ICC2k = ICC(2,k)):"))
        parts.append(html_table(pd.DataFrame(
            [{"arm": arm, **row} for arm, block in data["icc"].items() for row in block["table"]]
        )))
        parts += [paragraph(b["note"], "warn") for b in data["icc"].values() if b.get("note")]
    return section("agreement", "Agreement", *parts)


def agreement_methods(result) -> str:
    return (
        "Intra-reader: Cohen's kappa between the first and the repeat read of the same case in the same arm, "
        "per reader; readers below the threshold are flagged. Inter-reader: Fleiss' kappa over the readers of "
        "each case (varying numbers of ratings allowed) and the mean Cohen's kappa over reader pairs. The "
        "difference between arms has a percentile CI from a two-way bootstrap resampling readers and cases "
        f"independently ({result.replicates} replicates, seed {result.seed}); pairs formed by a reader drawn "
        "twice are left out. ICC: Shrout & Fleiss (1979) from the two-way ANOVA, confidence limits as "
        "psych::ICC."
    )


def agreement_report(result) -> str:
    parts = [agreement_section(result), section("methods", "Methods", paragraph(agreement_methods(result)))]
    return page(f"Agreement: {result.rating}", parts)


# --- compare extensions: ordinal CLMM and arm x subgroup ----------------------------------------


def predicted_figure(predicted: dict, title: str) -> str:
    """Stacked bars: model-implied distribution over the ordinal levels per arm."""
    figure = figures._figure(5.2, 3.2)
    axes = figure.add_subplot()
    arms = list(predicted)
    levels = list(next(iter(predicted.values())))
    bottom = np.zeros(len(arms))
    colours = figures.GROUP_COLOURS
    for i, level in enumerate(levels):
        share = np.array([predicted[a][level] for a in arms])
        axes.barh(range(len(arms)), share, left=bottom, color=colours[i % len(colours)], label=str(level), height=0.5)
        bottom += share
    axes.set_yticks(range(len(arms)), arms)
    axes.set_xlim(0, 1)
    axes.set_xlabel("probability")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7, frameon=False, ncol=len(levels), loc="lower center", bbox_to_anchor=(0.5, 1.08))
    return figures.to_base64_png(figure)


def clmm_section(result) -> str:
    if result.clmm is None:
        return ""
    data = result.clmm.to_dict()
    if data.get("error"):
        return section("clmm", "Ordinal outcome: cumulative-link mixed model",
                       paragraph(f"model not fitted: {data['error']}", "warn"))
    odds = data["treatment_odds_ratio"] or {}
    parts = [paragraph(
        f"{data['formula']} (logit link, flexible thresholds, Laplace ML; arm coded 0 = {result.control}, "
        f"1 = {result.treatment}). Odds of a higher category with {result.treatment}: "
        f"{fmt(odds.get('estimate'))} (95 % CI {fmt(odds.get('ci_low'))} to {fmt(odds.get('ci_high'))}, "
        f"likelihood-ratio p = {fmt(odds.get('p_value'), 4)}); log-likelihood {fmt(data['log_likelihood'], 4)}."
    )]
    parts += [paragraph(w, "warn") for w in data["warnings"]]
    parts.append(html_table(pd.DataFrame(data["thresholds"]), 4))
    parts.append(html_table(pd.DataFrame(data["fixed_effects"]), 4))
    parts.append(html_table(pd.DataFrame(data["random_effects"]), 4))
    if data["predicted"]:
        parts.append(image(predicted_figure(data["predicted"], "Model-implied distribution (averaged over readers "
                                            "and cases)"), "predicted"))
    po = data.get("proportional_odds")
    if po:
        parts.append(paragraph(
            "Proportional-odds check: the arm log odds ratio of a binomial GLMM at each cut-point (same random "
            f"terms) beside the CLMM's {fmt(po['clmm_arm_estimate'], 3)}"
            + (f"; the CLMM estimate lies outside the CI at {', '.join(po['cuts_excluding_clmm_estimate'])}"
               if po["cuts_excluding_clmm_estimate"] else "; it lies inside every cut-point's CI") + "."
        ))
        parts.append(html_table(pd.DataFrame(po["cuts"]), 3))
    return section("clmm", "Ordinal outcome: cumulative-link mixed model", *parts)


def interaction_section(result) -> str:
    block = result.interaction
    if block is None:
        return ""
    data = block.to_dict()
    title = f"Subgroups: arm x {data['column']}"
    if data.get("error"):
        return section("interaction", title, paragraph(f"interaction not fitted: {data['error']}", "warn"))
    label = "odds ratio" if data["effect"] == "odds_ratio" else "difference"
    rows = [{data["column"]: level, label: e["estimate"], "ci_low": e["ci_low"], "ci_high": e["ci_high"],
             "p_value": e["p_value"], "p_value_holm": e["p_value_holm"], "readings": e["n_readings"],
             "cases": e["n_cases"], "AI standalone accuracy": e["ai_standalone_accuracy"]}
            for level, e in data["levels"].items()]
    forest_rows = [(level, e["coefficient"], e["coefficient"] - 1.959964 * e["se"],
                    e["coefficient"] + 1.959964 * e["se"]) for level, e in data["levels"].items()]
    lrt = data["lrt"]
    parts = [
        paragraph(data["verdict"]),
        paragraph(f"Model: {data['formula']}; LRT against {data['reduced_formula']}: chi-square "
                  f"{fmt(lrt['statistic'])} on {lrt['df']} df.", "note"),
        *[paragraph(w, "warn") for w in data["warnings"]],
        html_table(pd.DataFrame(rows)),
        image(figures.forest(forest_rows, "log odds ratio of the arm" if label == "odds ratio" else "difference"),
              "forest plot"),
    ]
    return section("interaction", title, *parts)


def escape_text(text: str) -> str:
    return escape(text)
