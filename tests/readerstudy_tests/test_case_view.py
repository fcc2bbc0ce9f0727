"""The reader page and the reader API show a case through one presenter: same images, same order."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from readerstudy import models as m
from readerstudy.selectors.case_view import case_view, ordered_images
from tests.readerstudy_tests.reader_setup import add_images, build_study

pytestmark = pytest.mark.django_db


def test_images_are_in_reading_order_whatever_their_stored_order():
    built = build_study(design=m.Design.PARALLEL, n_cases=1)
    case = built.cases[0]
    # Stored dermoscopic first (order 0), the clinical image second: readers see the clinical one first.
    images = add_images(case, roles=("dermoscopic", "clinical", "other"), size=64)
    assert [image.role for image in ordered_images(case.pk)] == ["clinical", "dermoscopic", "other"]
    assert [image.pk for image in ordered_images(case.pk)] == [images[1].pk, images[0].pk, images[2].pk]


def test_page_and_api_list_the_same_images_in_the_same_order(client):
    built = build_study(design=m.Design.PARALLEL, n_cases=1)
    case = built.cases[0]
    add_images(case, roles=("dermoscopic", "clinical"), size=64)
    item = built.items[0]
    item.study = built.study
    expected = [image.pk for image in case_view(item).images]

    client.force_login(built.membership.user)
    page = client.get(reverse("reader:case", args=[built.study.slug])).content.decode()
    on_page = [int(pk) for pk in re.findall(r"/image/(\d+)/", page)]
    on_page = list(dict.fromkeys(on_page))  # thumbnail and full-size links name the same image

    api = APIClient()
    api.force_authenticate(built.membership.user)
    body = api.get(f"/api/v1/studies/{built.study.slug}/schedule/next/").json()
    in_api = [image["id"] for image in body["item"]["images"]]

    assert on_page == expected == in_api
    assert len(expected) == 2
