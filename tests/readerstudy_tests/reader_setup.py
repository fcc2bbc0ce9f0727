"""Builders for reader-side tests: a launched study with a schedule, images and precomputed AI output."""

from __future__ import annotations

import hashlib
import io
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageDraw, ImageFilter

from catalog import models as cm
from inference.models import ModelVersion
from readerstudy import models as m
from tests.factories import (
    ArmFactory,
    CaseFactory,
    CaseSetFactory,
    MembershipFactory,
    ModelOutputFactory,
    ModelVersionFactory,
    ScheduleItemFactory,
    StudyFactory,
    UserFactory,
)

# The precomputed AI output every case gets: distinctive names and numbers to look for in responses.
AI_TOP = (("PSO", 0.8731), ("TIN", 0.0912), ("SK", 0.0213))
AI_NAMES = ("Psoriasis", "Tinea corporis", "Seborrhoeic keratosis")
AI_NUMBERS = ("87%", "0.8731", "9%", "0.0912")
REFERENCE = "MEL"
REFERENCE_NAME = "Melanoma"


@dataclass
class Built:
    study: m.Study
    membership: m.Membership
    items: list[m.ScheduleItem]
    cases: list[cm.Case]
    unaided: m.Arm
    ai: m.Arm | None
    model: ModelVersion | None
    extra: dict = field(default_factory=dict)

    @property
    def user(self):
        return self.membership.user


def make_model(case_set: cm.CaseSet, *, calibrated: bool = True, kind: str = "simulated",
               top=AI_TOP, name: str | None = None) -> ModelVersion:
    model = ModelVersionFactory(
        name=name or f"sim-{case_set.pk}-{ModelVersion.objects.count()}", kind=kind, calibrated=calibrated
    )
    probabilities = {code: p for code, p in top}
    rest = 1.0 - sum(probabilities.values())
    others = [c for c in case_set.taxonomy.conditions.values_list("code", flat=True) if c not in probabilities]
    for code in others:
        probabilities[code] = round(rest / len(others), 4)
    for case in case_set.cases.all():
        ModelOutputFactory(model_version=model, case=case, taxonomy=case_set.taxonomy,
                           probabilities=probabilities, top_codes=[code for code, _ in top])
    return model


def lesion_png(seed: int, role: str, size: int = 900) -> bytes:
    """A synthetic skin-lesion picture (no real patient data): skin, an irregular pigmented patch."""
    rng = random.Random(seed * 7 + (1 if role == "dermoscopic" else 0))
    w, h = (size, size) if role == "dermoscopic" else (size, int(size * 0.75))
    skin = (rng.randint(200, 228), rng.randint(160, 185), rng.randint(135, 160))
    img = Image.new("RGB", (w, h), skin)
    draw = ImageDraw.Draw(img)
    for _ in range(400):  # skin texture
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randint(2, 9)
        shade = rng.randint(-10, 10)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(max(0, min(255, c + shade)) for c in skin))
    cx, cy = w / 2 + rng.randint(-40, 40), h / 2 + rng.randint(-30, 30)
    scale = 0.32 if role == "dermoscopic" else 0.14
    base_r = min(w, h) * scale
    points = []
    for i in range(48):
        angle = 2 * math.pi * i / 48
        radius = base_r * (1 + 0.18 * math.sin(3 * angle + seed) + rng.uniform(-0.08, 0.08))
        points.append((cx + radius * math.cos(angle), cy + radius * 0.85 * math.sin(angle)))
    draw.polygon(points, fill=(rng.randint(105, 130), rng.randint(62, 80), rng.randint(45, 60)))
    for _ in range(60 if role == "dermoscopic" else 20):  # darker globules / network
        a, d = rng.uniform(0, 2 * math.pi), rng.uniform(0, base_r * 0.8)
        x, y, r = cx + d * math.cos(a), cy + d * 0.85 * math.sin(a), rng.randint(3, 10)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rng.randint(60, 85), rng.randint(38, 50), rng.randint(30, 40)))
    img = img.filter(ImageFilter.GaussianBlur(2.2 if role == "dermoscopic" else 1.4))
    if role == "dermoscopic":  # the round field of view of a dermatoscope
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).ellipse((20, 20, w - 20, h - 20), fill=255)
        black = Image.new("RGB", (w, h), (12, 12, 12))
        img = Image.composite(img, black, mask)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def add_images(case: cm.Case, roles=("clinical", "dermoscopic"), size: int = 900) -> list[cm.CaseImage]:
    media = Path(settings.MEDIA_ROOT)
    images = []
    for order, role in enumerate(roles):
        data = lesion_png(case.pk + order, role, size)
        digest = hashlib.sha256(data).hexdigest()
        full = media / "cases" / f"{digest}.png"
        thumb = media / "thumbs" / f"{digest}.png"
        full.parent.mkdir(parents=True, exist_ok=True)
        thumb.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)
        small = Image.open(io.BytesIO(data))
        small.thumbnail((320, 320))
        small.save(thumb)
        width, height = Image.open(io.BytesIO(data)).size
        images.append(cm.CaseImage.objects.create(
            case=case, role=role, order=order, file=str(full.relative_to(media)),
            thumbnail=str(thumb.relative_to(media)), sha256=digest, width=width, height=height,
            original_name=f"{REFERENCE_NAME.lower()}_{order}.png",
        ))
    return images


def build_study(*, design: str = m.Design.SEQUENTIAL, n_cases: int = 3, settings_: dict | None = None,
                status: str = m.StudyStatus.LAUNCHED, with_model: bool = True, calibrated: bool = True,
                ready: bool = True, images: bool = False, user=None, arm_order: list[str] | None = None,
                sessions: list[int] | None = None, taxonomy: cm.Taxonomy | None = None, ai_top=AI_TOP) -> Built:
    """A study with one reader and a stored schedule.

    sequential: each case phase 1 unaided then phase 2 AI; randomised_blocks/crossover: arms from
    `arm_order` (default alternating unaided, ai); parallel/benchmark: all unaided. `taxonomy`
    (default: the small test one) with `ai_top` codes from it for the AI output.
    """
    case_set = CaseSetFactory(taxonomy=taxonomy) if taxonomy is not None else CaseSetFactory()
    reference = case_set.taxonomy.conditions.get(code=REFERENCE)
    cases = [CaseFactory(case_set=case_set, reference=reference, key=f"K{i:03d}") for i in range(n_cases)]
    model = make_model(case_set, calibrated=calibrated, top=ai_top) if with_model else None
    study = StudyFactory(case_set=case_set, design=design, status=status, settings=settings_ or {},
                         model_version=model, consent_text="You may stop at any time.")
    unaided = ArmFactory(study=study, name="unaided", label="Unaided", kind=m.ArmKind.UNAIDED, order=0)
    ai = None
    if design != m.Design.BENCHMARK:
        ai = ArmFactory(study=study, name="ai", label="AI", kind=m.ArmKind.AI, order=1,
                        assist={"top_k": 3, "show_probabilities": True})
    membership = MembershipFactory(study=study, user=user or UserFactory(), reader_index=0)
    if ready:
        from django.utils import timezone

        m.Membership.objects.filter(pk=membership.pk).update(
            consented_at=timezone.now(), demographics_done=True, instructions_seen=True
        )
        membership.refresh_from_db()
    plan = []
    if design == m.Design.SEQUENTIAL:
        for case in cases:
            plan += [(case, unaided, 1, 1), (case, ai, 2, 1)]
    else:
        arms = {"unaided": unaided, "ai": ai}
        order = arm_order or ["unaided" if i % 2 == 0 else "ai" for i in range(n_cases)]
        if design in (m.Design.PARALLEL, m.Design.BENCHMARK) and arm_order is None:
            order = ["unaided"] * n_cases
        for i, case in enumerate(cases):
            session = sessions[i] if sessions else 1
            plan.append((case, arms[order[i]], 1, session))
    items = [
        ScheduleItemFactory(study=study, membership=membership, case=case, arm=arm, position=pos,
                            phase=phase, session=session)
        for pos, (case, arm, phase, session) in enumerate(plan)
    ]
    if images:
        for case in cases:
            add_images(case)
    return Built(study=study, membership=membership, items=items, cases=cases, unaided=unaided, ai=ai,
                 model=model)


def answer(codes=("NEV", "BCC"), confidence=3, management="monitor", malignancy=None) -> dict:
    payload = {"differential": list(codes), "confidence": confidence, "management": management}
    if malignancy is not None:
        payload["malignancy"] = malignancy
    return payload


def post_data(item: m.ScheduleItem, key: str, codes=("NEV", "BCC"), confidence="3", management="monitor",
              **extra) -> dict:
    data = {"item_id": str(item.pk), "idempotency_key": key, "dx": list(codes), "confidence": confidence,
            "management": management, "active_ms": "4000"}
    data.update(extra)
    return data
