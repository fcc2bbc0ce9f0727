"""`python -m analysis reliance` and `python -m analysis agreement` (registered by analysis.cli)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def _run_options(parser: argparse.ArgumentParser, *, replicates: int, run) -> None:
    """The options every bootstrap analysis takes: replicates, seed, --out and the id column names."""
    parser.add_argument("--replicates", type=int, default=replicates, help="two-way bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--reader-col", default="reader")
    parser.add_argument("--case-col", default="case")
    parser.add_argument("--arm-col", default="arm")
    parser.set_defaults(run=run)


ID_COLUMNS = ("reader_col", "case_col", "arm_col")


def _options(args: argparse.Namespace, *names: str) -> dict:
    """Keyword arguments named as the parsed options, the reader/case/arm column names included."""
    return {name: getattr(args, name) for name in (*names, *ID_COLUMNS)}


def _load(args: argparse.Namespace) -> pd.DataFrame:
    from analysis.readings import load_readings

    return load_readings(args.readings, tuple(_options(args).values()))


def _write(out: Path, block_name: str, result, tables: dict[str, pd.DataFrame], report: str) -> None:
    from analysis.results import write_json, write_tables

    write_json(out / "results.json", {block_name: result.to_dict()})
    write_tables(out / "tables", tables)
    (out / "report.html").write_text(report, encoding="utf-8")


# --- reliance ------------------------------------------------------------------------------------


def add_reliance_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readings", required=True, type=Path)
    parser.add_argument("--control", required=True)
    parser.add_argument("--treatment", required=True)
    parser.add_argument("--outcome", default="correct_top1")
    parser.add_argument("--by", action="append", default=[])
    parser.add_argument("--no-model", action="store_true", help="skip the switching GLMM")
    _run_options(parser, replicates=2000, run=run_reliance)


def reliance_tables(result) -> dict[str, pd.DataFrame]:
    data = result.to_dict()
    tables = {
        "reliance_accuracy_by_ai": pd.DataFrame(
            [{"ai": k, **{c: v for c, v in e.items() if not c.endswith("_ci")}} for k, e in
             data["accuracy_by_ai_correct"].items()]
        ),
        "reliance_measures": pd.DataFrame([{"measure": k, **v} for k, v in data["ci"].items()]),
    }
    if data["switch_table"]:
        tables["reliance_switch_table"] = pd.DataFrame(data["switch_table"])
    if data["per_reader"]:
        tables["reliance_per_reader"] = pd.DataFrame(data["per_reader"])
    return tables


def run_reliance(args: argparse.Namespace) -> int:
    from analysis.reliance import reliance
    from analysis.report_sections import reliance_report

    result = reliance(
        _load(args),
        **_options(args, "control", "treatment", "outcome", "by", "replicates", "seed"),
        fit_model=not args.no_model,
    )
    _write(args.out, "reliance", result, reliance_tables(result), reliance_report(result))
    wrong = result.accuracy_by_ai_correct["ai_wrong"].difference
    pairs = f"{result.counts.n_pairs} pairs, net benefit {result.counts.net_benefit:.3f}; " if result.counts else ""
    print(
        f"reliance ({'sequential' if result.sequential else 'not sequential'}): {pairs}accuracy change when "
        f"the AI is wrong {wrong.estimate:.3f} (95% CI {wrong.ci_low:.3f} to {wrong.ci_high:.3f}); wrote {args.out}"
    )
    return 0


# --- agreement -----------------------------------------------------------------------------------


def add_agreement_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readings", required=True, type=Path)
    parser.add_argument("--rating", required=True, help="column to agree on; 'top1' = first code of the differential")
    parser.add_argument("--weights", choices=("none", "linear", "quadratic"), default="none")
    parser.add_argument("--control", help="arm for the treatment-minus-control difference")
    parser.add_argument("--treatment")
    parser.add_argument("--kappa-threshold", type=float, default=0.4, help="flag readers below this intra-reader kappa")
    _run_options(parser, replicates=1000, run=run_agreement)


def agreement_tables(result) -> dict[str, pd.DataFrame]:
    data = result.to_dict()
    tables = {
        "agreement_inter_reader": pd.DataFrame(
            [{"arm": arm, **{k: v for k, v in block.items() if not k.endswith("_ci")}}
             for arm, block in data["inter_reader"].items() if arm in result.arms]
        )
    }
    if data["intra_reader"]:
        tables["agreement_intra_reader"] = pd.DataFrame(data["intra_reader"]["per_reader"])
    if data["icc"]:
        tables["agreement_icc"] = pd.DataFrame(
            [{"arm": arm, **row} for arm, block in data["icc"].items() for row in block["table"]]
        )
    return tables


def run_agreement(args: argparse.Namespace) -> int:
    from analysis.agreement import agreement
    from analysis.report_sections import agreement_report

    result = agreement(
        _load(args),
        **_options(args, "rating", "weights", "control", "treatment", "kappa_threshold", "replicates", "seed"),
    )
    _write(args.out, "agreement", result, agreement_tables(result), agreement_report(result))
    kappas = ", ".join(f"{arm} {block.fleiss_kappa.estimate:.3f}" for arm, block in result.inter_reader.items())
    print(f"agreement on {result.rating}: Fleiss kappa {kappas}; wrote {args.out}")
    return 0
