"""The shaping of a precomputed AI display (malignancy gauge, similar cases, concept findings, learned
concepts) into what the reader is shown, with the arm's options applied.

Called only by :mod:`readerstudy.selectors.blinding` after the blinding rule has decided the item
shows AI: nothing here decides *whether* a display is shown. Every function reads the frozen
``DisplayOutput.payload`` (``{"normal": P, "faulty": P}``, written by the precompute); nothing is
computed from embeddings on request. Kept apart from blinding.py so the one blinding rule stays short.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from inference.core.knn import tally
from inference.models import DisplayKind, DisplayOutput, ModelVersion, OutputStatus

DIFFERENTIAL = "differential"
DEFAULT_N_SIMILAR = 12
DEFAULT_N_CONCEPTS = 8
# Displays shown next to the differential (concepts: "next to, not instead of"; learned concepts
# explain the top-1 and top-2 classes). The gauge and the gallery are alternatives to it.
WITH_DIFFERENTIAL = frozenset({DIFFERENTIAL, DisplayKind.CONCEPTS, DisplayKind.LEARNED_CONCEPTS})


def display_kind(assist: Mapping[str, Any]) -> str:
    """The arm's display (the differential unless the arm names another)."""
    return str(assist.get("display") or DIFFERENTIAL)


def display_output(*, model: ModelVersion, case_id: int, kind: str, library_id: int | None) -> DisplayOutput | None:
    """The finished display of `case_id` by `model` (for similar cases: against the study's library).

    Frozen rows first (what a launched study has shown stays what it shows), then the newest."""
    rows = DisplayOutput.objects.filter(model_version=model, case_id=case_id, kind=kind, status=OutputStatus.DONE)
    if kind == DisplayKind.SIMILAR_CASES:
        rows = rows.filter(library_id=library_id)
    return rows.order_by("-frozen", "-pk").first()


def _percent(value: float) -> int:
    return round(100 * float(value))


def shape_malignancy(payload: Mapping[str, Any], assist: Mapping[str, Any]) -> dict[str, Any]:
    """The gauge: the arm's ``threshold``, when set, replaces the precomputed one (flag = value >= threshold)."""
    value = float(payload["value"])
    threshold = float(assist["threshold"]) if assist.get("threshold") is not None else float(payload["threshold"])
    return {"value": round(value, 4), "percent": _percent(value), "threshold": round(threshold, 4),
            "threshold_percent": _percent(threshold), "malignant": value >= threshold,
            "calibrated": bool(payload.get("calibrated")), "source": str(payload.get("source", ""))}


def shape_similar(payload: Mapping[str, Any], assist: Mapping[str, Any], names: Mapping[str, str],
                  query_images: Mapping[str, int]) -> dict[str, Any]:
    """The first ``n_similar`` neighbours; groups and vote recomputed over exactly those shown, so
    the grouping and the vote never speak of images the reader cannot see."""
    n = int(assist.get("n_similar") or DEFAULT_N_SIMILAR)
    shown = list(payload.get("neighbours") or [])[:n]
    neighbours = [
        {"rank": rank, "image_id": int(nb["image_id"]), "diagnosis": str(nb["diagnosis"]),
         "name": names.get(str(nb["diagnosis"]), str(nb["diagnosis"])), "similarity": round(float(nb["similarity"]), 4),
         "query_image_id": query_images.get(str(nb.get("query_image") or ""))}
        for rank, nb in enumerate(shown, start=1)
    ]
    groups, vote = tally([(nb["diagnosis"], nb["similarity"]) for nb in neighbours])
    by_rank = {nb["rank"]: nb for nb in neighbours}
    out: dict[str, Any] = {"neighbours": neighbours, "n": len(neighbours)}
    if assist.get("group_by_diagnosis"):
        out["groups"] = [{"diagnosis": g.diagnosis, "name": names.get(g.diagnosis, g.diagnosis), "count": g.count,
                          "neighbours": [by_rank[r] for r in g.ranks]} for g in groups]
    if assist.get("knn_vote"):
        out["vote"] = [{"diagnosis": code, "name": names.get(code, code), "share": round(share, 4),
                        "percent": _percent(share)} for code, share in vote.distribution]
    return out


def shape_concepts(payload: Mapping[str, Any], assist: Mapping[str, Any]) -> dict[str, Any]:
    """The ``n_concepts`` strongest findings, strongest first (ties: vocabulary order)."""
    n = int(assist.get("n_concepts") or DEFAULT_N_CONCEPTS)
    findings = sorted(enumerate(payload.get("findings") or []), key=lambda p: (-float(p[1]["strength"]), p[0]))
    chips = [{"code": str(f["code"]), "name": str(f["name"]), "strength": round(float(f["strength"]), 4),
              "strength_percent": _percent(f["strength"]), "present": bool(f.get("present"))}
             for _, f in findings[:n]]
    return {"findings": chips, "vocabulary_version": str(payload.get("vocabulary_version", ""))}


def shape_learned(payload: Mapping[str, Any], assist: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """Per top-1 and top-2 class, the latents contributing most (the artefact-robust re-score when the
    arm asks for it and the precompute made one)."""
    robust = bool(assist.get("artefact_robust")) and isinstance(payload.get("artefact_robust"), Mapping)
    source = payload["artefact_robust"] if robust else payload
    classes = []
    for entry in list(source.get("classes") or [])[:2]:
        code = str(entry["code"])
        latents = [{"index": int(lat["index"]), "name": str(lat["name"]),
                    "contribution": round(float(lat["contribution"]), 4),
                    "top_images": [int(i) for i in lat.get("top_images") or []]}
                   for lat in entry.get("latents") or []]
        classes.append({"code": code, "name": names.get(code, str(entry.get("name") or code)), "latents": latents,
                        "residual": round(float(entry.get("residual") or 0.0), 4)})
    return {"concept_model": str(payload.get("concept_model") or source.get("concept_model") or ""),
            "classes": classes, "artefact_robust": robust}


def payload_codes(kind: str, payload: Mapping[str, Any]) -> list[str]:
    """The condition codes a payload names (for their names in the reader's language)."""
    if kind == DisplayKind.SIMILAR_CASES:
        return [str(nb["diagnosis"]) for nb in payload.get("neighbours") or []]
    if kind == DisplayKind.LEARNED_CONCEPTS:
        robust = payload.get("artefact_robust") if isinstance(payload.get("artefact_robust"), Mapping) else {}
        return [str(c["code"]) for c in [*(payload.get("classes") or []), *(robust.get("classes") or [])]]
    return []


def shape(kind: str, payload: Mapping[str, Any], assist: Mapping[str, Any], names: Mapping[str, str],
          query_images: Mapping[str, int]) -> dict[str, Any]:
    """The shown form of one variant's payload of display `kind`."""
    if kind == DisplayKind.MALIGNANCY:
        return shape_malignancy(payload, assist)
    if kind == DisplayKind.SIMILAR_CASES:
        return shape_similar(payload, assist, names, query_images)
    if kind == DisplayKind.CONCEPTS:
        return shape_concepts(payload, assist)
    if kind == DisplayKind.LEARNED_CONCEPTS:
        return shape_learned(payload, assist, names)
    raise ValueError(f"unknown display {kind!r}")


def library_image_ids(ai: Mapping[str, Any] | None) -> set[int]:
    """Every library image a shown display names (gallery images, learned concepts' top images):
    the only library images the reader may fetch."""
    if not ai:
        return set()
    payload = ai.get("payload") or {}
    ids = {int(nb["image_id"]) for nb in payload.get("neighbours") or []}
    for entry in payload.get("classes") or []:
        for latent in entry.get("latents") or []:
            ids.update(int(i) for i in latent.get("top_images") or [])
    return ids


def valid_opened(ai: Mapping[str, Any] | None, posted: Iterable[Any]) -> list[int]:
    """The posted enlarged-image ids that were in the shown display, in first-opened order, once each."""
    allowed = library_image_ids(ai)
    out: list[int] = []
    for raw in posted:
        try:
            image_id = int(raw)
        except (TypeError, ValueError):
            continue
        if image_id in allowed and image_id not in out:
            out.append(image_id)
    return out


def with_image_urls(ai: dict[str, Any] | None, url: Callable[[int], str]) -> dict[str, Any] | None:
    """A copy of the display with each library image's URL beside its id (for the reader API):
    ``url``/``thumbnail_url`` on gallery neighbours, ``top_image_urls`` on learned concepts."""
    if not ai or not ai.get("payload"):
        return ai
    out = copy.deepcopy(ai)
    payload = out["payload"]
    for nb in [*payload.get("neighbours", []), *(n for g in payload.get("groups", []) for n in g["neighbours"])]:
        nb["thumbnail_url"] = url(nb["image_id"])
        nb["url"] = nb["thumbnail_url"] + "?size=full"
    for entry in payload.get("classes") or []:
        for latent in entry.get("latents") or []:
            latent["top_image_urls"] = [url(i) for i in latent.get("top_images") or []]
    return out
