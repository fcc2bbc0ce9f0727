"""Display precompute end to end (eager): every kind stored in the spec's payload shape, both variants,
exclusions, coherence of the faulty variant, reruns, simulated assistants, the study's launch checks."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from django.core.management import call_command

from catalog.models import CaseImage
from common.models import AuditEvent
from inference import precompute
from inference.concept_models import concept_model_artefact, concept_model_train, vocabulary
from inference.core.coherence import TOP1_SHORT
from inference.core.concept_profiles import profile
from inference.core.sae import SAEConfig
from inference.core.sae_explain import decompose_logit
from inference.models import (
    ConceptModel,
    DisplayJob,
    DisplayKind,
    DisplayOutput,
    ImageEmbedding,
    JobStatus,
    ModelOutput,
    OutputStatus,
)
from inference.services import (
    display_precompute_start,
    model_register,
    model_register_simulated,
    precompute_start,
)
from readerstudy import models as m
from readerstudy.services.studies.ai import study_ai_ready, study_outputs_freeze, study_precompute_start
from tests.factories import ArmFactory, StudyFactory

from .conftest import add_image, jpeg_bytes

pytestmark = pytest.mark.django_db

SMALL_SAE = SAEConfig(expansion=2, steps=60, batch_size=16, resample_every=0)
GAUGE_KEYS = {"value", "raw_value", "threshold", "malignant", "calibrated", "source", "threshold_rule"}
MALIGNANT = {"MEL", "BCC"}  # tests.factories.SMALL_CONDITIONS


@pytest.fixture(autouse=True)
def _no_near_duplicate_rule(settings):
    # The tiny random model maps all generated images within cosine 0.98 of each other; the rule itself
    # is tested in test_neighbours.py. Same-hash and same-patient exclusions still apply here.
    settings.INFERENCE_NEAR_DUPLICATE_COSINE = 1.0


@pytest.fixture
def tiny_version(tiny_model_dir):
    return model_register(path=tiny_model_dir, name="tiny")


@pytest.fixture
def library(make_case_set, settings):
    """60 library cases, 10 per condition of the small taxonomy, one image each."""
    case_set = make_case_set(60, seed=7)
    case_set.reference_library = True
    case_set.save(update_fields=["reference_library"])
    conditions = list(case_set.taxonomy.conditions.order_by("order"))
    for i, case in enumerate(case_set.cases.order_by("pk")):
        case.reference = conditions[i % len(conditions)]
        case.save(update_fields=["reference"])
    return case_set


def _study_cases(make_case_set, library, settings):
    """6 study cases (one with a dermoscopic image); the library gets a copy of case 0's image and a case
    of case 1's patient, both of which must never be shown for them."""
    case_set = make_case_set(6, dermoscopic=(2,), taxonomy=library.taxonomy)
    cases = list(case_set.cases.order_by("pk"))
    cases[1].extra = {"patient_id": "P-77"}
    cases[1].save(update_fields=["extra"])
    lib_cases = list(library.cases.order_by("pk"))
    twin = lib_cases[0]
    twin.images.all().delete()
    add_image(twin, jpeg_bytes(0), media_root=settings.MEDIA_ROOT)  # case 0's bytes (seed 0, index 0)
    lib_cases[1].extra = {"patient_id": "P-77"}
    lib_cases[1].save(update_fields=["extra"])
    return case_set, cases, twin, lib_cases[1]


def _run(django_capture_on_commit_callbacks, **kwargs) -> DisplayJob:
    with django_capture_on_commit_callbacks(execute=True):
        job = display_precompute_start(**kwargs)
    job.refresh_from_db()
    return job


def _outputs(django_capture_on_commit_callbacks, version, case_set):
    with django_capture_on_commit_callbacks(execute=True):
        precompute_start(model_version=version, case_set=case_set)
    return {o.case_id: o for o in ModelOutput.objects.filter(model_version=version, status=OutputStatus.DONE)}


def _faulty(probabilities: dict[str, float], hidden: str) -> dict[str, float]:
    rest = {c: p for c, p in probabilities.items() if c != hidden}
    total = sum(rest.values())
    return {c: p / total for c, p in rest.items()}


def _top(probs: dict[str, float], k: int = 1) -> list[str]:
    return [c for c, _ in sorted(probs.items(), key=lambda kv: (-kv[1], kv[0]))][:k]


def test_every_display_stored_with_both_variants_exclusions_and_coherent_faulty_items(
    make_case_set, library, settings, tiny_version, django_capture_on_commit_callbacks
):
    case_set, cases, twin, same_patient = _study_cases(make_case_set, library, settings)
    concept_model = concept_model_train(model_version=tiny_version, case_sets=[library], config=SMALL_SAE)
    outputs = _outputs(django_capture_on_commit_callbacks, tiny_version, case_set)
    job = _run(django_capture_on_commit_callbacks, model_version=tiny_version, case_set=case_set,
               kinds=list(DisplayKind.values), library=library)

    assert (job.status, job.total, job.done, job.failed) == (JobStatus.DONE, 6, 6, 0)
    assert job.images_per_s > 0
    rows = DisplayOutput.objects.filter(model_version=tiny_version)
    assert rows.count() == 24 and not rows.exclude(status=OutputStatus.DONE).exists()
    library_ids = {str(pk) for pk in CaseImage.objects.filter(case__case_set=library).values_list("pk", flat=True)}
    n_concepts = len(vocabulary().concepts)

    for case in cases:
        probs = {c: float(p) for c, p in outputs[case.pk].probabilities.items()}
        faulty = _faulty(probs, case.reference.code)
        by_kind = {row.kind: row for row in rows.filter(case=case)}
        for row in by_kind.values():
            assert set(row.payload) == {"normal", "faulty"}

        gauge = by_kind[DisplayKind.MALIGNANCY].payload
        assert set(gauge["normal"]) == GAUGE_KEYS
        # P(malignant) = P(MEL) + P(BCC) of the displayed vector; the faulty one has the reference removed.
        assert gauge["normal"]["raw_value"] == pytest.approx(sum(probs[c] for c in MALIGNANT), abs=2e-5)
        assert gauge["faulty"]["raw_value"] == pytest.approx(sum(faulty.get(c, 0.0) for c in MALIGNANT), abs=2e-5)
        assert gauge["faulty"]["malignant"] == (gauge["faulty"]["value"] >= 0.5)
        assert (gauge["normal"]["threshold"], gauge["normal"]["calibrated"]) == (0.5, False)
        if case.reference.code in MALIGNANT:
            assert gauge["faulty"]["raw_value"] < gauge["normal"]["raw_value"]

        similar = by_kind[DisplayKind.SIMILAR_CASES]
        assert similar.library_id == library.pk and similar.params["n"] == 16
        own = set(case.images.values_list("sha256", flat=True))
        for variant in ("normal", "faulty"):
            gallery = similar.payload[variant]
            assert gallery["n"] == 16 and [nb["rank"] for nb in gallery["neighbours"]] == list(range(1, 17))
            assert {nb["image_id"] for nb in gallery["neighbours"]} <= library_ids
            assert not own & {nb["sha256"] for nb in gallery["neighbours"]}
            assert all(nb["query_image"] in own for nb in gallery["neighbours"])
        normal_sims = [nb["similarity"] for nb in similar.payload["normal"]["neighbours"]]
        assert normal_sims == sorted(normal_sims, reverse=True)
        assert similar.payload["faulty"]["rule"] != TOP1_SHORT
        assert similar.payload["faulty"]["vote"]["winner"] == _top(faulty)[0]  # the gallery sides with the wrong top-1

        concepts = by_kind[DisplayKind.CONCEPTS].payload
        assert concepts["normal"]["vocabulary_version"] == vocabulary().version
        findings = concepts["normal"]["findings"]
        assert len(findings) == n_concepts and {"code", "name", "score", "strength", "present"} <= set(findings[0])
        scale = concepts["normal"]["logit_scale"]
        for f in findings:  # strength = sigmoid(logit_scale x score) with the uncalibrated threshold 0
            assert f["strength"] == pytest.approx(1 / (1 + np.exp(-scale * f["score"])), abs=2e-3)

        learned = by_kind[DisplayKind.LEARNED_CONCEPTS].payload
        for variant, vector in (("normal", probs), ("faulty", faulty)):
            display = learned[variant]
            assert display["concept_model"] == concept_model.name
            assert [c["code"] for c in display["classes"]] == _top(vector, 2)
            for cls in display["classes"]:
                contributions = [lat["contribution"] for lat in cls["latents"]]
                assert contributions == sorted(contributions, reverse=True) and all(x > 0 for x in contributions)
                assert all(set(lat["top_images"]) <= library_ids for lat in cls["latents"])
                assert isinstance(cls["residual"], float)
            assert set(display["artefact_robust"]) == {"dropped", "removed_share", "ranking", "classes"}

    excluded = {c.pk: rows.get(case=c, kind=DisplayKind.SIMILAR_CASES).payload["normal"]["excluded"] for c in cases[:2]}
    assert excluded[cases[0].pk]["same_image"] == 1  # the library's copy of case 0's image
    assert excluded[cases[1].pk]["same_patient"] == 1
    twin_ids = {str(pk) for pk in twin.images.values_list("pk", flat=True)}
    patient_ids = {str(pk) for pk in same_patient.images.values_list("pk", flat=True)}
    shown_0 = {nb["image_id"] for v in ("normal", "faulty")
               for nb in rows.get(case=cases[0], kind=DisplayKind.SIMILAR_CASES).payload[v]["neighbours"]}
    shown_1 = {nb["image_id"] for v in ("normal", "faulty")
               for nb in rows.get(case=cases[1], kind=DisplayKind.SIMILAR_CASES).payload[v]["neighbours"]}
    assert not shown_0 & twin_ids and not shown_1 & patient_ids

    # The vectorised split in the payload is sae_explain.decompose_logit's (one-image case 0, its top-1).
    artefact = concept_model_artefact(concept_model)
    codes, classes = precompute.class_embeddings_for(tiny_version, case_set.taxonomy)
    sha = cases[0].images.get().sha256
    x = np.frombuffer(bytes(ImageEmbedding.objects.get(model_version=tiny_version, image_sha256=sha).vector), np.float32)
    shown = rows.get(case=cases[0], kind=DisplayKind.LEARNED_CONCEPTS).payload["normal"]["classes"][0]
    reference = decompose_logit(artefact, x, classes[codes.index(shown["code"])],
                                logit_scale=precompute.loaded_model(tiny_version).logit_scale)
    assert shown["logit"] == pytest.approx(reference.logit, abs=1e-4)
    assert shown["residual"] == pytest.approx(reference.residual, abs=1e-4)
    assert [(lat["index"], lat["contribution"]) for lat in shown["latents"]] == [
        (c.latent, pytest.approx(c.contribution, abs=1e-4)) for c in reference.top(5)]


def test_rerun_is_a_no_op_and_runs_no_forward_pass(
    make_case_set, library, settings, tiny_version, django_capture_on_commit_callbacks
):
    case_set, _cases, _twin, _patient = _study_cases(make_case_set, library, settings)
    kinds = [DisplayKind.MALIGNANCY, DisplayKind.SIMILAR_CASES, DisplayKind.CONCEPTS]
    first = _run(django_capture_on_commit_callbacks, model_version=tiny_version, case_set=case_set, kinds=kinds,
                 library=library)
    assert (first.done, first.failed) == (6, 0)
    before = {row.pk: (row.payload, row.created_at) for row in DisplayOutput.objects.all()}
    assert len(before) == 18
    with mock.patch.object(precompute.LoadedModel, "encode_images", autospec=True) as encode:
        again = _run(django_capture_on_commit_callbacks, model_version=tiny_version, case_set=case_set, kinds=kinds,
                     library=library)
    assert again.pk != first.pk and (again.status, again.done, again.total) == (JobStatus.DONE, 6, 6)
    assert encode.call_count == 0
    assert {row.pk: (row.payload, row.created_at) for row in DisplayOutput.objects.all()} == before


def test_simulated_displays_are_coherent_with_the_displayed_ranking_and_seeded(
    make_case_set, library, django_capture_on_commit_callbacks
):
    version = model_register_simulated(name="sim", accuracy=0.8, faulty_rate=0.2, seed=3)
    case_set = make_case_set(10, taxonomy=library.taxonomy, seed=2)
    outputs = _outputs(django_capture_on_commit_callbacks, version, case_set)
    kinds = [DisplayKind.MALIGNANCY, DisplayKind.SIMILAR_CASES, DisplayKind.CONCEPTS]
    job = _run(django_capture_on_commit_callbacks, model_version=version, case_set=case_set, kinds=kinds,
               library=library)
    assert (job.done, job.failed) == (10, 0)
    groups = dict(library.taxonomy.conditions.values_list("code", "group"))
    codes = vocabulary().codes
    payloads = {}
    for row in DisplayOutput.objects.filter(model_version=version):
        payloads[(row.case_id, row.kind)] = row.payload
    for case in case_set.cases.all():
        probs = {c: float(p) for c, p in outputs[case.pk].probabilities.items()}
        for variant, vector in (("normal", probs), ("faulty", _faulty(probs, case.reference.code))):
            top1 = _top(vector)[0]
            gallery = payloads[(case.pk, DisplayKind.SIMILAR_CASES)][variant]
            assert gallery["vote"]["winner"] == top1 and gallery["n"] == 16
            assert sum(nb["diagnosis"] == top1 for nb in gallery["neighbours"]) >= 9
            findings = {f["code"]: f["strength"] for f in payloads[(case.pk, DisplayKind.CONCEPTS)][variant]["findings"]}
            own = profile(top1, groups[top1], codes)
            assert own and np.mean([findings[c] for c in own]) > np.mean([findings[c] for c in findings if c not in own])
        gauge = payloads[(case.pk, DisplayKind.MALIGNANCY)]["normal"]
        assert gauge["raw_value"] == pytest.approx(sum(probs[c] for c in MALIGNANT), abs=2e-5)

    DisplayOutput.objects.all().delete()  # same seed, same displays
    _run(django_capture_on_commit_callbacks, model_version=version, case_set=case_set, kinds=kinds, library=library)
    assert {(r.case_id, r.kind): r.payload for r in DisplayOutput.objects.all()} == payloads


def test_train_concepts_command_stores_an_audited_named_artefact(tiny_version, library, capsys):
    call_command("train_concepts", "tiny", "--cases", library.name, "--expansion", "2", "--steps", "40",
                 "--name", "tiny-sae")
    row = ConceptModel.objects.get(name="tiny-sae")
    assert "FVU" in capsys.readouterr().out
    assert row.case_sets == [library.name] and row.config["expansion"] == 2 and row.config["vocabulary"] == "1"
    artefact = concept_model_artefact(row)
    assert artefact.n_latents == 64 and artefact.n_train == 60  # 32-dim tiny model x 2; 60 distinct images
    assert row.stats["fvu"] == pytest.approx(artefact.fvu) and 0 <= row.stats["dead_fraction"] <= 1
    assert len(row.latent_names) == int(artefact.live.sum()) == row.stats["latents_named"]
    assert AuditEvent.objects.filter(action="inference.concept_model_train").count() == 1


def test_study_precompute_queues_every_arms_displays_and_launch_checks_them(
    make_case_set, library, tiny_version, django_capture_on_commit_callbacks
):
    sim = model_register_simulated(name="sim-arm", accuracy=0.7, seed=1)
    case_set = make_case_set(4, taxonomy=library.taxonomy, seed=3)
    study = StudyFactory(case_set=case_set, model_version=tiny_version)
    ArmFactory(study=study, name="unaided", kind=m.ArmKind.UNAIDED)
    ArmFactory(study=study, name="top3", kind=m.ArmKind.AI, order=1, assist={"top_k": 3})
    ArmFactory(study=study, name="gauge", kind=m.ArmKind.AI, order=2, assist={"display": "malignancy"})
    ArmFactory(study=study, name="similar", kind=m.ArmKind.AI, order=3, assist={"display": "similar_cases"})
    ArmFactory(study=study, name="concepts", kind=m.ArmKind.AI, order=4, assist={"display": "concepts"},
               model_version=sim)
    problems = study_ai_ready(study)
    assert any("no reference library" in p for p in problems)
    assert any("4 of 4 cases have no finished AI output from “sim-arm”" in p for p in problems)

    study.reference_library = library
    study.save(update_fields=["reference_library"])
    assert any("4 of 4 cases have no finished similar cases display" in p for p in study_ai_ready(study))
    with django_capture_on_commit_callbacks(execute=True):
        job = study_precompute_start(study=study)
    assert job.model_version_id == tiny_version.pk
    assert study_ai_ready(study) == []
    stored = DisplayOutput.objects.filter(status=OutputStatus.DONE)
    assert sorted(stored.values_list("model_version__name", "kind").distinct()) == [
        ("sim-arm", "concepts"), ("tiny", "malignancy"), ("tiny", "similar_cases")]
    assert stored.count() == 12

    assert study_outputs_freeze(study=study) == 8 + 12  # outputs of both models, and every display shown
    assert DisplayOutput.objects.filter(frozen=True).count() == 12

    ArmFactory(study=study, name="learned", kind=m.ArmKind.AI, order=5, assist={"display": "learned_concepts"})
    assert any("has no concept model" in p for p in study_ai_ready(study))
