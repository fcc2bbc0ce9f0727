"""Builders for the AI display tests: a reference library with images and precomputed DisplayOutput
rows in the spec's payload format (/work/helpers/ISSUE14_SPEC.md), with distinctive values to look
for in responses (the normal and the faulty variant differ in every value)."""

from __future__ import annotations

from catalog import models as cm
from inference.models import DisplayKind
from readerstudy import models as m
from tests.factories import CaseFactory, CaseSetFactory, DisplayOutputFactory
from tests.readerstudy_tests.reader_setup import Built, add_images, build_study

N_LIBRARY = 16
# Library diagnoses by neighbour rank (normal variant); the faulty one leads with TIN.
NORMAL_DX = ["PSO"] * 7 + ["SK"] * 5 + ["NEV"] * 4
FAULTY_DX = ["TIN"] * 9 + ["SK"] * 4 + ["NEV"] * 3
GAUGE = {"normal": 0.7345, "faulty": 0.1234}
CONCEPT_NAMES = {"normal": ("Zyxscale", "Zyxplaque", "Zyxcrust"), "faulty": ("Qwvveil", "Qwvnetwork", "Qwvdots")}
LATENT_NAMES = {"normal": ("Latzeta", "Latkappa"), "faulty": ("Latomega", "Latsigma")}
# What no response for a closed, unaided or first-look item may contain (besides the library image ids).
DISPLAY_NEEDLES = ("data-ai-display", "data-gauge", "data-neighbour", "data-concept", "data-show-ai", "/library/",
                   "0.7345", "0.1234", "73%", *CONCEPT_NAMES["normal"], *CONCEPT_NAMES["faulty"],
                   *LATENT_NAMES["normal"], *LATENT_NAMES["faulty"])


def make_library(taxonomy: cm.Taxonomy) -> tuple[cm.CaseSet, list[cm.CaseImage]]:
    """A reference library of N_LIBRARY one-image cases labelled by NORMAL_DX."""
    library = CaseSetFactory(taxonomy=taxonomy, reference_library=True, name="Reference library")
    images = []
    for i, code in enumerate(NORMAL_DX):
        case = CaseFactory(case_set=library, key=f"LIB{i:03d}", reference=taxonomy.conditions.get(code=code))
        images += add_images(case, roles=("dermoscopic",), size=48)
    return library, images


def _gauge(value: float) -> dict:
    return {"value": value, "raw_value": value, "threshold": 0.5, "malignant": value >= 0.5, "calibrated": True,
            "source": "taxonomy", "threshold_rule": "youden"}


def _gallery(case: cm.Case, images: list[cm.CaseImage], dx: list[str], order: list[int]) -> dict:
    query = case.images.order_by("order").first()
    neighbours = [{"rank": r, "image_id": images[j].pk, "sha256": images[j].sha256, "case_key": f"LIB{j:03d}",
                   "diagnosis": dx[r - 1], "similarity": round(0.95 - 0.01 * r, 4),
                   "query_image": query.sha256 if query else ""} for r, j in enumerate(order, start=1)]
    return {"case_key": case.key, "n": len(neighbours), "merge": "max", "near_duplicate_cosine": 0.98,
            "rule": "nearest", "excluded": {}, "neighbours": neighbours, "groups": [], "vote": {}}


def _concepts(names: tuple[str, ...]) -> dict:
    strengths = (0.91, 0.55, 0.33)
    findings = [{"code": f"c{i}", "name": name, "kind": "morphology", "score": s, "strength": s, "threshold": 0.5,
                 "calibrated": False, "present": s >= 0.5} for i, (name, s) in enumerate(zip(names, strengths, strict=True))]
    return {"vocabulary_version": "1", "fingerprint": "x", "logit_scale": 100.0, "findings": findings}


def _learned(names: tuple[str, ...], codes: tuple[str, str], images: list[cm.CaseImage], start: int) -> dict:
    classes = [{"code": code, "name": code, "residual": 0.1,
                "latents": [{"index": 10 + k, "name": names[k], "contribution": 0.4 - 0.1 * k,
                             "top_images": [images[start + k].pk, images[start + k + 2].pk]}]}
               for k, code in enumerate(codes)]
    return {"concept_model": "sae-test", "classes": classes, "artefact_robust": {"classes": classes[:1]}}


def add_displays(built: Built, library_images: list[cm.CaseImage]) -> None:
    """Every display kind for every study case, by the study's model."""
    for case in built.cases:
        DisplayOutputFactory(model_version=built.model, case=case, kind=DisplayKind.MALIGNANCY,
                             payload={v: _gauge(g) for v, g in GAUGE.items()})
        DisplayOutputFactory(model_version=built.model, case=case, kind=DisplayKind.SIMILAR_CASES,
                             library=built.study.reference_library, payload={
                                 "normal": _gallery(case, library_images, NORMAL_DX, list(range(N_LIBRARY))),
                                 "faulty": _gallery(case, library_images, FAULTY_DX,
                                                    list(range(N_LIBRARY - 1, -1, -1)))})
        DisplayOutputFactory(model_version=built.model, case=case, kind=DisplayKind.CONCEPTS,
                             payload={v: _concepts(names) for v, names in CONCEPT_NAMES.items()})
        DisplayOutputFactory(model_version=built.model, case=case, kind=DisplayKind.LEARNED_CONCEPTS, payload={
            "normal": _learned(LATENT_NAMES["normal"], ("PSO", "TIN"), library_images, 0),
            "faulty": _learned(LATENT_NAMES["faulty"], ("TIN", "SK"), library_images, 8)})


def build_display_study(*, design: str, display: str, assist: dict | None = None, n_cases: int = 2,
                        arm_order: list[str] | None = None, settings_: dict | None = None) -> Built:
    """A launched study whose AI arm shows `display` (arm options `assist`), with a library and displays.

    The reader's first item is unaided (or a sequential first look), the second shows AI."""
    if arm_order is None and design != m.Design.SEQUENTIAL:
        arm_order = ["unaided", "ai"] + ["unaided"] * (n_cases - 2)
    built = build_study(design=design, n_cases=n_cases, arm_order=arm_order, images=True, settings_=settings_)
    library, images = make_library(built.study.case_set.taxonomy)
    m.Study.objects.filter(pk=built.study.pk).update(reference_library=library)
    built.study.refresh_from_db()
    m.Arm.objects.filter(pk=built.ai.pk).update(assist={"top_k": 3, "show_probabilities": True, "display": display,
                                                        **(assist or {})})
    built.ai.refresh_from_db()
    for item in built.items:
        item.refresh_from_db()
    built.extra["library"] = library
    built.extra["library_images"] = images
    add_displays(built, images)
    return built
