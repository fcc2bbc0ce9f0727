"""The demo's four-arm study of AI display types: unaided, top-3 differential, similar cases, concepts.

One randomised-blocks study on the demo cases with the simulated assistant: each reader reads blocks
of cases cycling through the four arms, so a study compares how AI help is *shown* (Tschandl et al.
2020 compared probabilities, malignancy and similar-case retrieval the same way). Its similar-cases
arm searches the demo reference library (:mod:`readerstudy.demo.library`). Outputs and displays are
precomputed by the study service, as a coordinator's *Precompute* button does, before launch.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from django.db import transaction

from catalog.models import CaseSet, Taxonomy
from readerstudy.models import ArmKind, Role, Study, StudyStatus
from readerstudy.services.studies import ArmSpec

DISPLAY_SLUG = "demo-displays"
DISPLAY_TITLE = "Demo: AI display types (unaided, top-3, similar cases, concepts)"
DISPLAY_BLOCK_SIZE = 5  # blocks of 5 cases cycle through the four arms
DISPLAY_ARMS = (
    ArmSpec(name="unaided", label="Unaided", kind=ArmKind.UNAIDED),
    ArmSpec(name="top3", label="AI: top-3 differential", kind=ArmKind.AI,
            assist={"display": "differential", "top_k": 3, "show_probabilities": True, "faulty_rate": 0.0}),
    ArmSpec(name="similar", label="AI: similar cases", kind=ArmKind.AI,
            assist={"display": "similar_cases", "n_similar": 12, "knn_vote": True, "group_by_diagnosis": False,
                    "faulty_rate": 0.0}),
    ArmSpec(name="concepts", label="AI: concept findings", kind=ArmKind.AI,
            assist={"display": "concepts", "n_concepts": 8, "top_k": 3, "show_probabilities": True,
                    "faulty_rate": 0.0}),
)
DISPLAY_DESCRIPTION = (
    "Demo study comparing AI display types in randomised blocks: no AI, the top-3 differential, similar "
    "cases from a reference library, and findings the model sees (concepts). Procedurally drawn cases and "
    "a simulated AI assistant."
)


def display_study_slug(cases: int, seed: int) -> str:
    return DISPLAY_SLUG if (cases, seed) == (40, 2026) else f"{DISPLAY_SLUG}-{cases}-{seed}"


def display_study_seed(*, case_set: CaseSet, taxonomy: Taxonomy, model, coordinator, statistician, readers,
                       texts: dict[str, str], opts: dict) -> tuple[Study, list[str]]:
    """The four-arm study (made, precomputed and launched once); returns it and what was done."""
    from readerstudy.demo.library import reference_library_build, tag_study_cases
    from readerstudy.services import studies as svc

    notes = []
    slug = display_study_slug(opts["cases"], opts["seed"])
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        tag_study_cases(case_set)
        library, made = reference_library_build(case_set=case_set, taxonomy=taxonomy, model_version=model,
                                                 seed=opts["seed"], image_size=opts["image_size"])
        if made:
            notes.append(f"Drew the reference library {library.name!r}: {library.cases.count()} cases.")
        quota = min(opts["cases"], 40) if opts["cases"] > 40 else None
        with transaction.atomic():
            study = svc.study_create(
                actor=coordinator, title=DISPLAY_TITLE, slug=slug, case_set=case_set,
                design="randomised_blocks", description=DISPLAY_DESCRIPTION, arms=list(DISPLAY_ARMS),
                instructions=texts["instructions"], consent_text=texts["consent"], seed=opts["seed"],
                settings={"top_k": 3, "quota": quota, "block_size": DISPLAY_BLOCK_SIZE, "feedback": False},
                model_version=model,
            )
            # The study services do not edit the library yet; a draft's field, set before precompute.
            study.reference_library = library
            study.save(update_fields=["reference_library"])
            svc.membership_add(study=study, user=statistician, role=Role.STATISTICIAN, actor=coordinator)
    enrolled = set(study.memberships.filter(role=Role.READER).values_list("user_id", flat=True))
    for reader in readers:
        if reader.pk not in enrolled:
            svc.reader_enrol(study=study, user=reader, actor=coordinator)
    if study.status == StudyStatus.DRAFT:
        notes.append(precompute(study, coordinator))
        svc.study_launch(study=study, actor=coordinator)
    return study, notes


def precompute(study: Study, actor) -> str:
    """Outputs and displays of every arm through the study service, computed here and now.

    The service queues jobs (sent when the transaction commits); the seed runs them in this process,
    as the zero-setup demo's eager Celery does, even with a broker set: resending whatever is still
    queued in eager mode also runs the jobs whose send waits for an outer transaction (in a test).
    The jobs are idempotent, so a worker that got the same message skips what is done.
    """
    from common.queueing import requeue_pending
    from readerstudy.services.studies.ai import study_ai_ready, study_precompute_start

    with _eager_tasks():
        job = study_precompute_start(study=study, actor=actor)
        requeue_pending(min_age=dt.timedelta(0))
    problems = study_ai_ready(study)
    job.refresh_from_db()
    return f"Precomputed {study.slug}: outputs job {job.pk} {job.status}" + (
        f"; not ready: {' '.join(problems)}" if problems else "; outputs and displays ready.")


@contextlib.contextmanager
def _eager_tasks():
    """Celery tasks run in this process while the block runs (the project's app, restored after)."""
    from common.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before
