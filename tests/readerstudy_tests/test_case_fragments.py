"""The case page's rendered parts are kept per process (views.case_fragments.case_parts) and shared by the
readers of a case: what is served must be exactly what a fresh render shows that reader's item.

Blinding first: the same case in an AI arm and an unaided arm, and the two phases of a sequential
case, each get their own parts whichever is rendered first; readers of the same case and arm share
its images and AI panel, but each second look shows the reader's own first answer. Then: nothing
request-specific is kept (CSRF token, idempotency key), a form shown again with errors is neither
kept nor served from the cache, a changed study configuration is a different key, and an AI item
whose output has not arrived is not kept (the panel appears once the output does).
"""

from __future__ import annotations

import pickle
import re
import uuid

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inference.models import ModelOutput
from readerstudy import models as m
from tests.factories import MembershipFactory, UserFactory
from tests.readerstudy_tests.reader_setup import AI_NAMES, build_study, post_data
from tests.readerstudy_tests.test_blinding import assert_no_ai

pytestmark = pytest.mark.django_db


KEY_RE = re.compile(r'name="idempotency_key" value="([0-9a-f-]{36})"')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _kept() -> dict:
    """What the per-process cache holds (LocMemCache keeps pickled values in ``_cache``)."""
    return {key: pickle.loads(value) for key, value in caches["fragments"]._cache.items()}


def _second_reader(built, arm: m.Arm):
    """Another reader of the same study whose only item is the first case, in `arm`."""
    membership = MembershipFactory(study=built.study, user=UserFactory(), reader_index=1,
                                   consented_at=timezone.now(), demographics_done=True, instructions_seen=True)
    m.ScheduleItem.objects.create(study=built.study, membership=membership, case=built.cases[0], arm=arm,
                                  position=0, phase=1)
    return membership.user


@pytest.mark.parametrize("ai_first", [True, False], ids=["ai-reader-first", "unaided-reader-first"])
def test_same_case_in_an_ai_and_an_unaided_arm_never_shares_the_ai_panel(client, ai_first):
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=2, arm_order=["ai", "unaided"])
    unaided_user = _second_reader(built, built.unaided)
    url = reverse("reader:case", args=[built.study.slug])
    order = [built.user, unaided_user] if ai_first else [unaided_user, built.user]
    pages = {}
    for user in order * 2:  # each reader twice: the second time from the cache
        client.force_login(user)
        pages.setdefault(user.pk, []).append(client.get(url))
    for response in pages[unaided_user.pk]:
        assert response.status_code == 200
        assert_no_ai(response.content)
    for response in pages[built.user.pk]:
        assert all(name in response.content.decode() for name in AI_NAMES)
    assert len(_media()) == 2  # the case's images and AI panel: one entry per arm


def _media() -> dict:
    return {key: value for key, value in _kept().items() if "case-media:" in key}


def test_readers_of_the_same_case_and_arm_share_its_rendered_media(client):
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=1, arm_order=["ai"], images=True)
    other = _second_reader(built, built.ai)
    url = reverse("reader:case", args=[built.study.slug])
    client.force_login(built.user)
    first = client.get(url).content.decode()
    client.force_login(other)
    with CaptureQueriesContext(connection) as ctx:
        second = client.get(url).content.decode()
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "modeloutput" not in sql and "caseimage" not in sql  # served from the first reader's render
    assert all(name in second for name in AI_NAMES)
    assert KEY_RE.search(first).group(1) != KEY_RE.search(second).group(1)
    items = re.findall(r'name="item_id" value="(\d+)"', first + second)
    assert len(set(items)) == 2  # each reader answers their own schedule item


def test_each_reader_sees_their_own_first_answer_on_the_second_look(client):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=1)
    other = MembershipFactory(study=built.study, user=UserFactory(), reader_index=1, consented_at=timezone.now(),
                              demographics_done=True, instructions_seen=True)
    theirs = [m.ScheduleItem.objects.create(study=built.study, membership=other, case=built.cases[0], arm=arm,
                                            position=phase - 1, phase=phase)
              for phase, arm in ((1, built.unaided), (2, built.ai))]
    url = reverse("reader:case", args=[built.study.slug])
    for user, item, codes, name in ((built.user, built.items[0], ("BCC",), "Basal cell carcinoma"),
                                    (other.user, theirs[0], ("NEV",), "Melanocytic naevus")):
        client.force_login(user)
        client.get(url)
        assert client.post(url, post_data(item, str(uuid.uuid4()), codes=codes)).status_code == 302
        page = client.get(url).content.decode()
        assert f"First answer (locked):</strong> {name}" in page
        assert page.count('value="Basal cell carcinoma"') == (1 if name == "Basal cell carcinoma" else 0)


def test_sequential_phases_of_one_case_are_kept_apart(client):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=2)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    for _ in range(2):
        first_look = client.get(url)
        assert_no_ai(first_look.content)
    response = client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("NEV", "BCC")))
    assert response.status_code == 302
    for _ in range(2):
        second_look = client.get(url).content.decode()
        assert all(name in second_look for name in AI_NAMES)
        assert "First answer (locked):" in second_look and "Basal cell carcinoma" in second_look
        assert f'name="item_id" value="{built.items[1].pk}"' in second_look


def test_nothing_request_specific_is_kept(client):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=1)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    one, two = client.get(url).content.decode(), client.get(url).content.decode()
    keys = KEY_RE.findall(one) + KEY_RE.findall(two)
    assert len(keys) == 2 and keys[0] != keys[1]  # a fresh idempotency key per render
    kept = "".join(_kept().values())
    assert kept and keys[0] not in kept and keys[1] not in kept
    assert "csrfmiddlewaretoken" not in kept
    assert CSRF_RE.search(one) and CSRF_RE.search(two)


def test_a_form_with_errors_is_rendered_fresh_and_not_kept(client):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=1)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    before = _kept()
    bad = post_data(built.items[0], str(uuid.uuid4()), codes=("BCC",), confidence="9")
    response = client.post(url, bad)
    assert response.status_code == 422
    text = response.content.decode()
    assert 'class="error"' in text and 'value="Basal cell carcinoma"' in text  # the reader's input kept
    assert _kept() == before
    again = client.get(url).content.decode()
    assert 'class="error"' not in again and 'value="Basal cell carcinoma"' not in again


def test_a_changed_study_configuration_is_rendered_again(client):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=1, settings_={"ask_malignancy": True})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    assert 'id="malignancy-range"' in client.get(url).content.decode()
    m.Study.objects.filter(pk=built.study.pk).update(settings={"ask_malignancy": False})
    assert 'id="malignancy-range"' not in client.get(url).content.decode()
    assert len([key for key in _kept() if "case-answer:" in key]) == 2


def test_an_ai_item_without_its_output_yet_is_not_kept(client):
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=1, arm_order=["ai"])
    output = ModelOutput.objects.get(case=built.cases[0])
    saved = {f.attname: getattr(output, f.attname) for f in ModelOutput._meta.concrete_fields}
    output.delete()
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    assert_no_ai(client.get(url).content)
    assert _media() == {}
    ModelOutput.objects.create(**saved)
    page = client.get(url).content.decode()
    assert all(name in page for name in AI_NAMES)
    assert len(_media()) == 1


def test_a_readers_draft_and_other_text_never_enter_a_shared_part(client):
    """A draft (with an "Other / not listed" text) is rendered for its reader only: not kept, and never
    served to another reader of the same case and arm."""
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=1, arm_order=["ai"])
    other = _second_reader(built, built.ai)
    url = reverse("reader:case", args=[built.study.slug])
    client.force_login(other)
    client.get(url)  # the shared parts are cached by another reader first
    client.force_login(built.user)
    client.get(url)
    draft_url = reverse("reader:case_draft", args=[built.study.slug])
    saved = client.post(draft_url, {"item_id": str(built.items[0].pk), "dx": ["OTHER", "BCC"],
                                    "other_text": "Secret words of reader one", "confidence": "2"})
    assert saved.status_code == 204
    mine = client.get(url).content.decode()
    assert 'value="Secret words of reader one"' in mine and 'value="Basal cell carcinoma"' in mine
    assert "Secret words" not in "".join(_kept().values())
    client.force_login(other)
    theirs = client.get(url).content.decode()
    assert "Secret words" not in theirs and 'value="Basal cell carcinoma"' not in theirs
