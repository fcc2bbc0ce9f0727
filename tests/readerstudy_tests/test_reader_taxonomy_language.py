"""The case page shows the taxonomy in the reader's language: AI panel condition names, management
labels, the locked first answer and the search index; English where there is no translation. Cached
case-page parts never cross languages, and a reading stays coded whatever language it was read in."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.urls import reverse

from catalog.services.taxonomy import default_taxonomy
from readerstudy import models as m
from tests.readerstudy_tests.reader_setup import build_study, post_data

pytestmark = pytest.mark.django_db
AI_TOP = (("PSO", 0.8731), ("TINEA_CORPORIS", 0.0912), ("SK", 0.0213))
NAMES = {
    "zh-hans": ("银屑病", "体癣", "脂溢性角化病", "转诊", "随访观察"),
    "de": ("Psoriasis", "Tinea corporis", "Seborrhoische Keratose", "Überweisen", "Beobachten / Verlaufskontrolle"),
    "es": ("Psoriasis", "Tiña corporal", "Queratosis seborreica", "Derivar al especialista", "Seguimiento"),
}


def _in(client, language: str) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language


def _built(**kwargs):
    return build_study(taxonomy=default_taxonomy(), ai_top=AI_TOP, **kwargs)


def test_ai_panel_and_management_in_the_readers_language_never_another_from_the_cache(client):
    built = _built(design=m.Design.RANDOMISED_BLOCKS, n_cases=1, arm_order=["ai"])
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    pages = {}
    for language in ("de", "zh-hans", "es", "de", "zh-hans", "es"):  # the second round from the cache
        _in(client, language)
        pages.setdefault(language, []).append(client.get(url).content.decode())
    for language, names in NAMES.items():
        others = {name for other, words in NAMES.items() if other != language for name in words} - set(names)
        for page in pages[language]:
            assert all(name in page for name in names), language
            assert not [name for name in others if name in page], (language, [n for n in others if n in page])
    _in(client, "en-gb")
    page = client.get(url).content.decode()
    assert "Seborrhoeic keratosis" in page and "脂溢性角化病" not in page


def test_the_search_index_is_in_the_readers_language_and_english(client):
    built = _built(design=m.Design.RANDOMISED_BLOCKS, n_cases=1, arm_order=["ai"])
    client.force_login(built.user)
    url = reverse("reader:conditions", args=[built.study.slug])
    _in(client, "zh-hans")
    response = client.get(url + "?lang=zh-hans")
    mel = response.json()["conditions"][0]
    assert mel["code"] == "MEL" and mel["name"] == "黑色素瘤" and mel["names"] == ["Melanoma"]
    assert "恶性黑色素瘤" in mel["synonyms"] and "malignant melanoma" in mel["synonyms"]
    assert "Accept-Language" in response["Vary"] and "Cookie" in response["Vary"]
    _in(client, "fr")
    assert client.get(url).json()["conditions"][0]["name"] == "Mélanome"
    page = client.get(reverse("reader:case", args=[built.study.slug])).content.decode()
    assert "?lang=fr" in page  # the page asks for its own language's index


def test_the_locked_first_answer_is_named_in_the_readers_language_and_the_reading_is_coded(client):
    built = _built(design=m.Design.SEQUENTIAL, n_cases=1)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    _in(client, "zh-hans")
    client.get(url)
    response = client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("BCC", "NEV")))
    assert response.status_code == 302
    reading = m.Reading.objects.get(schedule_item=built.items[0])
    assert list(reading.differential) == ["BCC", "NEV"] and reading.management == "monitor"
    page = client.get(url).content.decode()
    assert "基底细胞癌" in page and "色素痣" in page  # the first answer, locked, in Chinese
    _in(client, "es")
    page = client.get(url).content.decode()
    assert "Carcinoma basocelular" in page and "基底细胞癌" not in page
