"""`python -m analysis {compare,mrmc,power,simulate,reliance,agreement}` (DESIGN 5.2, 5.2a).

Bad input prints one line naming the file, column or arm to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.readings import InputError

EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Reader-study statistics.")
    commands = parser.add_subparsers(dest="command", required=True)
    _compare_parser(commands.add_parser("compare", help="compare two arms on one outcome"))
    _mrmc_parser(commands.add_parser("mrmc", help="MRMC analysis: ORH/DBM, split-plot ORH or U-statistics"))
    _power_parser(commands.add_parser("power", help="power of a planned study by simulation"))
    _simulate_parser(commands.add_parser("simulate", help="write a simulated readings table"))
    from analysis.cli_analyses import add_agreement_parser, add_reliance_parser

    add_reliance_parser(commands.add_parser("reliance", help="AI reliance and automation bias"))
    add_agreement_parser(commands.add_parser("agreement", help="intra-/inter-reader agreement and ICC"))
    return parser


def _id_columns(args: argparse.Namespace) -> tuple[str, str, str]:
    return (args.reader_col, args.case_col, args.arm_col)


def _columns(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reader-col", default="reader")
    parser.add_argument("--case-col", default="case")
    parser.add_argument("--arm-col", default="arm")


# --- compare -----------------------------------------------------------------------------------


def _compare_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readings", required=True, type=Path)
    parser.add_argument("--outcome", required=True)
    parser.add_argument("--control", help="control arm (with --treatment; or use --arms)")
    parser.add_argument("--treatment", help="the arm compared with --control; other arms' readings are left out")
    parser.add_argument("--arms", nargs="+", metavar="ARM",
                        help="k arms in one mixed model, the first the control: each other arm against it, "
                        "Holm-adjusted (results.json multi_arm)")
    parser.add_argument("--p-method", choices=("lrt", "wald"), default="lrt",
                        help="with --arms: p-value of each arm (likelihood-ratio or Wald z) before Holm")
    parser.add_argument("--by", action="append", default=[])
    parser.add_argument("--by-case", action="append", default=[])
    parser.add_argument("--min-readers", type=int, default=10)
    parser.add_argument("--glmm-formula")
    parser.add_argument("--no-glmm", action="store_true", help="skip the mixed model")
    parser.add_argument("--glmm-ci", choices=("wald", "profile"), default="wald",
                        help="profile: add the profile-likelihood CI of the arm effect next to Wald")
    parser.add_argument(
        "--model-outputs",
        type=Path,
        help="CSV/Parquet with case, model_top1, model_top3, model_malignant_score: the model beside the readers",
    )
    parser.add_argument("--margin", type=float,
                        help="non-inferiority margin on the outcome scale (accuracy loss for a 0/1 outcome)")
    parser.add_argument("--alpha", type=float, default=0.025, help="one-sided level of the non-inferiority test")
    parser.add_argument("--family", choices=("ordinal",),
                        help="ordinal: add the cumulative-link mixed model (results.json clmm); without it the "
                        "GLMM is binomial for a 0/1 outcome, Gaussian otherwise")
    parser.add_argument("--interaction", metavar="COL", help="add arm x COL to the mixed model (results.json interaction)")
    parser.add_argument("--wilcoxon-correction", choices=("on", "off"), default="on",
                        help="continuity correction of the Wilcoxon normal approximation (on: R; off: scipy's default)")
    parser.add_argument("--out", required=True, type=Path)
    _columns(parser)
    parser.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    if getattr(args, "arms", None):
        from analysis.cli_arms import run_compare_arms

        return run_compare_arms(args)
    if not (args.control and args.treatment):
        raise InputError("compare needs --control and --treatment, or --arms CONTROL ARM ...")
    result = _compare(args)
    extra = {}
    if getattr(args, "margin", None) is not None:
        from analysis.noninferiority import glmm_non_inferiority

        extra["non_inferiority"] = glmm_non_inferiority(
            result.glmm, margin=args.margin, alpha=args.alpha, control_rate=result.reader_level.control.mean)
    _write_compare(result, args.out, extra)
    block = result.reader_level
    model = f"; model top-1 {result.model.top1.value:.3f}" if result.model is not None else ""
    print(
        f"{result.outcome}: {result.control} {block.control.mean:.3f}, {result.treatment} "
        f"{block.treatment.mean:.3f} ({block.n_readers} readers){model}; wrote {args.out}"
    )
    return 0


def _compare(args: argparse.Namespace):
    from analysis.compare import compare
    from analysis.model_benchmark import load_model_outputs
    from analysis.readings import load_readings

    model_outputs = load_model_outputs(args.model_outputs) if args.model_outputs else None
    return compare(
        load_readings(args.readings, _id_columns(args)),
        outcome=args.outcome,
        control=args.control,
        treatment=args.treatment,
        by=args.by,
        by_case=args.by_case,
        min_readers=args.min_readers,
        glmm_formula=args.glmm_formula,
        fit_glmm=not args.no_glmm,
        glmm_ci=getattr(args, "glmm_ci", "wald"),
        reader_col=args.reader_col,
        case_col=args.case_col,
        arm_col=args.arm_col,
        model_outputs=model_outputs,
        family=getattr(args, "family", None),
        interaction=getattr(args, "interaction", None),
        wilcoxon_correction=getattr(args, "wilcoxon_correction", "on") == "on",
    )


def _write_compare(result, out: Path, extra: dict | None = None) -> None:
    """results.json, tables/*.csv and report.html (matplotlib is imported only now)."""
    from analysis.report import compare_report
    from analysis.results import write_json, write_tables
    from analysis.tables import compare_tables

    write_json(out / "results.json", result.to_dict() | (extra or {}))
    write_tables(out / "tables", compare_tables(result))
    (out / "report.html").write_text(compare_report(result), encoding="utf-8")


# --- mrmc --------------------------------------------------------------------------------------


def _mrmc_parser(parser: argparse.ArgumentParser) -> None:
    from analysis.cli_mrmc import add_mrmc_arguments

    parser.add_argument("--readings", required=True, type=Path, help="readings table, or an iMRMC file (.imrmc)")
    parser.add_argument("--score", required=True)
    parser.add_argument("--truth", help="0/1 truth column (not needed for --fom percent_correct)")
    parser.add_argument("--control", required=True)
    parser.add_argument("--treatment", required=True)
    parser.add_argument("--cov", choices=("jackknife", "delong"), default="jackknife")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--out", required=True, type=Path)
    add_mrmc_arguments(parser)
    _columns(parser)
    parser.set_defaults(run=run_mrmc)


def run_mrmc(args: argparse.Namespace) -> int:
    """ORH/DBM, split-plot ORH or U-statistics, as the design and --method say (analysis.cli_mrmc)."""
    from analysis.cli_mrmc import run

    return run(args)


# --- power -------------------------------------------------------------------------------------


def _power_parser(parser: argparse.ArgumentParser) -> None:
    from analysis.spec import DESIGNS, StudySpec

    default = StudySpec()
    parser.add_argument("--readers", type=int, nargs="+", default=[default.n_readers])
    parser.add_argument("--cases", type=int, nargs="+", default=[default.n_cases])
    parser.add_argument("--design", choices=DESIGNS, default=default.design)
    parser.add_argument("--control-accuracy", type=float, default=default.control_accuracy)
    parser.add_argument("--treatment-accuracy", type=float, default=default.treatment_accuracy)
    for name in ("var_reader", "var_case", "var_reader_arm", "var_case_arm"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(default, name))
    parser.add_argument("--n-sim", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", choices=("reader_t", "glmm"), action="append")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the simulations (results do not depend on it)")
    parser.add_argument("--out", type=Path, help="directory for power.json (else stdout)")
    parser.set_defaults(run=run_power)


def run_power(args: argparse.Namespace) -> int:
    from analysis.power import simulate_power
    from analysis.results import to_jsonable, write_json
    from analysis.spec import StudySpec

    grid = []
    for n_readers in args.readers:
        for n_cases in args.cases:
            try:
                spec = StudySpec(
                    n_readers=n_readers,
                    n_cases=n_cases,
                    design=args.design,
                    control_accuracy=args.control_accuracy,
                    treatment_accuracy=args.treatment_accuracy,
                    var_reader=args.var_reader,
                    var_case=args.var_case,
                    var_reader_arm=args.var_reader_arm,
                    var_case_arm=args.var_case_arm,
                )
            except ValueError as exc:
                raise InputError(str(exc)) from exc
            result = simulate_power(
                spec,
                n_sim=args.n_sim,
                alpha=args.alpha,
                seed=args.seed,
                methods=tuple(args.method or ("reader_t",)),
                jobs=getattr(args, "jobs", 1),
            )
            grid.append(result.to_dict())
            powers = ", ".join(
                f"{m} {e['power']:.3f} (95% MC {e['ci_low']:.3f}-{e['ci_high']:.3f})"
                for m, e in grid[-1]["power"].items()
            )
            print(
                f"{n_readers} readers x {n_cases} cases: power {powers}; paired t (analytic) "
                f"{result.paired_t_power:.3f}",
                file=sys.stderr if not args.out else sys.stdout,
            )
    curve = [  # power over numbers of readers and cases, one row per grid point and method
        {"n_readers": g["spec"]["n_readers"], "n_cases": g["spec"]["n_cases"], "method": m, **e}
        for g in grid
        for m, e in g["power"].items()
    ]
    payload = {"design": args.design, "grid": grid, "curve": curve}
    if args.out:
        write_json(args.out / "power.json", payload)
    else:
        print(json.dumps(to_jsonable(payload), indent=2))
    return 0


# --- simulate ----------------------------------------------------------------------------------


def _simulate_parser(parser: argparse.ArgumentParser) -> None:
    from analysis.spec import DESIGNS

    parser.add_argument("--out", required=True, type=Path, help="CSV or .parquet file")
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--design", choices=DESIGNS, default="sequential")
    parser.add_argument("--control-accuracy", type=float, default=0.55)
    parser.add_argument("--treatment-accuracy", type=float, default=0.68)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from analysis.simulate import StudySpec, simulate_study

    try:
        spec = StudySpec(
            n_readers=args.readers,
            n_cases=args.cases,
            design=args.design,
            control_accuracy=args.control_accuracy,
            treatment_accuracy=args.treatment_accuracy,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    table = simulate_study(spec, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() in {".parquet", ".pq"}:
        table.to_parquet(args.out, index=False)
    else:
        table.to_csv(args.out, index=False)
    print(f"wrote {len(table)} readings to {args.out}")
    return 0
