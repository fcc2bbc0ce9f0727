"""Database constraints for what must never happen, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from common.models import AuditEvent
from readerstudy.models import Arm, Reading, ScheduleItem
from tests.factories import CaseFactory, MembershipFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def item():
    study = StudyFactory()
    arm = Arm.objects.create(study=study, name="unaided", label="Unaided", kind="unaided")
    case = CaseFactory(case_set=study.case_set)
    membership = MembershipFactory(study=study)
    return ScheduleItem.objects.create(study=study, membership=membership, case=case, arm=arm, position=0)


def reading(item, **extra) -> Reading:
    now = timezone.now()
    values = {"confidence": 3, **extra}
    return Reading.objects.create(schedule_item=item, idempotency_key=uuid.uuid4(), differential=["MEL"],
                                  shown_at=now, submitted_at=now, **values)


def test_all_migrations_applied_and_none_missing():
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_one_reading_per_schedule_item(item):
    reading(item)
    with pytest.raises(IntegrityError), transaction.atomic():
        reading(item)


def test_readings_cannot_be_updated(item):
    r = reading(item)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        Reading.objects.filter(pk=r.pk).update(confidence=5)
    r.refresh_from_db()
    assert r.confidence == 3


def test_audit_events_cannot_be_updated():
    event = AuditEvent.objects.create(action="x")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="y")


def test_readings_cannot_be_deleted_on_postgres(postgres, item):
    r = reading(item)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        Reading.objects.filter(pk=r.pk).delete()
    assert Reading.objects.filter(pk=r.pk).exists()


@pytest.mark.parametrize("field,value", [("confidence", 6), ("confidence", 0), ("malignancy_score", 101)])
def test_reading_ranges(item, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        reading(item, **{field: value})


def test_schedule_position_unique_and_phase_valid(item):
    with pytest.raises(IntegrityError), transaction.atomic():
        ScheduleItem.objects.create(study=item.study, membership=item.membership, case=item.case, arm=item.arm,
                                    position=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        ScheduleItem.objects.create(study=item.study, membership=item.membership, case=item.case, arm=item.arm,
                                    position=1, phase=3)
