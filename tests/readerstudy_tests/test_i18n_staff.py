"""Languages on the coordinator and statistician pages (issue 15, item 1).

- every user-visible word of a staff template (studies, imports, inference, analysis, interchange) is
  inside a translate tag: the same check as the reader path (``unmarked_words`` of test_i18n_reader);
- the Python-side strings those pages show (study tabs, form labels and help, view messages) are
  translated at request time, not frozen in English at import;
- the overview, progress, analyses and case-import pages render in German and in Chinese, with the
  headings of the shipped catalogues (``locale/translations/staff_<lang>.json`` merged into locale/ by
  ``make messages``), and stay in English by default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import translation

from readerstudy.forms.studies import InvitationForm, StudyForm
from readerstudy.models import Role
from readerstudy.services import studies
from readerstudy.views.nav import study_tabs
from tests.factories import UserFactory, small_taxonomy
from tests.readerstudy_tests.studies_helpers import make_study
from tests.readerstudy_tests.test_i18n_reader import unmarked_words

ROOT = Path(settings.BASE_DIR)
TEMPLATES = ROOT / "templates"
STAFF_TEMPLATES = sorted(
    path for folder in ("studies", "imports", "inference", "analysis", "interchange")
    for path in (TEMPLATES / folder).glob("*.html")
)
# Not language: statistics abbreviations used as such in every language.
STAFF_ALLOWED = {"df", "ORH", "DBM", "AUC", "ROC", "MRMC"}
# Manifest column names on the import page (<dt>case_id</dt>): identifiers a file must use verbatim.
IDENTIFIER_TERM = re.compile(r"<dt>[a-z_]+</dt>")
CODE = re.compile(r"<code>.*?</code>", re.S)


def staff_unmarked_words(source: str) -> list[str]:
    source = IDENTIFIER_TERM.sub("<dt></dt>", CODE.sub("<code></code>", source))
    return [word for word in unmarked_words(source) if word not in STAFF_ALLOWED]


def _catalogue(lang: str) -> dict:
    return json.loads((ROOT / "locale" / "translations" / f"staff_{lang}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", STAFF_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_staff_template_strings_are_marked(path):
    words = staff_unmarked_words(path.read_text(encoding="utf-8"))
    assert not words, f"{path.relative_to(ROOT)}: text outside {{% translate %}}: {words[:10]}"


def test_the_staff_check_finds_an_unmarked_heading_and_attribute():
    source = (TEMPLATES / "studies" / "detail.html").read_text(encoding="utf-8")
    assert staff_unmarked_words(source) == []
    unmarked = source.replace('{% translate "Next step" %}', "Next step", 1)
    assert staff_unmarked_words(unmarked) == ["Next", "step"]
    unmarked = source.replace('data-confirm="{% translate "Close the study? Readers can no longer submit, '
                              'and it cannot be reopened." %}"', 'aria-label="Close it"', 1)
    assert staff_unmarked_words(unmarked) == ["Close", "it"]
    # Column names and code stay as they are; an English word beside them does not.
    assert staff_unmarked_words("<dt>case_id</dt><dd><code>a|b</code></dd>") == []
    assert staff_unmarked_words("<dt>case_id</dt><dd>Any id</dd>") == ["Any", "id"]


def test_every_staff_catalogue_has_the_same_msgids_and_placeholders():
    english = _catalogue("de")
    for lang in ("zh_Hans", "es", "fr"):
        assert set(_catalogue(lang)) == set(english), lang
    for lang in ("zh_Hans", "es", "de", "fr"):
        for msgid, msgstr in _catalogue(lang).items():
            wanted = set(re.findall(r"%\(\w+\)s", msgid))
            for form in [msgstr] if isinstance(msgstr, str) else msgstr:
                assert form.strip(), (lang, msgid)
                # A plural's singular may name the count differently, never another variable.
                assert set(re.findall(r"%\(\w+\)s", form)) <= wanted | {"%(n)s"}, (lang, msgid, form)
                if isinstance(msgstr, str):
                    assert set(re.findall(r"%\(\w+\)s", form)) == wanted, (lang, msgid, form)


@pytest.mark.django_db
def test_tabs_labels_and_messages_follow_the_active_language():
    study = make_study(design="sequential", n_cases=2, coordinator=UserFactory())
    with translation.override("de"):
        assert [str(t.label) for t in study_tabs(study, manager=True)][:4] == [
            "Übersicht", "Einstellungen", "Einladungen", "Fortschritt"]
        form = StudyForm(user=None)
        assert str(form.fields["top_k"].label) == "Diagnosen pro Antwort (Top-k)"
        assert str(form.fields["title"].label) == "Titel"
        assert dict(InvitationForm().fields["kind"].choices)["single"] == "Einmal-Link (eine Person)"
    with translation.override("zh-hans"):
        assert str(study_tabs(study, manager=False)[0].label) == "概览"
    with translation.override("en-gb"):
        assert str(study_tabs(study, manager=False)[0].label) == "Overview"
        assert str(StudyForm(user=None).fields["title"].label) == "Title"


def _client(user, language: str | None) -> Client:
    client = Client()
    client.force_login(user)
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


# (lang cookie, catalogue) -> the headings each page must show, looked up in the shipped JSON.
PAGES = [
    ("studies:detail", ["Next step", "Members", "Downloads", "Overview"]),
    ("studies:progress", ["Readers", "Cases by arm", "Median time per case", "Progress"]),
    ("analysis:list", ["Compare arms", "Earlier runs", "Run analysis", "Analyses"]),
]
IMPORT_HEADINGS = ["Import a case set", "What the manifest may contain", "Start from a template:"]


@pytest.mark.django_db
@pytest.mark.parametrize("language, lang", [("de", "de"), ("zh-hans", "zh_Hans")])
def test_staff_pages_render_in_german_and_chinese(language, lang):
    catalogue = _catalogue(lang)
    coordinator = UserFactory()
    coordinator.user_permissions.add(Permission.objects.get(codename="add_caseset"))
    study = make_study(design="sequential", n_cases=2, coordinator=coordinator)
    studies.membership_add(study=study, user=UserFactory(), role=Role.READER, actor=None)
    small_taxonomy()
    client = _client(coordinator, language)
    for name, headings in PAGES:
        response = client.get(reverse(name, args=[study.slug]))
        assert response.status_code == 200, name
        html = response.content.decode()
        assert f'lang="{language}"' in html, name
        for heading in headings:
            assert catalogue[heading] in html, f"{language} {name}: {catalogue[heading]!r} ({heading!r}) missing"
            if catalogue[heading] != heading:  # German "Downloads" is "Downloads"
                assert f"<h2>{heading}</h2>" not in html, f"{language} {name}: {heading!r} left in English"
    html = client.get(reverse("case_set_import")).content.decode()
    for heading in IMPORT_HEADINGS:
        assert catalogue[heading] in html, f"{language} import page: {catalogue[heading]!r} missing"
    assert catalogue["Case set name"] in html  # a form label, from gettext_lazy


@pytest.mark.django_db
def test_staff_pages_stay_english_by_default():
    coordinator = UserFactory()
    study = make_study(design="sequential", n_cases=2, coordinator=coordinator)
    client = _client(coordinator, None)
    html = client.get(reverse("studies:detail", args=[study.slug])).content.decode()
    assert "Next step" in html and "Members" in html and "Nächster Schritt" not in html
    html = client.get(reverse("analysis:list", args=[study.slug])).content.decode()
    assert "Compare arms" in html and "Arme vergleichen" not in html
