"""Idempotent submit under concurrent requests on PostgreSQL: exactly one reading per item."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections

from common.models import AuditEvent
from readerstudy import models as m
from readerstudy.services.readings import reading_submit
from tests.readerstudy_tests.reader_setup import answer, build_study

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_parallel(built, item, keys):
    """Submit once per key, all threads released together, each with its own connection."""
    barrier = threading.Barrier(len(keys))
    results, errors = [], []

    def worker(key):
        try:
            barrier.wait(timeout=10)
            membership = m.Membership.objects.get(pk=built.membership.pk)
            target = m.ScheduleItem.objects.get(pk=item.pk)
            results.append(reading_submit(membership=membership, item=target, payload=answer(), idempotency_key=key))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def test_parallel_submits_with_same_and_different_keys_make_one_reading(postgres):
    assert connection.vendor == "postgresql"
    built = build_study(design=m.Design.PARALLEL)
    shared = uuid.uuid4()
    keys = [shared] * 6 + [uuid.uuid4() for _ in range(6)]
    results, errors = run_parallel(built, built.items[0], keys)
    assert not errors, errors
    assert len(results) == len(keys)
    assert m.Reading.objects.count() == 1
    reading = m.Reading.objects.get()
    assert {r.pk for r, _ in results} == {reading.pk}
    assert sum(created for _, created in results) == 1
    assert AuditEvent.objects.filter(action="reading.submit").count() == 1


def test_parallel_submits_over_http_make_one_reading(postgres):
    """Two browsers' worth of requests through the real stack (separate connections per thread)."""
    from django.test import Client
    from django.urls import reverse

    from tests.readerstudy_tests.reader_setup import post_data

    built = build_study(design=m.Design.PARALLEL)
    url = reverse("reader:case", args=[built.study.slug])
    opener = Client()
    opener.force_login(built.user)
    opener.get(url)
    barrier = threading.Barrier(8)
    statuses = []

    def worker(key):
        client = Client()
        client.force_login(built.user)
        barrier.wait(timeout=10)
        response = client.post(url, post_data(built.items[0], key), HTTP_HX_REQUEST="true")
        statuses.append((key, response.status_code))
        connections.close_all()

    keys = [str(uuid.uuid4())] * 4 + [str(uuid.uuid4()) for _ in range(4)]
    threads = [threading.Thread(target=worker, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert m.Reading.objects.filter(schedule_item=built.items[0]).count() == 1
    winner = str(m.Reading.objects.get(schedule_item=built.items[0]).idempotency_key)
    # Requests carrying the stored reading's key succeed (retries); any other key is a stale tab: 409.
    assert len(statuses) == 8
    assert all(code == (200 if key == winner else 409) for key, code in statuses), statuses
