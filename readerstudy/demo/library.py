"""The demo's reference library: procedurally drawn cases labelled by the generator that drew them.

A similar-cases display searches a *reference library*: a case set with verified labels, kept apart
from the study's cases (``CaseSet.reference_library``). The demo has no real one, so it draws one with
the same painter as the demo cases (:mod:`readerstudy.demo.images`): the label of each library case is
the condition the painter was asked to draw, so the labels are right by construction, and a simulated
assistant's gallery (library images whose diagnosis matches its displayed ranking) is coherent.

Which conditions the library holds follows the study it serves: the conditions its cases are and the
ones its assistant ranks first or second (:func:`condition_weights`), strongest first, so every gallery
finds images of the diagnoses it shows. A few library cases are *earlier pictures of a study case's own
lesion* (same ``patient_id`` and ``lesion_id`` in ``Case.extra``): the similar-cases precompute must
leave them out, and its ``excluded`` counts show it did. :func:`library_plan` is the pure part.
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from catalog.models import Case, CaseSet, Taxonomy

MAX_LIBRARY_CASES = 64  # x 2 pictures (clinical, dermoscopic): at most 128 library images, plus follow-ups
FOLLOW_UPS = 3          # library cases that are another picture of a study case's lesion
LABEL_SOURCE = "generator"  # Case.extra["label_source"]: the drawn condition, right by construction


@dataclass(frozen=True)
class LibraryEntry:
    """One library case to draw: its condition, skin type, and who it belongs to."""

    key: str
    condition: str
    skin_tone: int
    patient_id: str
    lesion_id: str
    follow_up_of: str = ""  # the study case whose lesion this is another picture of


def condition_weights(references: Iterable[str], rankings: Iterable[Sequence[str]]) -> Counter:
    """Weight 2 per study case of a condition, 2 per time the assistant ranks it first, 1 per time second.

    Every condition the assistant shows first thus weighs at least 2 and gets two library cases (four
    images), as many as any other: its images lead the gallery and win the neighbours' vote.
    """
    weights: Counter = Counter()
    for code in references:
        weights[code] += 2
    for ranking in rankings:
        for code, weight in zip(ranking[:2], (2, 1), strict=False):
            weights[code] += weight
    return weights


def library_plan(
    weights: Mapping[str, int],
    *,
    study_cases: Sequence[tuple[str, str, int]],
    seed: int,
    max_cases: int = MAX_LIBRARY_CASES,
    follow_ups: int = FOLLOW_UPS,
) -> list[LibraryEntry]:
    """The library cases to draw: two per condition of weight >= 2, one per condition of weight 1,
    strongest first (ties by code) within `max_cases`, then `follow_ups` earlier pictures of the first
    study cases' lesions. `study_cases` are (key, condition, skin tone), in key order.

    Library patients are distinct from the study's, except the follow-ups; every fourth library
    patient has two lesions, so "same patient" and "same lesion" are different exclusions.
    """
    rng = random.Random(seed)
    ranked = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    conditions = [code for code, weight in ranked for _ in range(2 if weight >= 2 else 1) if weight > 0]
    entries = []
    for i, code in enumerate(conditions[:max_cases]):
        patient = i - 1 if i % 4 == 1 else i  # every fourth patient comes back with a second lesion
        entries.append(LibraryEntry(key=f"LIB-{i + 1:04d}", condition=code,
                                    skin_tone=rng.choice([1, 2, 2, 3, 3, 4, 5, 6]),
                                    patient_id=f"LIB-PT-{patient + 1:04d}", lesion_id=f"LIB-LS-{i + 1:04d}"))
    for key, code, tone in study_cases[:follow_ups]:
        ids = study_case_ids(key)
        entries.append(LibraryEntry(key=f"LIB-{len(entries) + 1:04d}", condition=code, skin_tone=tone,
                                    patient_id=ids["patient_id"], lesion_id=ids["lesion_id"], follow_up_of=key))
    return entries


def study_case_ids(key: str) -> dict[str, str]:
    """The patient and lesion id a demo study case carries in ``Case.extra`` (one lesion per patient)."""
    return {"patient_id": f"PT-{key}", "lesion_id": f"LS-{key}"}


# ---------------------------------------------------------------- Django side


def tag_study_cases(case_set: CaseSet) -> int:
    """Give each case of the demo study's case set its patient and lesion id (kept when present)."""
    cases = [case for case in case_set.cases.all() if "patient_id" not in case.extra]
    for case in cases:
        case.extra = {**case.extra, **study_case_ids(case.key)}
    Case.objects.bulk_update(cases, ["extra"])
    return len(cases)


def library_name(case_set: CaseSet) -> str:
    return f"Reference library for {case_set.name}"[:200]


def reference_library_build(*, case_set: CaseSet, taxonomy: Taxonomy, model_version, seed: int,
                            image_size: int) -> tuple[CaseSet, bool]:
    """The library of `case_set`'s study (drawn and imported once; returns it and whether it was made).

    The assistant's rankings (its finished outputs on `case_set`, when there are any) weigh the
    conditions, so galleries hold images of the diagnoses the display names.
    """
    from catalog.services.case_import import case_import
    from inference.models import ModelOutput, OutputStatus

    name = library_name(case_set)
    existing = CaseSet.objects.filter(name=name, reference_library=True).first()
    if existing is not None:
        return existing, False
    cases = list(case_set.cases.select_related("reference").order_by("key"))
    rankings = ModelOutput.objects.filter(model_version=model_version, case__case_set=case_set,
                                          status=OutputStatus.DONE).values_list("top_codes", flat=True)
    weights = condition_weights([c.reference.code for c in cases], rankings)
    plan = library_plan(weights, study_cases=[(c.key, c.reference.code, c.fitzpatrick or 3) for c in cases],
                        seed=seed)
    conditions = {c.code: c for c in taxonomy.conditions.all()}
    with tempfile.TemporaryDirectory(prefix="seed-library-") as tmp:
        folder = Path(tmp)
        rows = [_draw(entry, conditions[entry.condition], folder, seed, image_size) for entry in plan]
        manifest = folder / "manifest.csv"
        with manifest.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        report = case_import(manifest=manifest, images=folder, case_set_name=name, taxonomy=taxonomy,
                             description="Reference library of procedurally drawn lesions, labelled by the "
                                         "generator that drew them; not real patients.")
    library = report.case_set
    CaseSet.objects.filter(pk=library.pk).update(reference_library=True)
    library.reference_library = True
    by_key = {entry.key: entry for entry in plan}
    rows = list(library.cases.all())
    for case in rows:
        entry = by_key[case.key]
        case.extra = {"patient_id": entry.patient_id, "lesion_id": entry.lesion_id, "label_source": LABEL_SOURCE,
                      **({"follow_up_of": entry.follow_up_of} if entry.follow_up_of else {})}
    Case.objects.bulk_update(rows, ["extra"])
    return library, True


def _draw(entry: LibraryEntry, condition, folder: Path, seed: int, size: int) -> dict[str, object]:
    from readerstudy.demo.images import draw_case_images

    images = draw_case_images(condition_code=condition.code, group=condition.group, malignant=condition.malignant,
                              skin_tone=entry.skin_tone, seed=seed * 7_919 + int(entry.key[4:]), size=size)
    for role, data in images.items():
        (folder / f"{entry.key}-{role}.jpg").write_bytes(data)
    rng = random.Random(f"{seed}:{entry.key}")
    return {
        "case_id": entry.key,
        "clinical_image": f"{entry.key}-clinical.jpg",
        "dermoscopic_image": f"{entry.key}-dermoscopic.jpg",
        "age": rng.randint(18, 88),
        "sex": rng.choice("FM"),
        "fitzpatrick": entry.skin_tone,
        "history": ("Earlier picture of the same lesion as study case " + entry.follow_up_of) if entry.follow_up_of
        else "Reference library case (drawn; labelled by the generator).",
        "reference_code": condition.code,
        "reference_source": "histopathology" if condition.malignant else "expert_panel",
    }
