"""`python -m analysis compare --arms CONTROL ARM ...` (registered by analysis.cli's compare parser)."""

from __future__ import annotations

import argparse

# compare options that belong to the two-arm analysis: refused with --arms rather than ignored
TWO_ARM_ONLY = {
    "control": "--control", "treatment": "--treatment", "by": "--by", "by_case": "--by-case",
    "model_outputs": "--model-outputs", "margin": "--margin", "family": "--family", "interaction": "--interaction",
}


def _refused(args: argparse.Namespace) -> list[str]:
    named = [flag for name, flag in TWO_ARM_ONLY.items() if getattr(args, name, None)]
    if getattr(args, "glmm_ci", "wald") != "wald":
        named.append("--glmm-ci profile")
    return named


def run_compare_arms(args: argparse.Namespace) -> int:
    from analysis.multi_arm import compare_arms
    from analysis.multi_arm_report import multi_arm_report, multi_arm_tables, summary_line
    from analysis.readings import InputError, load_readings
    from analysis.results import write_json, write_tables

    refused = _refused(args)
    if refused:
        raise InputError(f"--arms takes the control as its first arm; not with {', '.join(refused)}")
    result = compare_arms(
        load_readings(args.readings, (args.reader_col, args.case_col, args.arm_col)),
        outcome=args.outcome,
        arms=args.arms,
        glmm_formula=args.glmm_formula,
        fit_glmm=not args.no_glmm,
        p_method=args.p_method,
        reader_col=args.reader_col,
        case_col=args.case_col,
        arm_col=args.arm_col,
        wilcoxon_correction=args.wilcoxon_correction == "on",
    )
    write_json(args.out / "results.json", result.to_dict())
    write_tables(args.out / "tables", multi_arm_tables(result))
    (args.out / "report.html").write_text(multi_arm_report(result), encoding="utf-8")
    print(f"{summary_line(result)}; wrote {args.out}")
    return 0
