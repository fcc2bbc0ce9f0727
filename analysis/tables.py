"""Result objects as flat tables (pandas), for tables/*.csv and the HTML report."""

from __future__ import annotations

import pandas as pd

from analysis.compare import CompareResult, ReaderLevel
from analysis.model_benchmark import ModelBenchmark
from analysis.mrmc import FomAnalysis, MrmcResult


def arm_summary_row(label: str, block: ReaderLevel) -> dict:
    return {
        "analysis": label,
        "n_readers": block.n_readers,
        "control_mean": block.control.mean,
        "control_ci_low": block.control.ci_low,
        "control_ci_high": block.control.ci_high,
        "treatment_mean": block.treatment.mean,
        "treatment_ci_low": block.treatment.ci_low,
        "treatment_ci_high": block.treatment.ci_high,
        "difference": block.difference.mean,
        "difference_ci_low": block.difference.ci_low,
        "difference_ci_high": block.difference.ci_high,
        "paired_t": block.paired_t.statistic,
        "paired_t_df": block.paired_t.df,
        "paired_t_p": block.paired_t.p_value,
        "wilcoxon": block.wilcoxon.statistic,
        "wilcoxon_p": block.wilcoxon.p_value,
        "wilcoxon_r": block.wilcoxon.effect_size_r,
    }


def compare_tables(result: CompareResult) -> dict[str, pd.DataFrame]:
    tables = {
        "reader_means": reader_means_table(result),
        "arm_summary": pd.DataFrame([arm_summary_row(result.outcome, result.reader_level)]),
        "paired_readings": paired_table(result),
        "subgroups": subgroup_table(result),
    }
    if result.secondary:
        tables["secondary_outcomes"] = pd.DataFrame(
            [arm_summary_row(name, block) for name, block in result.secondary.items()]
        )
    if result.model is not None:
        tables["model_benchmark"] = model_benchmark_table(result.model)
        tables["model_readers"] = model_readers_table(result.model)
    if result.glmm is not None and result.glmm.error is None:
        tables["glmm_fixed_effects"] = pd.DataFrame(list(result.glmm.fixed_effects))
        tables["glmm_random_effects"] = pd.DataFrame(list(result.glmm.random_effects))
    return tables


def reader_means_table(result: CompareResult) -> pd.DataFrame:
    rows = [
        {
            "reader": m.reader,
            "reader_group": result.reader_groups.get(m.reader, ""),
            "control": m.control,
            "treatment": m.treatment,
            "difference": m.difference,
        }
        for m in result.reader_level.readers
    ]
    return pd.DataFrame(rows, columns=["reader", "reader_group", "control", "treatment", "difference"])


def paired_table(result: CompareResult) -> pd.DataFrame:
    paired = result.paired_readings
    row = {
        "n_pairs": paired.n_pairs,
        "control_rate": paired.control_rate,
        "treatment_rate": paired.treatment_rate,
    }
    if paired.mcnemar is not None:
        row |= {
            "b": paired.mcnemar.b,
            "c": paired.mcnemar.c,
            "mcnemar_statistic": paired.mcnemar.statistic,
            "mcnemar_p": paired.mcnemar.p_value,
            "mcnemar_method": paired.mcnemar.method,
        }
    return pd.DataFrame([row])


def subgroup_table(result: CompareResult) -> pd.DataFrame:
    rows = []
    for kind, groups in (("by", result.by), ("by_case", result.by_case)):
        for column, levels in groups.items():
            for level, block in levels.items():
                row = {"kind": kind, "column": column, "level": level}
                row |= arm_summary_row(result.outcome, block)
                row["p_value_bonferroni"] = block.p_value_bonferroni
                rows.append(row)
    return pd.DataFrame(rows)


# --- MRMC --------------------------------------------------------------------------------------


def mrmc_tables(result: MrmcResult) -> dict[str, pd.DataFrame]:
    analyses = [a for a in (result.auc, result.sensitivity, result.specificity) if a is not None]
    return {
        "fom_per_reader": pd.concat([fom_per_reader(a) for a in analyses], ignore_index=True),
        "mrmc_tests": pd.concat([significance_table(a) for a in analyses], ignore_index=True),
        "single_treatment": pd.concat([single_table(a) for a in analyses], ignore_index=True),
        "variance_components": pd.DataFrame(
            [{"fom": a.fom, **a.variance_components.to_dict()} for a in analyses]
        ),
        "roc_points": roc_table(result),
    }


def fom_per_reader(analysis: FomAnalysis) -> pd.DataFrame:
    rows = [
        {"fom": analysis.fom, "arm": arm, "reader": reader, "value": float(analysis.values[i, j])}
        for i, arm in enumerate(analysis.treatments)
        for j, reader in enumerate(analysis.readers)
    ]
    return pd.DataFrame(rows)


def significance_table(analysis: FomAnalysis) -> pd.DataFrame:
    rows = []
    for method, test in (("ORH", analysis), ("DBM", analysis.dbm)):
        if test is None:
            continue
        for name in ("rrrc", "frrc", "rrfc"):
            rows.append(
                {"fom": analysis.fom, "method": method, "analysis": name, **getattr(test, name).to_dict()}
            )
    return pd.DataFrame(rows)


def single_table(analysis: FomAnalysis) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"fom": analysis.fom, "arm": arm, "analysis": name, **interval.to_dict()}
            for arm, blocks in analysis.single_treatment.items()
            for name, interval in blocks.items()
        ]
    )


def roc_table(result: MrmcResult) -> pd.DataFrame:
    rows = [
        {"arm": curve.arm, "reader": curve.reader, "point": k, "fpr": fpr, "tpr": tpr}
        for curve in result.roc
        for k, (fpr, tpr) in enumerate(zip(curve.fpr, curve.tpr, strict=True))
    ]
    return pd.DataFrame(rows)


def model_benchmark_table(benchmark: ModelBenchmark) -> pd.DataFrame:
    """Per arm and outcome: the model, the readers' mean, model - readers and readers beaten."""
    rows = []
    for comparison in benchmark.comparisons:
        role = benchmark.arm_roles.get(comparison.arm)
        rows.append(
            {
                "arm": f"{comparison.arm} ({role})" if role else comparison.arm,
                "arm_role": role or "",
                "outcome": comparison.outcome,
                "n_readers": comparison.n_readers,
                "model": comparison.model,
                "readers_mean": comparison.readers_mean.value,
                "readers_ci_low": comparison.readers_mean.ci_low,
                "readers_ci_high": comparison.readers_mean.ci_high,
                "difference": comparison.difference.value,
                "ci_low": comparison.difference.ci_low,
                "ci_high": comparison.difference.ci_high,
                "ci_low_random_readers": comparison.difference_random_readers[0],
                "ci_high_random_readers": comparison.difference_random_readers[1],
                "readers_beaten": comparison.n_beaten,
                "readers_tied": comparison.n_tied,
                "share_beaten": comparison.share_beaten,
            }
        )
    return pd.DataFrame(rows)


def model_readers_table(benchmark: ModelBenchmark) -> pd.DataFrame:
    """Each reader's accuracy and the model's on that reader's cases, per arm and outcome."""
    rows = [
        {
            "arm": comparison.arm,
            "outcome": comparison.outcome,
            "reader": reader.reader,
            "n_cases": reader.n_cases,
            "accuracy": reader.accuracy,
            "model_accuracy": reader.model_accuracy,
        }
        for comparison in benchmark.comparisons
        for reader in comparison.readers
    ]
    return pd.DataFrame(rows, columns=["arm", "outcome", "reader", "n_cases", "accuracy", "model_accuracy"])
