"""The study model's outputs as a model-outputs table, and the model block of a web analysis run.

Study (hand-computed): cases K1 MEL, K2 NEV, K3 BCC, K4 SK, K5 PSO (MEL and BCC malignant); two
readers, each case unaided then with AI. The model version's outputs:

    case  probabilities                        top_codes       top1  top3  malignant score
    K1    MEL .6  NEV .3  BCC .05 SK .05       MEL NEV BCC     ok    ok    .6 + .05 = .65
    K2    NEV .5  MEL .4  SK .1                (none: sorted)  ok    ok    .4
    K3    SK .5   BCC .3  NEV .2               SK BCC NEV      no    ok    .3
    K4    MEL .7  SK .2   NEV .1               MEL SK NEV      no    ok    .7
    K5    failed                                                -> reported missing, left out

Model on K1-K4: top-1 2/4, top-3 4/4. AUC: positives K1 (.65), K3 (.3); negatives K2 (.4), K4 (.7):
K1 beats .4 only (1), K3 beats neither (0): AUC = 1/4.
Readers' top-1 on K1-K4 (first code of their differential):
    unaided R0: MEL MEL BCC NEV -> 1 0 1 0 = 2/4;  R1: NEV NEV SK NEV -> 0 1 0 0 = 1/4;  mean 3/8
    ai      R0: MEL NEV BCC SK  -> 4/4;             R1: MEL NEV BCC NEV -> 3/4;          mean 7/8
model - unaided = 1/2 - 3/8 = 1/8 (beats R1, ties R0); model - ai = 1/2 - 7/8 = -3/8 (beats none).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from numpy.testing import assert_allclose

from inference.models import ModelOutput, ModelVersion
from readerstudy.exports.model_table import model_benchmark_table
from readerstudy.models import Arm, Reading, Role, ScheduleItem, StudyStatus
from readerstudy.services.analysis_runs import analysis_run_start
from tests.factories import CaseFactory, MembershipFactory, StudyFactory

pytestmark = pytest.mark.django_db

REFERENCES = {"K1": "MEL", "K2": "NEV", "K3": "BCC", "K4": "SK", "K5": "PSO"}
OUTPUTS = {
    "K1": ({"MEL": 0.6, "NEV": 0.3, "BCC": 0.05, "SK": 0.05}, ["MEL", "NEV", "BCC"]),
    "K2": ({"NEV": 0.5, "MEL": 0.4, "SK": 0.1}, []),
    "K3": ({"SK": 0.5, "BCC": 0.3, "NEV": 0.2}, ["SK", "BCC", "NEV"]),
    "K4": ({"MEL": 0.7, "SK": 0.2, "NEV": 0.1}, ["MEL", "SK", "NEV"]),
}
ANSWERS = {  # (reader, arm) -> first code per case K1..K5
    (0, "unaided"): ("MEL", "MEL", "BCC", "NEV", "PSO"),
    (1, "unaided"): ("NEV", "NEV", "SK", "NEV", "MEL"),
    (0, "ai"): ("MEL", "NEV", "BCC", "SK", "PSO"),
    (1, "ai"): ("MEL", "NEV", "BCC", "NEV", "PSO"),
}


@pytest.fixture
def study():
    study = StudyFactory(status=StudyStatus.LAUNCHED)
    conditions = {c.code: c for c in study.case_set.taxonomy.conditions.all()}
    cases = [
        CaseFactory(case_set=study.case_set, key=key, reference=conditions[code])
        for key, code in REFERENCES.items()
    ]
    model = ModelVersion.objects.create(name="bench-model", kind="simulated")
    for case in cases:
        probabilities, top = OUTPUTS.get(case.key, ({}, []))
        ModelOutput.objects.create(
            model_version=model, case=case, taxonomy=study.case_set.taxonomy, probabilities=probabilities,
            top_codes=top, status="done" if probabilities else "failed",
        )  # fmt: skip
    study.model_version = model
    study.save(update_fields=["model_version"])
    arms = {
        "unaided": Arm.objects.create(study=study, name="unaided", label="Unaided", kind="unaided", order=0),
        "ai": Arm.objects.create(study=study, name="ai", label="AI", kind="ai", order=1),
    }
    now = timezone.now()
    for reader in (0, 1):
        membership = MembershipFactory(study=study, reader_index=reader)
        for c, case in enumerate(cases):
            for phase, arm in ((1, "unaided"), (2, "ai")):
                item = ScheduleItem.objects.create(
                    study=study, membership=membership, case=case, arm=arms[arm], position=2 * c + phase - 1,
                    phase=phase,
                )  # fmt: skip
                first = ANSWERS[(reader, arm)][c]
                Reading.objects.create(
                    schedule_item=item, idempotency_key=uuid.uuid4(), differential=[first, "TIN"], confidence=3,
                    management="refer", shown_at=now, submitted_at=now + timedelta(seconds=20),
                )  # fmt: skip
    return study


def test_model_benchmark_table_in_two_queries(study, django_assert_num_queries):
    with django_assert_num_queries(2):
        table = model_benchmark_table(study)
    rows = table.set_index("case")
    assert list(rows.index) == ["K1", "K2", "K3", "K4"]  # K5's output failed
    assert rows.loc["K2", "model_top1"] == "NEV" and rows.loc["K2", "model_top3"] == "NEV|MEL|SK"  # sorted
    assert rows.loc["K3", "model_top3"] == "SK|BCC|NEV"
    assert_allclose(rows["model_malignant_score"], [0.65, 0.4, 0.3, 0.7])  # MEL + BCC


def test_no_model_version_no_table(study):
    study.model_version = None
    assert model_benchmark_table(study) is None


def test_analysis_run_sets_the_model_beside_the_readers(study, django_capture_on_commit_callbacks):
    coordinator = MembershipFactory(study=study, role=Role.COORDINATOR).user
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator)
    run.refresh_from_db()
    assert run.status == "done", run.error
    model = run.results["model"]
    assert (model["n_cases"], model["n_cases_read"], model["cases_missing_model"]) == (4, 5, ["K5"])
    assert_allclose([model["top1"]["value"], model["top3"]["value"]], [0.5, 1.0])
    assert_allclose(model["malignant_auc"]["value"], 0.25)
    unaided, ai = model["arms"]["unaided"], model["arms"]["ai"]
    assert (unaided["role"], ai["role"]) == ("control", "treatment")
    assert_allclose(
        [unaided["top1"]["readers_mean"]["value"], unaided["top1"]["difference"]["value"]], [3 / 8, 1 / 8]
    )
    assert_allclose([ai["top1"]["readers_mean"]["value"], ai["top1"]["difference"]["value"]], [7 / 8, -3 / 8])
    assert unaided["top1"]["readers_beaten"] == {"n": 1, "n_tied": 1, "share": 0.5}
    assert ai["top1"]["readers_beaten"]["n"] == 0
    assert b"Model beside the readers" in default_storage.open(run.report_path).read()


def test_analysis_run_without_model_version_has_no_model_block(study, django_capture_on_commit_callbacks):
    study.model_version = None
    study.save(update_fields=["model_version"])
    coordinator = MembershipFactory(study=study, role=Role.COORDINATOR).user
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator)
    run.refresh_from_db()
    assert run.status == "done", run.error
    assert run.results["model"] is None


def test_results_page_shows_the_model_beside_the_readers(study, client, django_capture_on_commit_callbacks):
    coordinator = MembershipFactory(study=study, role=Role.COORDINATOR).user
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=study, actor=coordinator)
    client.force_login(coordinator)
    page = client.get(f"/studies/{study.slug}/analysis/{run.pk}/").content.decode()
    assert "Model beside the readers" in page
    assert "Model top-1 accuracy 0.500" in page and "1 of 2" in page
