"""Power / sample size by simulation from the GLMM, started from the web app (issue 11 item 4).

Needs no readings: a coordinator plans the study before launch. The run is an AnalysisRun of kind
"power" on the same background machinery as the other analyses (analysis_runs._enqueue_on_commit);
its progress rises as simulations finish and its results are the payload of
`python -m analysis power` (power.json: grid, curve).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from common.audit import audit_record
from readerstudy.models import AnalysisRun, RunStatus, Study
from readerstudy.services.analysis_runs import _enqueue_on_commit

POWER_DESIGNS = {
    "sequential": "Sequential (unaided, then with AI)",
    "crossover": "Crossover with washout",
    "blocks": "Alternating case blocks",
    "parallel": "Parallel groups of readers",
}
VARIANCE_FIELDS = {"var_reader": "reader", "var_case": "case", "var_reader_arm": "reader:arm",
                   "var_case_arm": "case:arm"}
MAX_N_SIM = 2000
MAX_GRID_POINTS = 12
MAX_READERS, MAX_CASES = 200, 2000
POWER_METHODS = ("glmm", "reader_t")


class PowerRunError(ValueError):
    """Bad power inputs; `field_errors` maps each form field to its message."""

    def __init__(self, field_errors: dict[str, str]) -> None:
        self.field_errors = field_errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in field_errors.items()))


def power_defaults(study: Study) -> dict:
    """Variance components from the study's last finished compare run's GLMM, else the simulator's
    defaults; `source` says which."""
    from analysis.spec import StudySpec

    spec = StudySpec()
    values = {name: getattr(spec, name) for name in VARIANCE_FIELDS}
    values.update(control_accuracy=spec.control_accuracy, treatment_accuracy=spec.treatment_accuracy)
    run = (study.analysis_runs.filter(kind="compare", status=RunStatus.DONE).exclude(results=None)
           .order_by("-finished_at", "-pk").first())
    effects = {e.get("group"): e.get("variance") for e in ((run.results or {}).get("glmm") or {}).get(
        "random_effects") or []} if run else {}
    found = {name: round(float(effects[group]), 4) for name, group in VARIANCE_FIELDS.items()
             if isinstance(effects.get(group), (int, float))}
    values.update(found)
    values["source"] = (f"the mixed model of analysis #{run.pk}" if found else
                        "the simulator's defaults (no finished comparison with a mixed model yet)")
    return values


def power_problems(*, readers: Sequence[int], cases: Sequence[int], design: str, control_accuracy: float,
                   treatment_accuracy: float, n_sim: int, alpha: float, variances: dict[str, float]) -> dict:
    """Field name -> message for every invalid input (empty when all are valid)."""
    problems: dict[str, str] = {}
    if not readers or any(not 2 <= n <= MAX_READERS for n in readers):
        problems["readers"] = f"each number of readers must be between 2 and {MAX_READERS}"
    if not cases or any(not 2 <= n <= MAX_CASES for n in cases):
        problems["cases"] = f"each number of cases must be between 2 and {MAX_CASES}"
    if readers and cases and len(set(readers)) * len(set(cases)) > MAX_GRID_POINTS:
        problems["cases"] = (f"the curve has {len(set(readers))} × {len(set(cases))} points; at most "
                             f"{MAX_GRID_POINTS} (fewer numbers of readers or cases)")
    if design not in POWER_DESIGNS:
        problems["design"] = f"unknown design {design!r}; choose one of {', '.join(POWER_DESIGNS)}"
    for name, value in (("control_accuracy", control_accuracy), ("treatment_accuracy", treatment_accuracy)):
        if not 0 < value < 1:
            problems[name] = f"an accuracy must be strictly between 0 and 1 (got {value})"
    if "control_accuracy" not in problems and control_accuracy == treatment_accuracy:
        problems["treatment_accuracy"] = "equal accuracies have no effect to detect (power = alpha)"
    for name, value in variances.items():
        if not 0 <= value <= 20:
            problems[name] = f"a variance (logit scale) must be between 0 and 20 (got {value})"
    if not 1 <= n_sim <= MAX_N_SIM:
        problems["n_sim"] = f"the number of simulations must be between 1 and {MAX_N_SIM}"
    if not 0 < alpha < 0.5:
        problems["alpha"] = f"alpha must be between 0 and 0.5 (got {alpha})"
    return problems


@transaction.atomic
def power_run_start(
    *, study: Study, actor, readers: Sequence[int], cases: Sequence[int], design: str = "sequential",
    control_accuracy: float, treatment_accuracy: float, var_reader: float, var_case: float,
    var_reader_arm: float, var_case_arm: float, n_sim: int = 500, alpha: float = 0.05, seed: int = 0,
) -> AnalysisRun:
    """Queue a power simulation; the first numbers of readers and cases are the planned study, all
    combinations make the curve. Raises PowerRunError naming each bad field."""
    readers, cases = list(dict.fromkeys(int(n) for n in readers)), list(dict.fromkeys(int(n) for n in cases))
    variances = {"var_reader": var_reader, "var_case": var_case, "var_reader_arm": var_reader_arm,
                 "var_case_arm": var_case_arm}
    problems = power_problems(readers=readers, cases=cases, design=design, control_accuracy=control_accuracy,
                              treatment_accuracy=treatment_accuracy, n_sim=n_sim, alpha=alpha, variances=variances)
    if problems:
        raise PowerRunError(problems)
    params = {"outcome": "Power / sample size", "control": "control", "treatment": "treatment",
              "readers": readers, "cases": cases, "design": design, "control_accuracy": control_accuracy,
              "treatment_accuracy": treatment_accuracy, **variances, "n_sim": n_sim, "alpha": alpha,
              "seed": seed, "methods": list(POWER_METHODS)}
    run = AnalysisRun.objects.create(
        study=study, kind="power", created_by=actor if getattr(actor, "is_authenticated", False) else None,
        params=params)
    audit_record(actor=actor, action="analysis.start", study=study, obj=run, data=run.params)
    _enqueue_on_commit(run.pk)
    return run


def power_analysis(run: AnalysisRun, set_progress) -> tuple[dict, str]:
    """(power.json payload, report HTML) of a power run; set_progress(percent) as simulations finish."""
    from analysis.power import simulate_power
    from analysis.power_report import power_payload, power_report
    from analysis.spec import StudySpec

    p = run.params
    points = [(r, c) for r in p["readers"] for c in p["cases"]]
    total, last = len(points) * p["n_sim"], [-1]
    grid = []
    for index, (n_readers, n_cases) in enumerate(points):
        spec = StudySpec(n_readers=n_readers, n_cases=n_cases, design=p["design"],
                         control_accuracy=p["control_accuracy"], treatment_accuracy=p["treatment_accuracy"],
                         **{name: p[name] for name in VARIANCE_FIELDS})

        def progress(done: int, _n: int, offset: int = index * p["n_sim"]) -> None:
            percent = 10 + int(85 * (offset + done) / total)  # 10: set when the run starts
            if percent > last[0]:  # one UPDATE per percent, not per simulation
                last[0] = percent
                set_progress(percent)

        result = simulate_power(spec, n_sim=p["n_sim"], alpha=p["alpha"], seed=p.get("seed", 0),
                                methods=tuple(p.get("methods") or POWER_METHODS), progress=progress)
        grid.append(result.to_dict())
    payload = power_payload(p["design"], grid)
    return {"power": payload}, power_report(payload)
