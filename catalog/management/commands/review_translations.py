"""python manage.py review_translations NAME VERSION --language de --reviewer "Dr A. Weber" [--code MEL ...]
[--option refer ...] [--date YYYY-MM-DD]

Marks translations of a taxonomy as reviewed by a clinician (audited, one event per translation).
Without --code/--option every condition and option that has a translation in that language."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Taxonomy
from catalog.services.taxonomy import translation_mark_reviewed
from catalog.taxonomy_format import TaxonomyError


class Command(BaseCommand):
    help = "Mark a taxonomy's translations in one language as reviewed by a clinician (audited)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="taxonomy name")
        parser.add_argument("taxonomy_version", metavar="version", help="taxonomy version")
        parser.add_argument("--language", required=True, help="language code, e.g. zh-hans, es, de, fr")
        parser.add_argument("--reviewer", required=True, help="the reviewing clinician's name")
        parser.add_argument("--code", action="append", help="condition code (repeat); default every one")
        parser.add_argument("--option", action="append", help="management option code (repeat)")
        parser.add_argument("--date", help="review date YYYY-MM-DD (default today)")

    def handle(self, *args, **options):
        taxonomy = Taxonomy.objects.filter(name=options["name"], version=options["taxonomy_version"]).first()
        if taxonomy is None:
            raise CommandError(f"taxonomy {options['name']!r} version {options['taxonomy_version']!r} not found")
        only = options["code"] is not None or options["option"] is not None
        try:
            count = translation_mark_reviewed(
                taxonomy=taxonomy,
                language=options["language"],
                reviewer=options["reviewer"],
                codes=(options["code"] or []) if only else None,
                options=(options["option"] or []) if only else None,
                reviewed_on=options["date"],
            )
        except TaxonomyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Marked {count} '{options['language']}' translation(s) of {taxonomy} reviewed "
                          f"by {options['reviewer']}")
