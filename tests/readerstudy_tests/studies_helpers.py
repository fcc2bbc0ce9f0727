"""Builders shared by the coordinator-side tests: studies made through the services, readings by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from catalog.models import Case, CaseSet
from inference.models import ModelKind, ModelOutput, ModelVersion
from readerstudy.models import Membership, Reading, ScheduleItem, Study
from readerstudy.services import studies
from tests.factories import CaseFactory, CaseSetFactory, ReadingFactory, UserFactory

CODES = ["MEL", "NEV", "BCC", "SK", "PSO", "TIN"]


def case_set_with(n_cases: int, name: str | None = None) -> CaseSet:
    case_set = CaseSetFactory(**({"name": name} if name else {}))
    for i in range(n_cases):
        CaseFactory(case_set=case_set, key=f"{case_set.pk}-K{i:03d}")
    return case_set


def model_version_for(case_set: CaseSet) -> ModelVersion:
    """A simulated model with a done output for every case (what an AI arm needs at launch)."""
    version, _ = ModelVersion.objects.get_or_create(name="test-sim", defaults={"kind": ModelKind.SIMULATED})
    for case in Case.objects.filter(case_set=case_set).select_related("reference"):
        probabilities = {code: 0.5 if code == case.reference.code else 0.1 for code in CODES}
        ModelOutput.objects.get_or_create(
            model_version=version,
            case=case,
            defaults={
                "taxonomy": case_set.taxonomy,
                "probabilities": probabilities,
                "top_codes": sorted(probabilities, key=lambda c: -probabilities[c]),
            },
        )
    return version


def make_study(
    *,
    design: str = "sequential",
    n_cases: int = 6,
    coordinator: Any = None,
    settings: dict | None = None,
    with_model: bool = True,
    arms: Sequence[studies.ArmSpec] | None = None,
    seed: int = 1234,
) -> Study:
    coordinator = coordinator or UserFactory()
    case_set = case_set_with(n_cases)
    return studies.study_create(
        actor=coordinator,
        title=f"{design} study",
        case_set=case_set,
        design=design,
        settings=settings or {},
        arms=arms,
        model_version=model_version_for(case_set) if with_model and design != "benchmark" else None,
        seed=seed,
        consent_text="Taking part is voluntary; you may stop at any time.",  # launch requires consent
    )


def enrol_readers(study: Study, n: int) -> list[Membership]:
    return [studies.reader_enrol(study=study, user=UserFactory(), actor=None) for _ in range(n)]


def submit(
    item: ScheduleItem,
    differential: Sequence[str],
    *,
    management: str = "",
    confidence: int | None = 3,
    seconds: float = 30.0,
    ai_snapshot: dict | None = None,
    malignancy: int | None = None,
    timed_out: bool = False,
) -> Reading:
    """A reading as the reader pages would store it (the reader service is not ours to call)."""
    return ReadingFactory(
        schedule_item=item,
        differential=list(differential),
        confidence=confidence,
        management=management,
        malignancy_score=malignancy,
        seconds=seconds,
        timed_out=timed_out,
        ai_snapshot=ai_snapshot,
    )
