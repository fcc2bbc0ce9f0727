"""python manage.py study_texts SLUG [--languages en,zh-hans [--default-language en]]
                                  [--consent FILE --language L] [--instructions FILE --language L]

A draft study's languages and its consent text / instructions per language (each write a new
version, audited); without options it lists the current text of each kind in each offered language
with its version and sha256 (what a consent record stores).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from readerstudy.models import Study, TextKind
from readerstudy.services import studies
from readerstudy.services.studies import StudyError
from readerstudy.services.studies.texts import text_in


class Command(BaseCommand):
    help = "Set a study's languages and its consent text and instructions per language; list them."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--languages", help="comma-separated: en, zh-hans, es, de, fr")
        parser.add_argument("--default-language")
        parser.add_argument("--language", help="the language of --consent / --instructions")
        parser.add_argument("--consent", type=Path, help="a UTF-8 text file")
        parser.add_argument("--instructions", type=Path, help="a UTF-8 text file")

    def handle(self, *args, **opts):
        study = Study.objects.filter(slug=opts["slug"]).first()
        if study is None:
            raise CommandError(f"No study {opts['slug']!r}.")
        try:
            if opts["languages"]:
                languages = [code.strip() for code in opts["languages"].split(",") if code.strip()]
                studies.study_languages_set(study=study, languages=languages, actor=None,
                                            default_language=opts["default_language"] or languages[0])
            for kind in (TextKind.CONSENT, TextKind.INSTRUCTIONS):
                path = opts[kind]
                if path is None:
                    continue
                if not opts["language"]:
                    raise CommandError(f"--{kind} needs --language.")
                if not path.is_file():
                    raise CommandError(f"--{kind}: no file {path}.")
                text = path.read_text(encoding="utf-8")
                row = studies.study_text_set(study=study, kind=kind, language=opts["language"], text=text,
                                             actor=None)
                self.stdout.write(f"{kind} in {row.language}: version {row.version}.")
        except StudyError as exc:
            raise CommandError("; ".join(exc.problems)) from exc
        study.refresh_from_db()
        self.stdout.write(f"{study.slug}: languages {', '.join(studies.study_languages(study))} "
                          f"(default {study.default_language}).")
        for kind in TextKind.values:
            for language in studies.study_languages(study):
                shown = text_in(study, kind, language)
                state = "missing" if shown is None else (
                    f"version {shown.version or 'study field'}, sha256 {shown.sha256[:12]}")
                self.stdout.write(f"  {kind:<12} {language:<8} {state}")
