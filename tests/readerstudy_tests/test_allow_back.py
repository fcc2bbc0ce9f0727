"""allow_back: readers may skip a case and return to it; answers stay final, phase order holds."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from readerstudy import models as m
from tests.readerstudy_tests.reader_setup import build_study, post_data

pytestmark = pytest.mark.django_db


def item_on_page(response) -> int:
    text = response.content.decode()
    marker = 'name="item_id" value="'
    start = text.index(marker) + len(marker)
    return int(text[start:text.index('"', start)])


def test_without_allow_back_the_page_is_always_the_current_case(client):
    built = build_study(design=m.Design.PARALLEL, n_cases=3)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    page = client.get(url, {"item": built.items[2].pk})
    assert item_on_page(page) == built.items[0].pk
    assert b"Skip this case" not in page.content


def test_skip_and_come_back(client):
    built = build_study(design=m.Design.PARALLEL, n_cases=3, settings_={"allow_back": True})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    first = client.get(url)
    assert item_on_page(first) == built.items[0].pk
    assert f"?item={built.items[1].pk}".encode() in first.content  # "skip" goes to the next open case
    skipped_to = client.get(url, {"item": built.items[1].pk})
    assert item_on_page(skipped_to) == built.items[1].pk
    client.post(url, post_data(built.items[1], str(uuid.uuid4())))
    assert m.Reading.objects.filter(schedule_item=built.items[1]).exists()
    # Back on the skipped first case; the answered one can't be reopened.
    assert item_on_page(client.get(url)) == built.items[0].pk
    assert item_on_page(client.get(url, {"item": built.items[1].pk})) == built.items[0].pk


def test_sequential_phase_two_cannot_be_opened_before_phase_one(client):
    built = build_study(n_cases=2, settings_={"allow_back": True})  # sequential: p1, p2, p1, p2
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    assert item_on_page(client.get(url, {"item": built.items[1].pk})) == built.items[0].pk
    page = client.get(url)
    # Skipping phase 1 of case 1 leads to phase 1 of case 2, never to case 1's AI phase.
    assert f"?item={built.items[2].pk}".encode() in page.content
    assert f"?item={built.items[1].pk}".encode() not in page.content


def test_another_readers_item_is_not_reachable(client):
    built = build_study(design=m.Design.PARALLEL, n_cases=2, settings_={"allow_back": True})
    other = build_study(design=m.Design.PARALLEL, n_cases=2, settings_={"allow_back": True})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    assert item_on_page(client.get(url, {"item": other.items[1].pk})) == built.items[0].pk
