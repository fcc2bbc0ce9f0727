"""Reads of a study's AI outputs and its precompute jobs (the inference app knows case sets, not studies)."""

from __future__ import annotations

from django.db.models import QuerySet

from inference.models import ModelOutput, PrecomputeJob
from inference.selectors import finished_outputs
from inference.selectors import precompute_job_latest as job_latest
from readerstudy.models import Study


def outputs_for_study(study: Study) -> QuerySet[ModelOutput]:
    """Finished outputs of the study's model for the study's cases, in its taxonomy."""
    return finished_outputs(model_version_id=study.model_version_id, case_set_id=study.case_set_id,
                            taxonomy_id=study.case_set.taxonomy_id)


def output_for_case(*, study: Study, case_id: int) -> ModelOutput | None:
    return outputs_for_study(study).filter(case_id=case_id).first()


def precompute_job_latest(*, study: Study) -> PrecomputeJob | None:
    """The newest job of the study's model on the study's case set (whoever started it)."""
    if study.model_version_id is None:
        return None
    return job_latest(model_version_id=study.model_version_id, case_set_id=study.case_set_id)
