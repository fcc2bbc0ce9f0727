"""A launched sequential study with every role the API distinguishes, built through the services.

Roles: anonymous, ``other`` (a reader of another study), ``reader`` (this study, ready to read,
nothing answered), ``statistician``, ``coordinator``; ``finished`` is a second reader of this study
whose whole schedule is answered (so exports and analyses have data).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import override_settings
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import CaseImage
from readerstudy.models import AnalysisRun, Membership, Role, ScheduleItem, Study
from readerstudy.services import studies
from readerstudy.services.reader_flow import (
    consent_record,
    demographics_save,
    instructions_seen,
    item_mark_shown,
)
from tests.factories import UserFactory
from tests.readerstudy_tests.studies_helpers import CODES, enrol_readers, make_study, submit

PROFILE = {"profession": "gp", "years_experience": 5, "dermoscopy_use": "sometimes", "country": "AT",
           "age_band": "30-39"}


@dataclass
class World:
    study: Study
    other_study: Study
    users: dict
    reader: Membership
    finished: Membership
    image: CaseImage
    run: AnalysisRun
    media_root: Path

    def client(self, role: str) -> APIClient:
        client = APIClient()
        if role != "anonymous":
            token, _ = Token.objects.get_or_create(user=self.users[role])
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client


def ready(membership: Membership) -> None:
    consent_record(membership=membership, agreed=True)
    demographics_save(membership=membership, data=PROFILE)
    instructions_seen(membership=membership)


def answer_everything(membership: Membership, seed: int = 0) -> None:
    """Every item answered: malignancy scores that separate malignant cases better with AI."""
    rng = random.Random(seed)
    items = ScheduleItem.objects.filter(membership=membership).select_related("case__reference", "arm")
    for item in items.order_by("position"):
        truth = item.case.reference
        boost = 15 if item.arm.kind == "ai" else 0
        malignancy = max(0, min(100, (55 + boost if truth.malignant else 40 - boost) + rng.randint(-30, 30)))
        first = truth.code if rng.random() < (0.8 if boost else 0.6) else rng.choice(CODES)
        rest = [c for c in CODES if c != first][:2]
        snapshot = {"items": [{"rank": 1, "code": truth.code}]} if item.arm.kind == "ai" and item.phase == 2 else None
        submit(item, [first, *rest], management="refer", confidence=3, malignancy=malignancy, ai_snapshot=snapshot)


def png_bytes(colour=(200, 120, 100)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def world_module(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once per module inside a transaction that is rolled back at the end of the module;
    each test runs in a savepoint inside it (pytest-django's ``db``), so tests stay independent."""
    media_root = tmp_path_factory.mktemp("api-media")
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS, MEDIA_ROOT=media_root):
        with transaction.atomic():
            built = build_world(media_root)
            yield built
            transaction.set_rollback(True)


@pytest.fixture
def world(world_module, db, settings) -> World:
    settings.MEDIA_ROOT = world_module.media_root
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return world_module


def build_world(media_root: Path) -> World:
    coordinator = UserFactory(username="coord")
    coordinator.user_permissions.add(*Permission.objects.filter(codename__in=["add_caseset", "add_study"]))
    study = make_study(design="sequential", n_cases=6, coordinator=coordinator,
                       settings={"ask_malignancy": True}, seed=7)
    statistician = UserFactory(username="stat")
    studies.membership_add(study=study, user=statistician, role=Role.STATISTICIAN, actor=coordinator)
    reader, finished = enrol_readers(study, 2)
    studies.study_launch(study=study, actor=coordinator)
    for membership in (reader, finished):
        membership.refresh_from_db()
        ready(membership)
    answer_everything(finished)

    other_study = make_study(design="benchmark", n_cases=2, seed=3)
    (other,) = enrol_readers(other_study, 1)

    first = ScheduleItem.objects.filter(membership=reader).select_related("membership__user", "study").order_by(
        "position").first()
    item_mark_shown(item=first)  # the reader has the first case open: its image is theirs to see
    relative = "cases/test.png"
    (media_root / "cases").mkdir(parents=True, exist_ok=True)
    (media_root / relative).write_bytes(png_bytes())
    image = CaseImage.objects.create(case=first.case, role="clinical", order=0, file=relative, thumbnail=relative,
                                     sha256="0" * 64, width=24, height=16)
    run = AnalysisRun.objects.create(study=study, params={"outcome": "correct_top1"}, status="done",
                                     results={"outcome": "correct_top1"}, created_by=statistician)
    users = {"coordinator": coordinator, "statistician": statistician, "reader": reader.user, "other": other.user,
             "finished": finished.user}
    return World(study=study, other_study=other_study, users=users, reader=reader, finished=finished, image=image,
                 run=run, media_root=media_root)
