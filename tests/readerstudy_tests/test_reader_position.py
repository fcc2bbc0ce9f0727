"""reader_position: the reader's current item and progress in one hand-written statement, checked
against a plain count over the schedule rows (random schedules, random answered subsets, other
readers' rows in the same tables)."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from django.utils import timezone

from readerstudy import models as m
from readerstudy.selectors.position import Progress, reader_position
from tests.factories import MembershipFactory, UserFactory
from tests.readerstudy_tests.reader_setup import build_study

pytestmark = pytest.mark.django_db


def _answer(item: m.ScheduleItem) -> None:
    now = timezone.now()
    m.Reading.objects.create(schedule_item=item, idempotency_key=uuid.uuid4(), differential=["NEV"],
                             shown_at=now, submitted_at=now)


def _expected(items: list[m.ScheduleItem], answered: set[int]) -> tuple[int | None, Progress]:
    open_items = sorted((i for i in items if i.pk not in answered), key=lambda i: i.position)
    current = open_items[0] if open_items else None
    total, done = len(items), sum(1 for i in items if i.pk in answered)
    cases = sum(1 for i in items if i.phase == 1)
    number = cases if current is None else sum(1 for i in items if i.phase == 1 and i.position <= current.position)
    return (current.pk if current else None), Progress(done=done, total=total, number=max(1, min(number, cases)),
                                                       cases=cases)


@pytest.mark.parametrize("seed", range(8))
def test_position_matches_a_count_over_the_rows(seed):
    rng = random.Random(seed)
    design = rng.choice([m.Design.SEQUENTIAL, m.Design.RANDOMISED_BLOCKS])
    built = build_study(design=design, n_cases=rng.randint(1, 6))
    other = MembershipFactory(study=built.study, user=UserFactory(), reader_index=1)  # rows that must not count
    for pos, case in enumerate(built.cases):
        item = m.ScheduleItem.objects.create(study=built.study, membership=other, case=case, arm=built.unaided,
                                             position=pos, phase=1)
        if rng.random() < 0.5:
            _answer(item)
    answered = {i.pk for i in built.items if rng.random() < rng.choice([0.0, 0.3, 0.7, 1.0])}
    for item in built.items:
        if item.pk in answered:
            _answer(item)
    shown = dt.datetime(2026, 11, 29, 6, 30, 15, 123000, tzinfo=dt.UTC)
    m.ScheduleItem.objects.filter(membership=built.membership).update(shown_at=shown, training=True)

    position = reader_position(built.membership)

    expected_pk, expected_progress = _expected(built.items, answered)
    assert position.progress == expected_progress
    assert (position.item.pk if position.item else None) == expected_pk
    if position.item is not None:  # the row is loaded as the ORM would load it
        fresh = m.ScheduleItem.objects.get(pk=expected_pk)
        for field in m.ScheduleItem._meta.concrete_fields:
            assert getattr(position.item, field.attname) == getattr(fresh, field.attname), field.name
        assert position.item.shown_at == shown and position.item.training is True
        assert position.item.membership is built.membership and position.item.study is built.membership.study
        assert not hasattr(position.item, "total")


def test_a_reader_without_a_schedule_has_no_item():
    built = build_study(n_cases=1)
    lone = MembershipFactory(study=built.study, user=UserFactory(), reader_index=2)
    position = reader_position(lone)
    assert position.item is None
    assert (position.progress.done, position.progress.total, position.progress.cases) == (0, 0, 0)
    assert position.progress.complete
