"""The case page and the submit issue a constant number of queries, whatever the study size.

The same reader journey (phase 1 page, submit, phase 2 page with the AI panel, htmx submit that
renders the next case) runs in a small and a large study; each step must issue exactly as many
queries in both, and stay under a ceiling that catches a new N+1 or a chatty template.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog import models as cm
from readerstudy import models as m
from readerstudy.selectors.taxonomy import taxonomy_cache_clear
from tests.factories import MembershipFactory, UserFactory
from tests.readerstudy_tests.reader_setup import add_images, build_study, post_data

BACKEND = "django.contrib.auth.backends.ModelBackend"
SMALL, LARGE = 3, 60
EXTRA_READERS_LARGE = 8
# Ceilings per step: the counts measured (savepoints, the audit rows and the first load of the cached
# taxonomy lookups included; 14 / 32 / 18 / 45 before the case page was trimmed). More means a regression.
# A case whose parts another request has rendered in this process (any reader of the case, or this
# reader reloading) takes them from the per-process cache: session, user, the reader's membership and
# one statement for their position and progress; a second look also reads the reader's first answer.
MAX_QUERIES = {"get phase 1": 12, "get phase 1 again": 4, "submit": 16, "get phase 2 (AI)": 12,
               "get phase 2 again": 5, "submit (htmx, next case)": 23}


def _study(n_cases: int, extra_readers: int):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=n_cases, settings_={"ask_malignancy": True})
    for case in built.cases[:2]:
        add_images(case, size=64)
    for r in range(extra_readers):  # more readers and schedule rows: the tables grow, the page must not care
        membership = MembershipFactory(study=built.study, user=UserFactory(), reader_index=r + 1,
                                       consented_at=built.membership.consented_at, demographics_done=True,
                                       instructions_seen=True)
        m.ScheduleItem.objects.bulk_create([
            m.ScheduleItem(study=built.study, membership=membership, case=case, arm=arm, position=2 * i + phase - 1,
                           phase=phase)
            for i, case in enumerate(built.cases) for phase, arm in ((1, built.unaided), (2, built.ai))
        ])
    return built


def _journey(client, built) -> dict[str, int]:
    # Taxonomy lookups are cached per process; start each journey cold so both sizes count the load.
    taxonomy_cache_clear()
    url = reverse("reader:case", args=[built.study.slug])
    client.force_login(built.user, backend=BACKEND)
    counts = {}

    def step(name, call, expect):
        with CaptureQueriesContext(connection) as ctx:
            response = call()
        assert response.status_code == expect, (name, response.status_code)
        counts[name] = len(ctx.captured_queries)

    step("get phase 1", lambda: client.get(url), 200)
    step("get phase 1 again", lambda: client.get(url), 200)
    data = post_data(built.items[0], str(uuid.uuid4()), malignancy="30")
    step("submit", lambda: client.post(url, data), 302)
    step("get phase 2 (AI)", lambda: client.get(url), 200)
    step("get phase 2 again", lambda: client.get(url), 200)
    data = post_data(built.items[1], str(uuid.uuid4()), malignancy="30")
    step("submit (htmx, next case)", lambda: client.post(url, data, HTTP_HX_REQUEST="true"), 200)
    assert m.Reading.objects.filter(schedule_item__membership=built.membership).count() == 2
    return counts


@pytest.mark.django_db
def test_case_page_and_submit_queries_do_not_grow_with_study_size(client):
    small = _journey(client, _study(SMALL, 0))
    client.logout()
    large = _journey(client, _study(LARGE, EXTRA_READERS_LARGE))
    assert small == large, f"query counts differ with study size: small {small}, large {large}"
    over = {step: n for step, n in large.items() if n > MAX_QUERIES[step]}
    assert not over, f"more queries than the ceiling {MAX_QUERIES}: {over}"


@pytest.mark.django_db
def test_image_view_is_a_fixed_small_number_of_queries(client, django_assert_max_num_queries):
    built = _study(SMALL, 0)
    client.force_login(built.user, backend=BACKEND)
    client.get(reverse("reader:case", args=[built.study.slug]))
    image = cm.CaseImage.objects.filter(case=built.items[0].case).first()
    url = reverse("reader:image", args=[built.study.slug, image.pk])
    with django_assert_max_num_queries(6):
        response = client.get(url)
    assert response.status_code == 200
    assert response.get("ETag") and "max-age" in response.get("Cache-Control", "")
    revalidated = client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert revalidated.status_code == 304
