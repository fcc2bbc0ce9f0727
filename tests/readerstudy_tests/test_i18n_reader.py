"""Languages on the reader path (issue 15, items 1 and 6).

- every user-visible word of a reader-path template is inside a translate tag;
- every shipped catalogue (zh_Hans, es, de, fr; django and djangojs) is complete, nothing fuzzy;
- the case page, end page and washout page come out in the reader's language, with dates in the
  reader's locale and time zone;
- the switcher's choice is remembered (cookie, and the session when the cookie is gone).
The right-to-left layout (pseudo-Arabic) is checked in Chromium: tests/browser_tests/test_rtl_layout.py.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.template.base import Lexer, TokenType
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from readerstudy import models as m
from readerstudy.language import SESSION_KEY, TIMEZONE_COOKIE
from readerstudy.services.readings import reading_submit
from tests.readerstudy_tests.reader_setup import answer, build_study

ROOT = Path(settings.BASE_DIR)
TEMPLATES = ROOT / "templates"
READER_TEMPLATES = sorted(
    [*TEMPLATES.glob("reader/*.html"), *TEMPLATES.glob("registration/*"), TEMPLATES / "base.html",
     TEMPLATES / "home.html", TEMPLATES / "404.html", TEMPLATES / "500.html", TEMPLATES / "errors/retry.html",
     TEMPLATES / "_language_switcher.html"]
)
# Words that are not language: the product name, key names on the keyboard, units and a code.
ALLOWED_WORDS = {"Readerstudy", "Ctrl", "Enter", "Esc", "UTC"}
ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-label", "data-other-label")


def _fill_po():
    spec = importlib.util.spec_from_file_location("fill_po", ROOT / "scripts" / "fill_po.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fill_po"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def unmarked_words(source: str) -> list[str]:  # noqa: C901 - one branch per token kind
    """Words of `source` (a Django template) a reader would see that are not inside a translate tag:
    text between HTML tags and the values of the attributes in ATTRIBUTES."""
    flat, depth, blocks = [], 0, []
    for token in Lexer(source).tokenize():
        content = token.contents.strip()
        if token.token_type == TokenType.BLOCK:
            name = content.split()[0] if content else ""
            if name == "block":
                blocks.append(content.split()[1])
            elif name == "endblock" and blocks:
                blocks.pop()
            if any(block.endswith("class") for block in blocks):
                continue  # {% block body_class %}: CSS class names, not words
            if name == "blocktranslate" or name == "blocktrans":
                depth += 1
                flat.append("§")
            elif name in ("endblocktranslate", "endblocktrans"):
                depth -= 1
            elif name in ("translate", "trans"):
                flat.append("§")
            elif depth == 0:
                flat.append(" ")
        elif token.token_type == TokenType.VAR:
            if depth == 0:
                flat.append("§")
        elif token.token_type == TokenType.TEXT and depth == 0 and not any(b.endswith("class") for b in blocks):
            flat.append(token.contents)
    text = re.sub(r"<!--.*?-->", " ", "".join(flat), flags=re.S)
    found: list[str] = []
    for attribute in ATTRIBUTES:
        for value in re.findall(rf'\s{attribute}="([^"]*)"', text):
            found += re.findall(r"[^\W\d_]{2,}", value)
    body = re.sub(r"<[^>]*>", " ", text)
    found += re.findall(r"[^\W\d_]{2,}", body)
    return [word for word in found if word not in ALLOWED_WORDS]


def test_the_unmarked_words_check_finds_a_plain_word():
    assert unmarked_words('<p>Hello</p>') == ["Hello"]
    assert unmarked_words('<button aria-label="Close">×</button>') == ["Close"]
    assert unmarked_words('{% load i18n %}<p>{% translate "Hello" %} {{ name }}</p>') == []
    assert unmarked_words('{% load i18n %}<p>{% blocktranslate %}Hi {{ x }}{% endblocktranslate %}</p>') == []


@pytest.mark.parametrize("path", READER_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_reader_path_template_strings_are_marked(path):
    words = unmarked_words(path.read_text(encoding="utf-8"))
    assert not words, f"{path.relative_to(ROOT)}: text outside {{% translate %}}: {words[:10]}"


# --- catalogues -------------------------------------------------------------------------------------


def test_shipped_catalogues_are_complete_and_not_fuzzy():
    problems = _fill_po().problems()
    report = {path: msgids[:5] for path, msgids in problems.items()}
    assert not problems, f"untranslated or fuzzy entries (run `make messages`): {report}"


def test_compiled_catalogues_are_present_and_not_older_than_their_po():
    for lang in ("zh_Hans", "es", "de", "fr"):
        for domain in ("django", "djangojs"):
            po = ROOT / "locale" / lang / "LC_MESSAGES" / f"{domain}.po"
            mo = po.with_suffix(".mo")
            assert mo.exists(), f"{mo} missing: run `make messages`"


def test_catalogue_check_sees_fuzzy_and_empty_entries(tmp_path):
    fill_po = _fill_po()
    folder = tmp_path / "zh_Hans" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Plural-Forms: nplurals=1; plural=0;\\n"\n'
    (folder / "django.po").write_text(header + '\nmsgid "Yes"\nmsgstr "是"\n\n#, fuzzy\nmsgid "No"\nmsgstr "否"\n\n'
                                      'msgid "Maybe"\nmsgstr ""\n', encoding="utf-8")
    (folder / "djangojs.po").write_text(header, encoding="utf-8")
    found = fill_po.problems(tmp_path)
    assert found[str(folder / "django.po")] == ["No", "Maybe"]
    # Filling supplies the missing one and clears the fuzzy flag of a supplied translation only.
    filled, missing = fill_po.fill(folder / "django.po", {"Maybe": "也许"})
    assert (filled, missing) == (1, ["No"])
    filled, missing = fill_po.fill(folder / "django.po", {"No": "不"})
    assert missing == [] and "#, fuzzy" not in (folder / "django.po").read_text(encoding="utf-8")
    entries = {e.msgid: e.msgstr for e in fill_po.read_po(folder / "django.po")}
    assert entries["Yes"] == ["是"] and entries["No"] == ["不"] and entries["Maybe"] == ["也许"]


# --- pages in the reader's language --------------------------------------------------------------


def _client(user, language: str | None = None, zone: str | None = None) -> Client:
    client = Client()
    client.force_login(user)
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    if zone:
        client.cookies[TIMEZONE_COOKIE] = zone
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("language, words", [
    ("zh-hans", ["提交答案", "诊断", "保存并退出", 'lang="zh-hans"', "第 1 例，共 3 例"]),
    ("es", ["Enviar respuesta", "Diagnóstico", "Guardar y salir", 'lang="es"', "Caso 1 de 3"]),
    ("de", ["Antwort absenden", "Diagnose", "Speichern und beenden", "Fall 1 von 3"]),
    ("fr", ["Envoyer la réponse", "Diagnostic", "Enregistrer et quitter", "Cas 1 sur 3"]),
])
def test_case_page_in_the_readers_language(language, words):
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=3, arm_order=["unaided", "ai", "ai"])
    html = _client(built.user, language).get(reverse("reader:case", args=[built.study.slug])).content.decode()
    for word in words:
        assert word in html, f"{language}: {word!r} not on the case page"
    assert "Submit answer" not in html and 'dir="ltr"' in html


@pytest.mark.django_db
def test_cached_case_parts_are_kept_per_language():
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=3, arm_order=["unaided", "ai", "ai"])
    url = reverse("reader:case", args=[built.study.slug])
    assert "Your answer" in _client(built.user, "en-gb").get(url).content.decode()
    # Same case, same parts: the Spanish reader must not get the English fragments from the cache.
    spanish = _client(built.user, "es").get(url).content.decode()
    assert "Su respuesta" in spanish and "Your answer" not in spanish


@pytest.mark.django_db
def test_javascript_catalogue_serves_the_reader_js_strings():
    built = build_study()
    body = _client(built.user, "de").get(reverse("javascript-catalog")).content.decode()
    assert "Wird gespeichert" in body and "Entwurf gespeichert" in body


@pytest.mark.django_db
def test_language_choice_is_remembered_in_cookie_and_session():
    built = build_study()
    client = _client(built.user)
    response = client.post(reverse("set_language"), {"language": "es", "next": "/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    assert client.session[SESSION_KEY] == "es"
    assert "Mis estudios" in client.get("/").content.decode()
    # The language cookie is gone (another browser profile, cookies cleared but the session kept):
    # the session's choice still applies, and the cookie is set again.
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    response = client.get("/")
    assert "Mis estudios" in response.content.decode()
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    # A language not offered is ignored.
    client.post(reverse("set_language"), {"language": "xx", "next": "/"})
    assert client.session[SESSION_KEY] == "es"


@pytest.mark.django_db
def test_language_switcher_is_on_the_pages():
    html = Client().get(reverse("login")).content.decode()
    assert f'action="{reverse("set_language")}"' in html
    for code, _name in settings.LANGUAGES:
        assert f'value="{code}"' in html


# --- dates, numbers and times (item 6) ----------------------------------------------------------------


def _washout_reader():
    built = build_study(design=m.Design.CROSSOVER, n_cases=2, sessions=[1, 2], settings_={"washout_days": 14})
    reading_submit(membership=built.membership, item=built.items[0], payload=answer(), idempotency_key=uuid.uuid4())
    finished = dt.datetime(2030, 3, 1, 20, 30, tzinfo=dt.UTC)  # session 2 opens 15 March 2030, 20:30 UTC
    m.Membership.objects.filter(pk=built.membership.pk).update(session1_completed_at=finished)
    return built


@pytest.mark.django_db
@pytest.mark.parametrize("language, zone, expected", [
    ("zh-hans", "Asia/Shanghai", ["第一阶段已完成", "2030年3月16日 04:30", 'datetime="2030-03-16T04:30:00+08:00"']),
    ("es", "Europe/Madrid", ["Sesión 1 completada", "15 de marzo de 2030 a las 21:30"]),
    ("de", "Europe/Berlin", ["Sitzung 1 abgeschlossen", "15. März 2030 21:30"]),
    ("en-gb", None, ["Session 1 complete", "UTC", 'datetime="2030-03-15T20:30:00+00:00"']),
])
def test_washout_date_in_the_readers_locale_and_time_zone(language, zone, expected):
    built = _washout_reader()
    html = _client(built.user, language, zone).get(reverse("reader:case", args=[built.study.slug]),
                                                    follow=True).content.decode()
    for text in expected:
        assert text in html, f"{language}/{zone}: {text!r} not on the washout page"


@pytest.mark.django_db
def test_unknown_time_zone_cookie_falls_back_to_utc():
    built = _washout_reader()
    html = _client(built.user, "en-gb", "Mars/Olympus_Mons").get(
        reverse("reader:case", args=[built.study.slug]), follow=True).content.decode()
    assert 'datetime="2030-03-15T20:30:00+00:00"' in html


@pytest.mark.django_db
def test_countdown_label_in_the_readers_language():
    built = build_study(settings_={"time_limit_s": 90})
    html = _client(built.user, "fr").get(reverse("reader:case", args=[built.study.slug])).content.decode()
    assert 'aria-label="Temps restant pour ce cas"' in html and 'role="timer"' in html


@pytest.mark.parametrize("language, minutes, expected", [
    ("de", 3, ["Vielen Dank – Sie haben die Studie abgeschlossen", "etwa 3 Minuten", "Sie haben alle 4 Fälle"]),
    ("fr", 1, ["environ 1 minute", "Vous avez répondu aux 4 cas", "2 sur 4 (50 %)"]),
    ("zh-hans", 12, ["约 12 分钟", "2 / 4（50%）"]),
    ("es", 2, ["unos 2 minutos", "2 de 4 (50%)"]),
])
def test_end_page_numbers_and_plurals_in_the_readers_language(language, minutes, expected):
    from types import SimpleNamespace

    progress = SimpleNamespace(total=4, complete=True, cases=4, percent=100, number=4, done=4)
    accuracy = {"n": 4, "top1": 2, "top1_percent": 50, "top_k": 3, "top_k_percent": 75}
    summary = {"readings": 4, "cases": 4, "minutes": minutes, "accuracy": accuracy}
    study = SimpleNamespace(title="Demo", slug="demo", status="launched")
    with translation.override(language):
        html = render_to_string("reader/end.html", {"progress": progress, "summary": summary, "study": study})
    for text in expected:
        assert text in html, f"{language}: {text!r} not on the end page"


def test_timezone_middleware_activates_the_cookie_zone_only_for_the_request(rf):
    from readerstudy.language import TimezoneMiddleware

    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone_name()
        from django.http import HttpResponse

        return HttpResponse("")

    request = rf.get("/")
    request.COOKIES[TIMEZONE_COOKIE] = "America/Sao_Paulo"
    TimezoneMiddleware(view)(request)
    assert seen["zone"] == "America/Sao_Paulo"
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE
