"""Resume: leaving and coming back shows the same current case, with its first shown time kept."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from common.models import AuditEvent
from readerstudy import models as m
from tests.readerstudy_tests.reader_setup import build_study, post_data

pytestmark = pytest.mark.django_db


def item_id_on(response) -> int:
    text = response.content.decode()
    marker = 'name="item_id" value="'
    start = text.index(marker) + len(marker)
    return int(text[start:text.index('"', start)])


def test_coming_back_shows_the_same_case_with_shown_at_unchanged():
    built = build_study(design=m.Design.PARALLEL)
    url = reverse("reader:case", args=[built.study.slug])
    first_visit = Client()
    first_visit.force_login(built.user)
    assert item_id_on(first_visit.get(url)) == built.items[0].pk
    shown_at = m.ScheduleItem.objects.get(pk=built.items[0].pk).shown_at
    assert shown_at is not None
    first_visit.logout()  # the browser was closed

    later = Client()
    later.force_login(built.user)
    response = later.get(reverse("reader:start", args=[built.study.slug]), follow=True)
    assert item_id_on(response) == built.items[0].pk
    assert m.ScheduleItem.objects.get(pk=built.items[0].pk).shown_at == shown_at
    assert AuditEvent.objects.filter(action="reader.item_shown").count() == 1
    # The reading records the first shown time, not the time of the resumed view.
    later.post(url, post_data(built.items[0], str(uuid.uuid4())))
    assert m.Reading.objects.get().shown_at == shown_at


def test_resume_after_some_cases_continues_at_the_next():
    built = build_study(design=m.Design.PARALLEL)
    client = Client()
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    client.post(url, post_data(built.items[0], str(uuid.uuid4())))
    page = client.get(url)
    assert item_id_on(page) == built.items[1].pk and b"Case 2 of 3" in page.content
    fresh = Client()
    fresh.force_login(built.user)
    assert item_id_on(fresh.get(url)) == built.items[1].pk


def test_resume_after_the_reveal_never_returns_to_phase_one():
    built = build_study()
    client = Client()
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    client.post(url, post_data(built.items[0], str(uuid.uuid4())))
    client.get(url)  # phase 2: AI revealed
    fresh = Client()
    fresh.force_login(built.user)
    page = fresh.get(url)
    assert item_id_on(page) == built.items[1].pk and b"Revise your answer" in page.content
    # A stale phase-1 form from the old tab cannot change the locked answer.
    client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("MEL",)))
    assert m.Reading.objects.get(schedule_item=built.items[0]).differential == ["NEV", "BCC"]
    assert m.Reading.objects.count() == 1


def test_remaining_time_continues_from_the_first_view():
    built = build_study(design=m.Design.PARALLEL, settings_={"time_limit_s": 60})
    url = reverse("reader:case", args=[built.study.slug])
    client = Client()
    client.force_login(built.user)
    client.get(url)
    shown_at = m.ScheduleItem.objects.get(pk=built.items[0].pk).shown_at
    m.ScheduleItem.objects.filter(pk=built.items[0].pk).update(shown_at=shown_at - dt.timedelta(seconds=45))
    page = Client()
    page.force_login(built.user)
    text = page.get(url).content.decode()
    assert "00:1" in text  # about 15 seconds left, not a fresh minute
