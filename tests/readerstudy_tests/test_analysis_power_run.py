"""Power / sample size runs from the web app (issue 11 item 4): GLMM simulation as a background run."""

from __future__ import annotations

import pytest

from readerstudy.models import AnalysisRun, Arm, Role, RunStatus, StudyStatus
from readerstudy.services import analysis_runs
from readerstudy.services.power_runs import PowerRunError, power_defaults, power_run_start
from tests.factories import MembershipFactory, StudyFactory

pytestmark = pytest.mark.django_db

FORM = {"power-readers": "4, 5", "power-cases": "6", "power-design": "sequential",
        "power-control_accuracy": "0.55", "power-treatment_accuracy": "0.8", "power-var_reader": "0.3",
        "power-var_case": "1.0", "power-var_reader_arm": "0.05", "power-var_case_arm": "0.1",
        "power-n_sim": "20", "power-alpha": "0.05"}


@pytest.fixture
def draft_study():
    """A study being planned: arms, no readings, not launched."""
    study = StudyFactory(status=StudyStatus.DRAFT)
    Arm.objects.create(study=study, name="unaided", label="Unaided", kind="unaided", order=0)
    Arm.objects.create(study=study, name="ai", label="AI", kind="ai", order=1)
    coordinator = MembershipFactory(study=study, role=Role.COORDINATOR)
    return study, coordinator.user


def _url(study, tail=""):
    return f"/studies/{study.slug}/analysis/{tail}"


def test_power_run_completes_with_interval_and_curve(draft_study, client, django_capture_on_commit_callbacks):
    study, coordinator = draft_study
    client.force_login(coordinator)
    page = client.get(_url(study))
    assert page.status_code == 200 and b'action="/studies/%s/analysis/power/"' % study.slug.encode() in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(study, "power/"), FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    run = AnalysisRun.objects.get(study=study)
    assert run.kind == "power" and response["Location"] == _url(study, f"{run.pk}/")
    run.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error
    assert run.progress == 100
    payload = run.results["power"]
    planned = payload["planned"]
    assert (planned["n_readers"], planned["n_cases"], planned["n_sim"]) == (4, 6, 20)
    glmm = planned["power"]["glmm"]
    assert glmm["n_analysed"] + glmm["n_failed"] == 20
    assert 0 <= glmm["ci_low"] <= glmm["power"] <= glmm["ci_high"] <= 1 and glmm["ci_high"] > glmm["ci_low"]
    assert 0 < planned["paired_t_power"] < 1
    assert {(r["n_readers"], r["n_cases"], r["method"]) for r in payload["curve"]} == {
        (4, 6, "glmm"), (4, 6, "reader_t"), (5, 6, "glmm"), (5, 6, "reader_t")}
    detail = client.get(_url(study, f"{run.pk}/")).content.decode()
    assert "Power of the planned study" in detail and "GLMM likelihood-ratio test" in detail
    assert f"{glmm['ci_low']:.3f} – {glmm['ci_high']:.3f}" in detail
    assert "Paired t-test, analytic (statsmodels)" in detail and f"{planned['paired_t_power']:.3f}" in detail
    assert '<svg class="power-curve"' in detail and detail.count("<polyline") == 1
    assert "power-curve-table" in detail
    download = client.get(_url(study, f"{run.pk}/power.json"))
    assert download.status_code == 200 and "power.json" in download["Content-Disposition"]
    assert download.json()["curve"] == payload["curve"]
    report = client.get(_url(study, f"{run.pk}/report/"))
    assert report.status_code == 200 and b'id="power"' in report.content and b"<svg" in report.content


@pytest.mark.parametrize(("field", "value", "message"), [
    ("power-readers", "1", "between 2 and"),
    ("power-readers", "ten", "whole numbers"),
    ("power-cases", "", "This field is required"),
    ("power-treatment_accuracy", "1.2", "less than or equal to 0.999"),
    ("power-treatment_accuracy", "0.55", "equal accuracies"),
    ("power-n_sim", "5000", "less than or equal to 2000"),
    ("power-alpha", "0.7", "less than or equal to"),
    ("power-var_case", "-1", "greater than or equal to 0"),
    ("power-design", "split", "Select a valid choice"),
])
def test_invalid_inputs_are_400_naming_the_field(draft_study, client, field, value, message):
    study, coordinator = draft_study
    client.force_login(coordinator)
    response = client.post(_url(study, "power/"), {**FORM, field: value})
    assert response.status_code == 400
    form = response.context["power_form"]
    assert field.removeprefix("power-") in form.errors, form.errors
    assert message in " ".join(form.errors[field.removeprefix("power-")])
    assert not AnalysisRun.objects.filter(study=study).exists()


def test_too_large_a_curve_is_refused_by_the_service(draft_study):
    study, coordinator = draft_study
    with pytest.raises(PowerRunError) as info:
        power_run_start(study=study, actor=coordinator, readers=[5, 10, 15, 20], cases=[20, 40, 60, 80],
                        control_accuracy=0.5, treatment_accuracy=0.6, var_reader=0.3, var_case=1, var_reader_arm=0,
                        var_case_arm=0, n_sim=10)
    assert "cases" in info.value.field_errors and not AnalysisRun.objects.exists()


def test_the_generic_start_refuses_power(draft_study):
    study, coordinator = draft_study
    with pytest.raises(analysis_runs.AnalysisRunError, match="power_run_start"):
        analysis_runs.analysis_run_start(study=study, actor=coordinator, kind="power")


@pytest.mark.parametrize("role", [Role.READER, None])
def test_reader_or_outsider_gets_404(draft_study, client, django_capture_on_commit_callbacks, role):
    study, coordinator = draft_study
    with django_capture_on_commit_callbacks(execute=True):
        run = power_run_start(study=study, actor=coordinator, readers=[4], cases=[8], control_accuracy=0.5,
                              treatment_accuracy=0.7, var_reader=0.3, var_case=1, var_reader_arm=0.05,
                              var_case_arm=0.1, n_sim=3)
    user = MembershipFactory(study=study, role=role).user if role else MembershipFactory().user
    client.force_login(user)
    assert client.post(_url(study, "power/"), FORM).status_code == 404
    for tail in ("", f"{run.pk}/", f"{run.pk}/power.json", f"{run.pk}/report/"):
        assert client.get(_url(study, tail)).status_code == 404, tail
    assert AnalysisRun.objects.filter(study=study).count() == 1


def test_progress_rises_as_simulations_finish(draft_study, django_capture_on_commit_callbacks, monkeypatch):
    study, coordinator = draft_study
    seen = []
    real_set = analysis_runs._set

    def recording_set(run_id, **fields):
        real_set(run_id, **fields)
        if "progress" in fields:
            seen.append(AnalysisRun.objects.get(pk=run_id).progress)  # as stored

    monkeypatch.setattr(analysis_runs, "_set", recording_set)
    with django_capture_on_commit_callbacks(execute=True):
        run = power_run_start(study=study, actor=coordinator, readers=[3, 4], cases=[6], control_accuracy=0.5,
                              treatment_accuracy=0.7, var_reader=0.3, var_case=1, var_reader_arm=0.05,
                              var_case_arm=0.1, n_sim=10)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error
    assert seen == sorted(seen) and seen[-1] == 100
    between = [p for p in seen if 10 < p < 100]
    assert len(between) >= 10, seen  # 20 simulations: the progress moves while they run
    assert seen[0] == 10


def test_variances_prefilled_from_the_last_compare_run(draft_study, client):
    study, coordinator = draft_study
    assert power_defaults(study)["var_case"] == 1.5 and "defaults" in power_defaults(study)["source"]
    effects = [{"group": "reader", "variance": 0.21}, {"group": "case", "variance": 0.87},
               {"group": "reader:arm", "variance": 0.0}, {"group": "case:arm", "variance": 0.11}]
    AnalysisRun.objects.create(study=study, kind="compare", status=RunStatus.DONE,
                               results={"glmm": {"random_effects": effects}})
    client.force_login(coordinator)
    form = client.get(_url(study)).context["power_form"]
    assert [form.initial[n] for n in ("var_reader", "var_case", "var_reader_arm", "var_case_arm")] == [
        0.21, 0.87, 0.0, 0.11]
    assert "analysis #" in form.defaults["source"]
