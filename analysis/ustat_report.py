"""HTML report and CSV tables of the U-statistic and split-plot ORH analyses (numbers from analysis.ustat)."""

from __future__ import annotations

import pandas as pd

from analysis.html import fmt, html_table, p_text, page, paragraph, section
from analysis.ustat import UstatResult

FOM_LABELS = {
    "auc": "AUC (empirical)",
    "percent_correct": "Percent correct",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
}


def ustat_tables(main: UstatResult, extra: dict[str, UstatResult]) -> dict[str, pd.DataFrame]:
    results = {main.fom: main, **extra}
    rows, moments = [], []
    for fom, result in results.items():
        for arm, block in result.arms.items():
            rows.append({"Figure of merit": FOM_LABELS[fom], "Arm": arm, "Estimate": block.mean, "Variance": block.var,
                         "SE": block.se, "df": block.df, "95 % CI low": block.ci_low, "95 % CI high": block.ci_high,
                         "Readers": block.n_readers})
            for name, value in block.decomposition.moments.items():
                moments.append({"Figure of merit": FOM_LABELS[fom], "Of": arm, "Moment": name, "Value": value,
                                "Coefficient": block.decomposition.coefficients[name]})
        d = result.difference
        rows.append({"Figure of merit": FOM_LABELS[fom], "Arm": f"{result.treatment} − {result.control}",
                     "Estimate": d.estimate, "Variance": d.var, "SE": d.se, "df": d.df, "95 % CI low": d.ci_low,
                     "95 % CI high": d.ci_high, "Readers": d.paired_readers})
        for name, value in d.covariance.moments.items():
            moments.append({"Figure of merit": FOM_LABELS[fom], "Of": f"cross {result.treatment}×{result.control}",
                            "Moment": name, "Value": value, "Coefficient": d.covariance.coefficients[name]})
    return {"ustat_estimates": pd.DataFrame(rows), "ustat_moments": pd.DataFrame(moments)}


def non_inferiority_text(ni: dict | None) -> list[str]:
    if not ni:
        return []
    text = (f"Non-inferiority ({ni['endpoint']}, margin {fmt(ni['margin'], 3)}, one-sided alpha {fmt(ni['alpha'], 3)}): "
            f"lower bound {fmt(ni['bound'], 4)} against −{fmt(ni['margin'], 3)}: {ni['decision']} "
            f"({p_text(ni['p_value'])}).")
    parts = [paragraph(text)]
    co = ni.get("co_primary")
    if co:
        bounds = ", ".join(f"{name} bound {fmt(e['bound'], 4)} ({e['decision']})" for name, e in co["endpoints"].items())
        parts.append(paragraph(f"Co-primary sensitivity and specificity ({co['rule']}): {co['decision']}; {bounds}."))
    return parts


def ustat_report(main: UstatResult, extra: dict[str, UstatResult], ni: dict | None) -> str:
    d = main.difference
    design = main.design
    overview = (
        f"{design.describe().capitalize()} design: {design.n_readers} readers, {design.n_cases} cases, "
        f"{design.n_readings} readings. {FOM_LABELS[main.fom]} {main.treatment} − {main.control}: "
        f"{fmt(d.estimate, 4)} (95 % CI {fmt(d.ci_low, 4)} to {fmt(d.ci_high, 4)}, SE {fmt(d.se, 4)}, "
        f"df {fmt(d.df, 1)}, {p_text(d.p_value)}; normal CI {fmt(d.ci_normal_low, 4)} to {fmt(d.ci_normal_high, 4)})."
    )
    tables = ustat_tables(main, extra)
    warnings = list(main.warnings) + [w for r in extra.values() for w in r.warnings]
    parts = [
        section("overview", "Overview", paragraph(overview), *non_inferiority_text(ni),
                *(paragraph(w, "warn") for w in warnings)),
        section("estimates", "Estimates, variances and intervals", html_table(tables["ustat_estimates"], 4)),
        section("moments", "Variance decomposition (product moments)", html_table(tables["ustat_moments"], 6)),
        section("methods", "Methods", paragraph(ustat_methods(main))),
    ]
    return page(f"MRMC analysis (U-statistics): {FOM_LABELS[main.fom]}", parts)


def ustat_methods(result: UstatResult) -> str:
    return (
        "U-statistic MRMC analysis (Gallas 2006; Gallas et al. 2009; iMRMC uStat11.jointD): the figure of merit "
        "is the mean of a kernel over every observed reading (for the AUC, every pair of one non-diseased and one "
        "diseased case read by the same reader), each weighted equally. Its variance is the unbiased combination of "
        "second-order product moments, one for each pattern of shared reader and cases, estimated from the study's "
        "own design matrix, so it is valid for fully crossed, split-plot, reader-subset and unpaired designs. The "
        "variance of the difference subtracts twice the covariance estimated from the cross moments of the two arms. "
        "95 % intervals use Student's t with Satterthwaite degrees of freedom in Hillis's form "
        "(r − 1)(r·var / s²)², s² being the variance over readers of their own estimates (Welch–Satterthwaite "
        "across arms when readers read one arm only); each arm's interval is built on the logit scale (delta "
        "method) so that it stays inside [0, 1], the difference's on the original scale; normal (Wald) "
        "intervals are given beside. Differences are treatment − control."
    )


def split_plot_report(payload: dict) -> str:
    auc = payload["auc"]["rrrc"]
    design = payload["design"]
    text = (
        f"Split-plot design with {design['n_blocks']} blocks ({design['n_readers']} readers, {design['n_cases']} cases). "
        f"AUC {payload['treatment']} − {payload['control']}: {fmt(auc['difference'], 4)} (95 % CI "
        f"{fmt(auc['ci_low'], 4)} to {fmt(auc['ci_high'], 4)}, F = {fmt(auc['statistic'])}, df 1 and "
        f"{fmt(auc['df2'], 2)}, {p_text(auc['p_value'])})."
    )
    rows = []
    for fom in ("auc", "sensitivity", "specificity"):
        if fom in payload:
            t = payload[fom]["rrrc"]
            rows.append({"Figure of merit": FOM_LABELS[fom], **{f"Mean {a}": v for a, v in payload[fom]["by_arm"].items()},
                         "Difference": t["difference"], "SE": t["se"], "df": t["df2"], "95 % CI low": t["ci_low"],
                         "95 % CI high": t["ci_high"], "p": t["p_value"]})
    methods = (
        "Obuchowski–Rockette analysis for split-plot designs (Obuchowski, Gallas & Hillis 2012): each block's "
        "readers read only that block's cases, so the error covariances (Var, Cov1, Cov2, Cov3) are estimated "
        "within each block by the jackknife, and only readers of the same block share case-sampling error. "
        "Var(difference) = s²/r + 2 Σ_g r_g(r_g − 1)(Cov2_g − Cov3_g)/(r(r − 1)), s² the variance over all readers "
        "of their differences (the fully crossed ORH when there is one block); Hillis denominator degrees of freedom."
    )
    parts = [
        section("overview", "Overview", paragraph(text), *non_inferiority_text(payload.get("non_inferiority")),
                *(paragraph(w, "warn") for w in payload.get("warnings", []))),
        section("tests", "Tests of the difference", html_table(pd.DataFrame(rows), 4)),
        section("methods", "Methods", paragraph(methods)),
    ]
    return page("MRMC analysis (split-plot ORH)", parts)


def model_vs_readers_section(block: dict) -> str:
    """The model as a fixed reader against each arm's readers (1T-RRRC), as an HTML section."""
    rows = [{"Arm": arm, "Model AUC": e["model_auc"], "Readers' mean AUC": e["readers_auc"],
             "Model − readers": e["difference"], "95 % CI low": e["ci_low"], "95 % CI high": e["ci_high"],
             "df": e["df"], "p": e["p_value"], "Two-way bootstrap CI": f"{fmt(e['bootstrap_ci_low'], 3)} to "
             f"{fmt(e['bootstrap_ci_high'], 3)}", "Readers beaten": f"{e['readers_beaten']} of {e['n_readers']}"}
            for arm, e in block.items()]
    note = ("The model is a fixed reader on the same cases; its difference from the readers' mean AUC is tested "
            "with RJafroc's 1T-RRRC method (single-treatment ORH on the reader − model differences, jackknife "
            "case covariance shared by model and readers, Hillis df), with a two-way (readers × cases) "
            "percentile bootstrap beside it.")
    return section("model-vs-readers", "Model versus the readers (AUC)", html_table(pd.DataFrame(rows), 4),
                   paragraph(note, "note"))


def operating_points(sensitivity: UstatResult, specificity: UstatResult) -> dict:
    """Readers' mean operating point per arm with MRMC (U-statistic) CIs: results.json `operating_points`."""
    out = {}
    for arm in sensitivity.arms:
        sens, spec = sensitivity.arms[arm], specificity.arms[arm]
        out[arm] = {
            "sensitivity": {"estimate": sens.mean, "ci_low": sens.ci_low, "ci_high": sens.ci_high},
            "specificity": {"estimate": spec.mean, "ci_low": spec.ci_low, "ci_high": spec.ci_high},
            "threshold": sensitivity.threshold, "method": "U-statistics (each arm's readers, MRMC variance)",
        }
    return out


def operating_points_section(roc, points: dict, model_curve=None) -> str:
    """ROC curves with each reader's operating point and the readers' mean with its MRMC CIs."""
    from analysis import figures
    from analysis.html import image
    from analysis.report import operating_points as reader_points

    def clip(value: float) -> float:
        return min(max(value, 0.0), 1.0)

    average = {
        arm: {"fpr": 1 - p["specificity"]["estimate"], "tpr": p["sensitivity"]["estimate"],
              "fpr_low": clip(1 - p["specificity"]["ci_high"]), "fpr_high": clip(1 - p["specificity"]["ci_low"]),
              "tpr_low": clip(p["sensitivity"]["ci_low"]), "tpr_high": clip(p["sensitivity"]["ci_high"])}
        for arm, p in points.items()
    }
    rows = [{"Arm": arm, "Sensitivity": p["sensitivity"]["estimate"],
             "Sensitivity 95 % CI": f"{fmt(p['sensitivity']['ci_low'], 3)} to {fmt(p['sensitivity']['ci_high'], 3)}",
             "Specificity": p["specificity"]["estimate"],
             "Specificity 95 % CI": f"{fmt(p['specificity']['ci_low'], 3)} to {fmt(p['specificity']['ci_high'], 3)}"}
            for arm, p in points.items()]
    figure = figures.roc_curves(roc.roc if roc is not None else (), reader_points(roc) if roc is not None else {},
                                model_curve, average)
    note = ("Points: each reader's sensitivity and 1 − specificity at the threshold; diamonds: the readers' mean "
            "with 95 % CIs from the U-statistic MRMC variance (readers and cases random).")
    return section("operating-points", "Operating points at the threshold",
                   image(figure, "ROC curves with reader operating points"), html_table(pd.DataFrame(rows), 3),
                   paragraph(note, "note"))
