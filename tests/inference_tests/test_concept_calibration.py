"""Per-concept thresholds fitted on a labelled case set reach the concept display (issue 14, item 4)."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from common.models import AuditEvent
from inference.concept_calibration import concept_calibration, concept_labels, concepts_calibrate
from inference.concept_models import concept_text_embeddings, vocabulary
from inference.core.concepts import concept_scores
from inference.displays import current_digest
from inference.models import DisplayKind, DisplayOutput, JobStatus
from inference.services import display_precompute_start, model_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_version(tiny_model_dir):
    return model_register(path=tiny_model_dir, name="tiny-concepts")


def _label(case_set, present_every=2):
    """Every other case shows a papule; the others are labelled without one; plaque is labelled nowhere."""
    for i, case in enumerate(case_set.cases.order_by("pk")):
        case.extra = {"concepts": {"present": ["papule"]} if i % present_every == 0 else {"absent": ["papule"]}}
        case.save(update_fields=["extra"])


def test_thresholds_are_fitted_on_the_displayed_score_and_stored(make_case_set, tiny_version):
    case_set = make_case_set(8)
    _label(case_set)
    calibration = concepts_calibrate(model_version=tiny_version, case_set=case_set)

    papule = next(t for t in calibration.thresholds if t.code == "papule")
    plaque = next(t for t in calibration.thresholds if t.code == "plaque")
    assert (papule.n_positive, papule.n_negative) == (4, 4)
    assert plaque.status == "not_estimable" and plaque.reason == "no labels"
    # The cut lies between observed case scores (one image per case: the score is that image's).
    embeddings = concept_text_embeddings(tiny_version, vocabulary())
    from inference.precompute import iter_case_embeddings  # the same cached vectors the display reads

    cases = list(case_set.cases.prefetch_related("images").order_by("pk"))
    vectors = [item.by_role["clinical"][0] for chunk in iter_case_embeddings(cases, model_version=tiny_version,
                                                                            batch_size=4) for item in chunk]
    scores = concept_scores(np.stack(vectors), embeddings)[:, embeddings.codes.index("papule")]
    assert papule.status == "estimated", papule.reason
    assert scores.min() <= papule.threshold <= scores.max()
    tiny_version.refresh_from_db()
    assert concept_calibration(tiny_version).threshold_for("papule") == papule.threshold
    assert AuditEvent.objects.filter(action="model.calibrate_concepts").count() == 1


def test_the_concept_display_uses_the_calibration_and_its_row_changes(
    make_case_set, tiny_version, django_capture_on_commit_callbacks
):
    case_set = make_case_set(6)
    _label(case_set)
    before = current_digest(model_version=tiny_version, kind=DisplayKind.CONCEPTS, library_id=None)
    concepts_calibrate(model_version=tiny_version, case_set=case_set)
    tiny_version.refresh_from_db()
    after = current_digest(model_version=tiny_version, kind=DisplayKind.CONCEPTS, library_id=None)
    assert before != after  # displays made before the calibration are not reused

    with django_capture_on_commit_callbacks(execute=True):
        job = display_precompute_start(model_version=tiny_version, case_set=case_set, kinds=[DisplayKind.CONCEPTS])
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    row = DisplayOutput.objects.filter(model_version=tiny_version, kind=DisplayKind.CONCEPTS).first()
    assert row.params_sha256 == after
    findings = {f["code"]: f for f in row.payload["normal"]["findings"]}
    calibration = concept_calibration(tiny_version)
    papule_cut = calibration.threshold_for("papule")
    assert papule_cut is not None
    assert findings["papule"]["calibrated"] is True
    assert findings["papule"]["present"] == (findings["papule"]["score"] >= round(papule_cut, 4))
    assert findings["plaque"]["present"] is None  # no labels: no principled cut


def test_labels_name_the_case_and_a_set_without_labels_is_refused(make_case_set, tiny_version):
    case_set = make_case_set(2)
    case = case_set.cases.order_by("pk").first()
    codes = vocabulary().codes
    case.extra = {"concepts": ["papule", "not-a-concept"]}
    with pytest.raises(ValidationError, match=f"case {case.key}: concepts not in the vocabulary: not-a-concept"):
        concept_labels(case, codes)
    case.extra = {"concepts": {"present": ["papule"], "absent": ["papule"]}}
    with pytest.raises(ValidationError, match="both present and absent: papule"):
        concept_labels(case, codes)
    case.extra = {"concepts": ["papule"]}
    labels = concept_labels(case, codes)
    assert labels[codes.index("papule")] == 1.0 and np.isnan(labels[codes.index("plaque")])
    with pytest.raises(ValidationError, match="has concept labels"):
        concepts_calibrate(model_version=tiny_version, case_set=case_set)


def test_the_command_reports_what_it_estimated(make_case_set, tiny_version, capsys):
    case_set = make_case_set(4)
    _label(case_set)
    call_command("calibrate_concepts", tiny_version.name, "--cases", case_set.name)
    assert "concept thresholds estimated on 4 cases" in capsys.readouterr().out
