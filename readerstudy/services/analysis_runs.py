"""Analyses started from the web app: queued as Celery tasks, results stored with the run."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from common.audit import audit_record
from common.celery import eager
from common.queueing import task_enqueue_on_commit
from readerstudy.exports.model_table import model_benchmark_table
from readerstudy.exports.tables import readings_table
from readerstudy.models import AnalysisRun, ArmKind, RunStatus, Study

logger = logging.getLogger(__name__)
ANALYSIS_TASK = "readerstudy.tasks.analysis_run_execute"

OUTCOMES = {
    "correct_top1": "Top-1 diagnosis correct",
    "correct_top3": "Correct diagnosis in the top 3",
    "management_appropriate": "Appropriate management",
    "management_harmful": "Harmful management",
    "confidence": "Confidence (1-5)",
    "malignancy_score": "Malignancy score (0-100)",
}


# Analyses the page offers besides the arm comparison (DESIGN 5.2a); each stores its results.json block.
ANALYSIS_KINDS = {
    "compare": "Compare arms",
    "compare_arms": "Compare several arms with the control (one mixed model, Holm-adjusted p-values)",
    "reliance": "AI reliance and automation bias",
    "agreement": "Agreement (kappa, ICC)",
    "mrmc": "MRMC (ORH, split-plot ORH or U-statistics)",
    "power": "Power / sample size (simulation from the GLMM; no readings needed)",
}
# MRMC: the method (auto = the default for the design the readings follow) and the figure of merit.
MRMC_METHODS = {
    "auto": "Default for the study's design",
    "orh": "ORH / DBM (fully crossed designs)",
    "splitplot": "Split-plot ORH (split-plot designs)",
    "ustat": "U-statistics (any design)",
}
MRMC_FOMS = {
    "auc": "AUC of the malignancy score",
    "sensitivity": "Sensitivity (malignancy score ≥ threshold)",
    "specificity": "Specificity (malignancy score < threshold)",
    "percent_correct": "Percent correct (the 0/1 outcome above)",
}
MRMC_SCORE, MRMC_TRUTH = "malignancy_score", "truth_malignant"
RATINGS = {
    "top1": "Top-1 diagnosis",
    "management": "Management",
    "confidence": "Confidence (1-5)",
    "malignancy_score": "Malignancy score (0-100)",
}
AGREEMENT_WEIGHTS = ("none", "linear", "quadratic")
# compare extensions (DESIGN 5.2a): the CLMM for an ordered scale and an arm x subgroup interaction
COMPARE_FAMILIES = {"": "Default (binomial for 0/1, Gaussian otherwise)", "ordinal": "Ordinal (cumulative-link mixed model)"}
INTERACTION_COLUMNS = {
    "": "None",
    "case_fitzpatrick": "Fitzpatrick skin type",
    "case_body_site": "Body site",
    "reader_group": "Reader group",
}


class AnalysisRunError(ValueError):
    pass


def default_arms(study: Study) -> tuple[str, str]:
    """Control = the unaided arm, treatment = the first AI arm (or the second arm for parallel designs)."""
    arms = list(study.arms.order_by("kind", "order"))
    unaided = [a.name for a in arms if a.kind == ArmKind.UNAIDED]
    aided = [a.name for a in arms if a.kind == ArmKind.AI]
    names = [a.name for a in arms]
    control = unaided[0] if unaided else names[0]
    treatment = aided[0] if aided else next((n for n in names if n != control), control)
    return control, treatment


@transaction.atomic
def analysis_run_start(
    *, study: Study, actor, outcome: str = "correct_top1", control: str | None = None,
    treatment: str | None = None, by: Sequence[str] = ("reader_group",), by_case: Sequence[str] = ("truth_group",),
    kind: str = "compare", rating: str = "top1", weights: str = "none", family: str = "", interaction: str = "",
    method: str = "auto", fom: str = "auc", threshold: float | None = None, margin: float | None = None,
    arms: Sequence[str] = (),
) -> AnalysisRun:
    """Queue an analysis (compare, compare_arms, reliance, agreement, mrmc) of the study's readings; it
    runs on a worker once this commits. compare_arms: `control` against each of `arms` (default: every
    other arm of the study), performed by services.arm_runs."""
    default_control, default_treatment = default_arms(study)
    control, treatment = control or default_control, treatment or default_treatment
    problems, arms = _arm_choice_problems(study, kind, control, treatment, arms)
    if outcome not in OUTCOMES:
        problems.append(f"unknown outcome {outcome!r}; choose one of {', '.join(OUTCOMES)}")
    problems += _kind_problems(kind)
    if kind == "agreement" and rating not in RATINGS:
        problems.append(f"unknown rating {rating!r}; choose one of {', '.join(RATINGS)}")
    if kind == "agreement" and weights not in AGREEMENT_WEIGHTS:
        problems.append(f"unknown weights {weights!r}; choose one of {', '.join(AGREEMENT_WEIGHTS)}")
    if kind == "mrmc":
        problems += _mrmc_problems(method, fom, threshold, margin, outcome)
    if kind == "compare":
        problems += _compare_problems(family, interaction)
    if problems:
        raise AnalysisRunError("; ".join(problems))
    params = {"outcome": outcome, "control": control, "treatment": treatment, "by": list(by),
              "by_case": list(by_case)}
    params.update({k: v for k, v in (("family", family), ("interaction", interaction)) if v and kind == "compare"})
    if kind == "compare_arms":  # control/treatment as the runs list and heading show them: "top1, top3 vs unaided"
        params = {"outcome": outcome, "arms": list(arms), "control": arms[0], "treatment": ", ".join(arms[1:])}
    if kind == "agreement":
        params = {"outcome": rating, "rating": rating, "weights": weights, "control": control,
                  "treatment": treatment}
    if kind == "mrmc":
        if fom in ("sensitivity", "specificity") and threshold is None:
            threshold = 50.0
        params = {"outcome": MRMC_FOMS[fom], "method": method, "fom": fom, "control": control,
                  "treatment": treatment, "threshold": threshold, "margin": margin,
                  "score": outcome if fom == "percent_correct" else MRMC_SCORE,
                  "truth": None if fom == "percent_correct" else MRMC_TRUTH}
    run = AnalysisRun.objects.create(
        study=study, kind=kind, created_by=actor if getattr(actor, "is_authenticated", False) else None,
        params=params,
    )
    audit_record(actor=actor, action="analysis.start", study=study, obj=run, data=run.params)
    _enqueue_on_commit(run.pk)
    return run


def _arm_choice_problems(study: Study, kind: str, control: str, treatment: str,
                         arms: Sequence[str]) -> tuple[list[str], list[str]]:
    """(problems, arms): compare_arms takes the control and several arms (not `treatment`), the
    other kinds a control and a treatment."""
    arm_names = set(study.arms.values_list("name", flat=True))
    if kind == "compare_arms":
        chosen = _arms_against(control, arms, study)
        problems = [f"unknown arm {name!r}" for name in chosen if name not in arm_names]
        if len(chosen) < 2:
            problems.append("choose at least one arm to compare with the control")
        return problems, chosen
    problems = [f"unknown arm {name!r}" for name in (control, treatment) if name not in arm_names]
    if control == treatment:
        problems.append("control and treatment must be different arms")
    return problems, list(arms)


def _arms_against(control: str, arms: Sequence[str], study: Study) -> list[str]:
    """The control first, then the chosen arms (each once, never the control); none chosen: all others."""
    chosen = [name for name in dict.fromkeys(arms) if name != control]
    if not arms:
        chosen = [name for name in study.arms.order_by("order").values_list("name", flat=True) if name != control]
    return [control, *chosen]


def _kind_problems(kind: str) -> list[str]:
    if kind == "power":
        return ["a power run has its own inputs: start it with power_run_start"]
    if kind not in ANALYSIS_KINDS:
        return [f"unknown analysis {kind!r}; choose one of {', '.join(ANALYSIS_KINDS)}"]
    return []


def _compare_problems(family: str, interaction: str) -> list[str]:
    problems = []
    if family not in COMPARE_FAMILIES:
        problems.append(f"unknown family {family!r}; choose one of {', '.join(f for f in COMPARE_FAMILIES if f)}")
    if interaction not in INTERACTION_COLUMNS:
        problems.append(f"unknown interaction column {interaction!r}; choose one of "
                        f"{', '.join(c for c in INTERACTION_COLUMNS if c)}")
    return problems


def _mrmc_problems(method: str, fom: str, threshold: float | None, margin: float | None, outcome: str) -> list[str]:
    problems = []
    if method not in MRMC_METHODS:
        problems.append(f"unknown MRMC method {method!r}; choose one of {', '.join(MRMC_METHODS)}")
    if fom not in MRMC_FOMS:
        problems.append(f"unknown figure of merit {fom!r}; choose one of {', '.join(MRMC_FOMS)}")
    if fom == "percent_correct" and outcome in ("confidence", "malignancy_score"):
        problems.append(f"percent correct needs a 0/1 outcome, not {OUTCOMES.get(outcome, outcome)}")
    if fom == "percent_correct" and method in ("orh", "splitplot"):
        problems.append("percent correct is analysed by the U-statistics only (choose U-statistics or the default)")
    if threshold is not None and not 0 <= threshold <= 100:
        problems.append(f"threshold {threshold} is outside the malignancy score's 0-100")
    if margin is not None and not 0 < margin < 1:
        problems.append(f"the non-inferiority margin must be between 0 and 1 (got {margin})")
    return problems


def _enqueue_on_commit(run_id: int) -> None:
    """Queue the run once the transaction commits.

    Without a broker (eager mode: the zero-setup demo) the task would run inside the request that
    started it, so "Run analysis" would hang until the analysis ends and the page would never show
    progress. There the run goes to a background thread after the commit instead, and the request
    returns at once (ANALYSIS_EAGER_THREAD, on by default; tests turn it off to run in-line).
    """
    from django.conf import settings

    if eager() and getattr(settings, "ANALYSIS_EAGER_THREAD", True):
        transaction.on_commit(lambda: _start_thread(run_id))
        return
    task_enqueue_on_commit(ANALYSIS_TASK, run_id)  # a broker outage leaves the run pending


def pending_analysis_runs(cutoff: dt.datetime) -> list[int]:
    """Runs still waiting for a worker, created before `cutoff` (registered with common.queueing)."""
    return list(AnalysisRun.objects.filter(status=RunStatus.PENDING, created_at__lte=cutoff)
                .order_by("pk").values_list("pk", flat=True))


def _start_thread(run_id: int) -> threading.Thread:
    thread = threading.Thread(target=_perform_in_thread, args=(run_id,), name=f"analysis-{run_id}", daemon=True)
    thread.start()
    return thread


def _perform_in_thread(run_id: int) -> None:
    from django.db import connections

    try:
        analysis_run_perform(run_id=run_id)
    except Exception:  # noqa: BLE001 - the run row records failures; nothing else may escape a thread
        logger.exception("analysis run %s failed in its thread", run_id)
    finally:
        connections.close_all()  # this thread's connections, not the request threads'



# Kinds whose whole work is one function of the run (registered in ReaderstudyConfig.ready, so this
# module does not import them): performer(run, on_progress) -> (results, report_html).
RunPerformer = Callable[[AnalysisRun, Callable[[int], None]], tuple]
RUN_PERFORMERS: dict[str, RunPerformer] = {}


def register_run_kind(kind: str, performer: RunPerformer) -> None:
    RUN_PERFORMERS[kind] = performer


def _set(run_id: int, **fields) -> None:
    AnalysisRun.objects.filter(pk=run_id).update(**fields)


def analysis_run_perform(*, run_id: int) -> None:
    """Export the readings, run the comparison, store results.json and the HTML report."""
    from analysis.compare import compare
    from analysis.readings import InputError
    from analysis.report import compare_report
    from analysis.results import to_jsonable
    run = AnalysisRun.objects.select_related("study").get(pk=run_id)
    if run.status == RunStatus.DONE:
        return  # a redelivered task: the work is already stored
    _set(run_id, status=RunStatus.RUNNING, progress=10, error="")
    params = run.params
    try:
        performer = RUN_PERFORMERS.get(run.kind)
        if performer is not None:  # e.g. power: plans a study and needs no readings
            return _store(run, *performer(run, lambda percent: _set(run_id, progress=percent)))
        table = readings_table(run.study)
        if table.empty:
            raise AnalysisRunError("the study has no submitted readings yet")
        _set(run_id, progress=30)
        if run.kind in ("reliance", "agreement"):
            return _store(run, *_extra_analysis(run.kind, table, params))
        if run.kind == "mrmc":
            return _store(run, *_mrmc_analysis(table, params, model_benchmark_table(run.study)))
        by = [c for c in params.get("by", []) if c in table.columns and table[c].notna().any()]
        by_case = [c for c in params.get("by_case", []) if c in table.columns and table[c].notna().any()]
        model = model_benchmark_table(run.study)
        if model is not None and not model["case"].isin(table["case"]).any():
            model = None  # the model has no output for any case read: nothing to set beside the readers
        interaction = params.get("interaction")
        if interaction and (interaction not in table.columns or table[interaction].nunique(dropna=True) < 2):
            raise AnalysisRunError(f"the readings have fewer than two levels of {interaction!r}: no interaction to test")
        result = compare(table, outcome=params["outcome"], control=params["control"],
                         treatment=params["treatment"], by=by, by_case=by_case, model_outputs=model,
                         family=params.get("family") or None, interaction=interaction or None)
        _set(run_id, progress=80)
        report = compare_report(result)
    except (InputError, AnalysisRunError, ValueError) as exc:
        _set(run_id, status=RunStatus.FAILED, error=str(exc), finished_at=timezone.now())
        return
    except Exception as exc:  # a numerical failure must end the run visibly, not leave it "running"
        logger.exception("analysis run %s failed", run_id)
        _set(run_id, status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now())
        return
    path = f"reports/{run.study.slug}/{run_id}/report.html"
    if default_storage.exists(path):
        default_storage.delete(path)
    default_storage.save(path, ContentFile(report.encode("utf-8")))
    _set(run_id, status=RunStatus.DONE, progress=100, results=to_jsonable(result.to_dict()), report_path=path,
         finished_at=timezone.now())


def _extra_analysis(kind: str, table, params: dict) -> tuple[dict, str]:
    """(results.json block, report HTML) of a reliance or agreement run."""
    if kind == "reliance":
        from analysis.reliance import reliance
        from analysis.report_sections import reliance_report

        by = [c for c in ("reader_group",) if c in table.columns and table[c].notna().any()]
        result = reliance(table, control=params["control"], treatment=params["treatment"],
                          outcome=params.get("outcome", "correct_top1"), by=by)
        return {"reliance": result.to_dict()}, reliance_report(result)
    from analysis.agreement import agreement
    from analysis.report_sections import agreement_report

    result = agreement(table, rating=params["rating"], weights=params.get("weights", "none"),
                       control=params["control"], treatment=params["treatment"])
    return {"agreement": result.to_dict()}, agreement_report(result)


def _mrmc_analysis(table, params: dict, model=None) -> tuple[dict, str]:
    """(results.json, report HTML) of an MRMC run: design detected, method checked against it; with the
    study's precomputed model outputs, the model as a fixed reader against each arm's readers (AUC)."""
    from analysis.cli_mrmc import analyse
    from analysis.readings import prepare

    values = [params["score"]] + ([params["truth"]] if params.get("truth") else [])
    missing = [c for c in values if c not in table.columns or not table[c].notna().any()]
    if missing:
        raise AnalysisRunError(f"no readings have a {', '.join(missing)} (the MRMC figure of merit needs it)")
    data = prepare(table, value_cols=values, control=params["control"], treatment=params["treatment"])
    run = analyse(data, score=params["score"], truth=params.get("truth"), control=params["control"],
                  treatment=params["treatment"], method=params.get("method", "auto"), fom=params.get("fom", "auc"),
                  threshold=params.get("threshold"), margin=params.get("margin"),
                  model_scores=_model_scores(model, table) if params.get("truth") else None)
    return {"mrmc": run.payload}, run.report


def _model_scores(model, table):
    """The model's malignancy score by case, when it scored any case that was read (else None)."""
    if model is None or "model_malignant_score" not in model.columns:
        return None
    scores = model.set_index("case")["model_malignant_score"].dropna()
    return scores if scores.index.isin(table["case"]).any() else None


def _store(run: AnalysisRun, results: dict, report: str) -> None:
    from analysis.results import to_jsonable

    path = f"reports/{run.study.slug}/{run.pk}/report.html"
    if default_storage.exists(path):
        default_storage.delete(path)
    default_storage.save(path, ContentFile(report.encode("utf-8")))
    _set(run.pk, status=RunStatus.DONE, progress=100, results=to_jsonable(results), report_path=path,
         finished_at=timezone.now())
