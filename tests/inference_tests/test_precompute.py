"""Precompute end to end in eager mode, the embedding caches, calibration, evaluation and launch checks."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.management import call_command

from inference import precompute
from inference.models import (
    ImageEmbedding,
    JobStatus,
    ModelEvaluation,
    ModelKind,
    ModelOutput,
    OutputStatus,
    TextEmbedding,
)
from inference.services import model_calibrate, model_evaluate, model_register
from readerstudy import models as m
from readerstudy.services.studies.ai import study_ai_ready, study_outputs_freeze, study_precompute_start
from tests.factories import ArmFactory, StudyFactory, small_taxonomy

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_version(tiny_model_dir):
    return model_register(path=tiny_model_dir, name="tiny")


def _study(case_set, version):
    study = StudyFactory(case_set=case_set, model_version=version)
    ArmFactory(study=study, name="unaided", kind=m.ArmKind.UNAIDED)
    ArmFactory(study=study, name="ai", label="AI", kind=m.ArmKind.AI, order=1)
    return study


def _run(study, version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = study_precompute_start(study=study, model_version=version)
    job.refresh_from_db()
    return job


def test_precompute_end_to_end_one_output_per_case_rerun_noop_corrupt_case_fails(
    make_case_set, tiny_version, django_capture_on_commit_callbacks
):
    case_set = make_case_set(7, corrupt=(3,), dermoscopic=(1, 5))
    study = _study(case_set, tiny_version)
    job = _run(study, tiny_version, django_capture_on_commit_callbacks)

    assert (job.status, job.total, job.done, job.failed) == (JobStatus.DONE, 7, 6, 1)
    assert job.images_per_s > 0
    outputs = ModelOutput.objects.filter(model_version=tiny_version)
    assert outputs.count() == 7
    failed = outputs.get(status=OutputStatus.FAILED)
    assert failed.case.key == case_set.cases.order_by("pk")[3].key
    assert ".jpg: OSError" in failed.error or "UnidentifiedImageError" in failed.error
    done = outputs.filter(status=OutputStatus.DONE)
    codes = list(case_set.taxonomy.conditions.values_list("code", flat=True))
    for output in done:
        assert set(output.probabilities) == set(codes)
        assert sum(output.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert output.top_codes[0] == max(output.probabilities, key=output.probabilities.get)
    two_images = done.get(case=case_set.cases.order_by("pk")[1])
    assert two_images.details["roles"] == ["clinical", "dermoscopic"]
    assert ImageEmbedding.objects.filter(model_version=tiny_version).count() == 8  # 6 good + 2 dermoscopic

    before = {o.pk: (o.probabilities, o.created_at) for o in done}
    with mock.patch.object(precompute.LoadedModel, "encode_images", autospec=True) as encode:
        rerun = _run(study, tiny_version, django_capture_on_commit_callbacks)
    assert rerun.pk != job.pk and rerun.status == JobStatus.DONE
    assert {o.pk: (o.probabilities, o.created_at) for o in outputs.filter(status=OutputStatus.DONE)} == before
    assert outputs.count() == 7
    assert encode.call_count == 0  # only the corrupt image was retried, and it never reaches the model
    assert study_ai_ready(study) and "1 of 7 cases" in study_ai_ready(study)[0]


def test_text_embeddings_computed_once_per_taxonomy_and_images_once_per_model(
    make_case_set, tiny_version, django_capture_on_commit_callbacks
):
    taxonomy = small_taxonomy()
    first = _study(make_case_set(3, taxonomy=taxonomy, seed=1), tiny_version)
    second = _study(make_case_set(2, taxonomy=taxonomy, seed=2), tiny_version)
    with mock.patch.object(precompute, "class_embeddings", wraps=precompute.class_embeddings) as text:
        _run(first, tiny_version, django_capture_on_commit_callbacks)
        precompute.clear_model_cache()  # a fresh worker process reads the stored vectors
        _run(second, tiny_version, django_capture_on_commit_callbacks)
    assert text.call_count == 1
    assert TextEmbedding.objects.count() == 1

    other_taxonomy = small_taxonomy(version="2")
    third = _study(make_case_set(2, taxonomy=other_taxonomy, seed=1), tiny_version)  # same images as `first`
    with mock.patch.object(precompute.LoadedModel, "encode_images", autospec=True) as images, \
            mock.patch.object(precompute, "class_embeddings", wraps=precompute.class_embeddings) as text:
        job = _run(third, tiny_version, django_capture_on_commit_callbacks)
    assert job.done == 2 and text.call_count == 1 and images.call_count == 0


def test_precompute_refuses_tampered_weights_with_a_stored_error(
    make_case_set, tiny_version, django_capture_on_commit_callbacks
):
    tiny_version.weights_sha256 = "f" * 64
    tiny_version.save(update_fields=["weights_sha256"])
    study = _study(make_case_set(2), tiny_version)
    job = _run(study, tiny_version, django_capture_on_commit_callbacks)
    assert job.status == JobStatus.FAILED and "ChecksumMismatch" in job.error
    assert not ModelOutput.objects.exists()


def test_simulated_assistant_precompute_is_labelled_and_seeded(make_case_set, django_capture_on_commit_callbacks):
    call_command("register_simulated", "sim", "--accuracy", "0.8", "--faulty-rate", "0.25")
    version = m.Study._meta.get_field("model_version").related_model.objects.get(name="sim")
    assert version.kind == ModelKind.SIMULATED and version.get_kind_display() == "Simulated assistant"
    study = _study(make_case_set(6), version)
    job = _run(study, version, django_capture_on_commit_callbacks)
    assert job.done == 6
    outputs = list(ModelOutput.objects.filter(model_version=version).order_by("case_id"))
    assert all(o.details["simulated"] and o.details["kind"] == "simulated" for o in outputs)
    assert study_ai_ready(study) == []
    assert study_outputs_freeze(study=study) == 6
    assert ModelOutput.objects.filter(frozen=True).count() == 6


def test_study_ai_ready_reports_missing_model_and_untrained_demo(make_case_set, tiny_model_dir):
    case_set = make_case_set(2)
    study = _study(case_set, None)
    assert "no model version" in study_ai_ready(study)[0]
    demo = model_register(path=tiny_model_dir, name="demo", kind=ModelKind.UNTRAINED_DEMO)
    study.model_version = demo
    study.save(update_fields=["model_version"])
    problems = study_ai_ready(study)
    assert any("untrained demo model" in p for p in problems)
    assert any("2 of 2 cases" in p for p in problems)
    unaided_only = StudyFactory(case_set=case_set)
    ArmFactory(study=unaided_only)
    assert study_ai_ready(unaided_only) == []


def test_calibrate_and_evaluate_store_their_results(make_case_set, tiny_version, capsys):
    case_set = make_case_set(8, dermoscopic=(0,))
    result = model_calibrate(model_version=tiny_version, case_set=case_set)
    tiny_version.refresh_from_db()
    assert tiny_version.calibrated and tiny_version.temperature == pytest.approx(result.temperature)
    assert result.nll_after <= result.nll_before + 1e-9
    assert set(tiny_version.calibration) >= {"ece_before", "ece_after", "nll_before", "nll_after", "case_set"}

    evaluation = model_evaluate(model_version=tiny_version, case_set=case_set, n_bootstrap=50)
    assert evaluation.results["n_cases"] == 8
    assert 0 <= evaluation.results["top1"]["value"] <= evaluation.results["top3"]["value"] <= 1

    call_command("evaluate_model", case_set.name, "--model", "tiny", "--bootstrap", "20")
    call_command("calibrate_model", "tiny", "--cases", case_set.name)
    out = capsys.readouterr().out
    assert "top-1 accuracy" in out and "temperature" in out
    assert ModelEvaluation.objects.count() == 2


def test_precompute_command_and_register_command(make_case_set, tiny_model_dir, capsys):
    call_command("register_model", str(tiny_model_dir), "--name", "cli-tiny")
    version = m.Study._meta.get_field("model_version").related_model.objects.get(name="cli-tiny")
    study = _study(make_case_set(3), version)
    call_command("precompute", study.slug, "--model", "cli-tiny")
    assert ModelOutput.objects.filter(model_version=version, status=OutputStatus.DONE).count() == 3
    assert "3 done, 0 failed of 3" in capsys.readouterr().out
