"""`python -m analysis mrmc`: ORH/DBM, split-plot ORH or U-statistics, chosen for the design it sees.

--method auto (the default) runs what the design supports (README: design -> methods table):
ORH/DBM for a fully crossed design, the split-plot ORH for a split-plot one, the U-statistics
otherwise. A method that does not fit the design is refused with the valid ones named (or, for ORH
on a nearly complete design, run on the complete part with a warning). --margin adds the one-sided
non-inferiority decision; with --threshold also the co-primary sensitivity/specificity decision.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from analysis.readings import InputError

METHODS = ("auto", "orh", "dbm", "splitplot", "ustat")


def add_mrmc_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="auto: the platform's default for the design detected")
    parser.add_argument("--fom", choices=("auc", "percent_correct", "sensitivity", "specificity"), default="auc",
                        help="--method ustat: figure of merit (percent_correct needs a 0/1 --score)")
    parser.add_argument("--margin", type=float, help="non-inferiority margin (treatment may be at most this much worse)")
    parser.add_argument("--alpha", type=float, default=0.025, help="one-sided level of the non-inferiority test")
    parser.add_argument("--model-outputs", type=Path,
                        help="model outputs (case, model_top1, model_top3, model_malignant_score): the model as a "
                             "fixed reader against each arm's readers on the AUC (1T-RRRC)")


def load(args: argparse.Namespace):
    """The readings (or an iMRMC input file, by its .imrmc suffix) prepared for the two arms."""
    from analysis.readings import load_readings, prepare
    from analysis.ustat import read_imrmc

    if args.readings.suffix.lower() == ".imrmc":
        if not args.readings.is_file():
            raise InputError(f"cannot read iMRMC file {args.readings}: no such file")
        frame = read_imrmc(args.readings)
        columns = ("reader", "case", "arm")
    else:
        frame = load_readings(args.readings, (args.reader_col, args.case_col, args.arm_col))
        columns = (args.reader_col, args.case_col, args.arm_col)
    values = [args.score] + ([args.truth] if args.truth else [])
    return prepare(frame, value_cols=values, control=args.control, treatment=args.treatment,
                   reader_col=columns[0], case_col=columns[1], arm_col=columns[2])


@dataclass(frozen=True)
class MrmcRun:
    payload: dict  # results.json
    report: str  # report.html
    tables: dict | None
    line: str  # one-line summary


def analyse(data, *, score: str, truth: str | None, control: str, treatment: str, method: str = "auto",
            fom: str = "auc", threshold: float | None = None, covariance: str = "jackknife",
            margin: float | None = None, alpha: float = 0.025, model_scores=None) -> MrmcRun:
    """Detect the design, check the method fits, run it (`data` as from analysis.readings.prepare)."""
    from analysis.design_detect import check_method, detect_design
    from analysis.noninferiority import validate_margin

    if margin is not None:
        validate_margin(margin, alpha)
    args = SimpleNamespace(score=score, truth=truth, fom=fom, threshold=threshold, cov=covariance,
                           margin=margin, alpha=alpha)
    design = detect_design(data, control=control, treatment=treatment, score=score)
    method = design.default_method if method == "auto" else method
    if fom != "auc" and method != "ustat":
        raise InputError(f"--fom {fom} is for --method ustat (ORH analyses the AUC, and with "
                         "--threshold sensitivity and specificity)")
    warnings = check_method(design, "orh" if method == "dbm" else method)
    if method in ("orh", "dbm", "splitplot") and not truth:
        raise InputError("ORH/DBM need --truth")
    runner = {"orh": _orh, "dbm": _orh, "splitplot": _split_plot, "ustat": _ustat}[method]
    payload, report, tables, line = runner(args, data, control, treatment, design)
    payload["design"] = design.to_dict()
    payload["method"] = method
    payload["warnings"] = warnings + list(payload.get("warnings", []))
    if model_scores is not None and truth:
        payload["model_vs_readers"] = _model_vs_readers(data, score, truth, (control, treatment), model_scores,
                                                        payload["warnings"])
        from analysis.ustat_report import model_vs_readers_section

        report = report.replace("</body>", model_vs_readers_section(payload["model_vs_readers"]) + "</body>")
    if threshold is not None and truth and fom == "auc":
        report = _with_operating_points(payload, report, data, args, control, treatment, model_scores)
    return MrmcRun(payload, report, tables, f"{design.describe()} design, {method}: {line}")


def _with_operating_points(payload, report, data, args, control, treatment, model_scores) -> str:
    """results.json `operating_points` and the report's ROC figure with the readers' mean point and MRMC CIs."""
    from analysis.fom import roc_points
    from analysis.mrmc import mrmc
    from analysis.ustat import ustat
    from analysis.ustat_report import operating_points, operating_points_section

    sens, spec = (ustat(data, score=args.score, truth=args.truth, control=control, treatment=treatment, fom=name,
                        threshold=args.threshold) for name in ("sensitivity", "specificity"))
    payload["operating_points"] = operating_points(sens, spec)
    roc = None
    if payload["design"]["kind"] == "fully_crossed":
        roc = mrmc(data, score=args.score, truth=args.truth, control=control, treatment=treatment,
                   threshold=args.threshold)
    model_curve = None
    if model_scores is not None:
        cases = data.drop_duplicates("case").set_index("case")[args.truth]
        shared = cases.index.intersection(model_scores.dropna().index)
        if len(shared):
            fpr, tpr = roc_points(model_scores.loc[shared].to_numpy(float), cases.loc[shared].to_numpy(int))
            auc = next(iter(payload.get("model_vs_readers", {}).values()), {}).get("model_auc", float("nan"))
            model_curve = (tuple(fpr), tuple(tpr), auc)
    return report.replace("</body>", operating_points_section(roc, payload["operating_points"], model_curve) + "</body>")


def _model_vs_readers(data, score, truth, arms, model_scores, warnings: list[str]) -> dict:
    from analysis.model_vs_readers import model_vs_readers

    out = {}
    for arm in arms:
        try:
            out[arm] = model_vs_readers(data, score=score, truth=truth, arm=arm, model_scores=model_scores).to_dict()
        except InputError as exc:
            warnings.append(f"model versus the readers of arm '{arm}' not computed: {exc}")
    return out


def run(args: argparse.Namespace) -> int:
    from analysis.readings import as_label
    from analysis.results import write_json, write_tables

    data = load(args)
    model_scores = None
    if args.model_outputs is not None:
        from analysis.model_benchmark import load_model_outputs

        model_scores = load_model_outputs(args.model_outputs).set_index("case")["model_malignant_score"]
    result = analyse(data, score=args.score, truth=args.truth, control=as_label(args.control),
                     treatment=as_label(args.treatment), method=args.method, fom=args.fom,
                     threshold=args.threshold, covariance=args.cov, margin=args.margin, alpha=args.alpha,
                     model_scores=model_scores)
    write_json(args.out / "results.json", result.payload)
    if result.tables:
        write_tables(args.out / "tables", result.tables)
    (args.out / "report.html").write_text(result.report, encoding="utf-8")
    print(f"{result.line}; wrote {args.out}")
    return 0


def _ni(args, estimate: float, se: float, df):
    from analysis.noninferiority import non_inferiority

    return non_inferiority(estimate=estimate, se=se, df=df, margin=args.margin, alpha=args.alpha)


def _add_non_inferiority(
    args, payload: dict, primary: dict, co_primary: dict[str, dict] | None, endpoint: str = "auc"
) -> None:
    """primary and each co_primary entry: {estimate, se, df}."""
    if args.margin is None:
        return
    from analysis.noninferiority import intersection_union

    payload["non_inferiority"] = _ni(args, **primary).to_dict() | {"endpoint": endpoint}
    if co_primary:
        payload["non_inferiority"]["co_primary"] = intersection_union(
            {name: _ni(args, **entry) for name, entry in co_primary.items()}
        )


def _orh(args, data, control, treatment, design):
    from analysis.mrmc import mrmc
    from analysis.report import mrmc_report
    from analysis.tables import mrmc_tables

    result = mrmc(data, score=args.score, truth=args.truth, control=control, treatment=treatment,
                  covariance=args.cov, threshold=args.threshold)
    payload = result.to_dict()
    rrrc = result.auc.rrrc
    primary = {"estimate": rrrc.difference, "se": rrrc.se, "df": rrrc.df2}
    co = None
    if args.threshold is not None:
        co = {name: {"estimate": getattr(result, name).rrrc.difference, "se": getattr(result, name).rrrc.se,
                     "df": getattr(result, name).rrrc.df2} for name in ("sensitivity", "specificity")}
    _add_non_inferiority(args, payload, primary, co)
    line = (f"AUC difference {treatment} - {control}: {rrrc.difference:.4f} (95% CI {rrrc.ci_low:.4f} to "
            f"{rrrc.ci_high:.4f}, p = {rrrc.p_value:.4f})")
    return payload, mrmc_report(result), mrmc_tables(result), line


def _split_plot(args, data, control, treatment, design):
    from analysis.mrmc import split_plot_mrmc
    from analysis.ustat_report import split_plot_report

    result = split_plot_mrmc(data, score=args.score, truth=args.truth, control=control, treatment=treatment,
                             design=design, covariance=args.cov, threshold=args.threshold)
    payload = result.to_dict()
    test = result.foms["auc"]["rrrc"]
    co = None
    if args.threshold is not None:
        co = {name: {"estimate": result.foms[name]["rrrc"]["difference"], "se": result.foms[name]["rrrc"]["se"],
                     "df": result.foms[name]["rrrc"]["df2"]} for name in ("sensitivity", "specificity")}
    _add_non_inferiority(args, payload, {"estimate": test["difference"], "se": test["se"], "df": test["df2"]}, co)
    line = (f"AUC difference {treatment} - {control}: {test['difference']:.4f} (95% CI {test['ci_low']:.4f} to "
            f"{test['ci_high']:.4f}, p = {test['p_value']:.4f})")
    return payload, split_plot_report(payload), None, line


def _ustat(args, data, control, treatment, design):
    from analysis.ustat import ustat
    from analysis.ustat_report import ustat_report, ustat_tables

    def one(fom):
        return ustat(data, score=args.score, truth=args.truth, control=control, treatment=treatment, fom=fom,
                     threshold=args.threshold)

    main = one(args.fom)
    extra = {}
    if args.threshold is not None and args.fom == "auc":
        extra = {name: one(name) for name in ("sensitivity", "specificity")}
    payload = {"fom": args.fom, "ustat": main.to_dict(),
               **{f"ustat_{name}": r.to_dict() for name, r in extra.items()},
               "warnings": list(main.warnings) + [w for r in extra.values() for w in r.warnings]}
    d = main.difference
    co = None
    if args.fom in ("sensitivity", "specificity") or extra:
        pair = extra or {args.fom: main}
        if len(pair) == 2:
            co = {name: {"estimate": r.difference.estimate, "se": r.difference.se, "df": r.difference.df}
                  for name, r in pair.items()}
    _add_non_inferiority(args, payload, {"estimate": d.estimate, "se": d.se, "df": d.df}, co, args.fom)
    line = (f"{args.fom} difference {treatment} - {control}: {d.estimate:.4f} (95% CI {d.ci_low:.4f} to "
            f"{d.ci_high:.4f}, df {d.df:.1f}, p = {d.p_value:.4f})")
    return payload, ustat_report(main, extra, payload.get("non_inferiority")), ustat_tables(main, extra), line

