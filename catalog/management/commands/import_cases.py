"""python manage.py import_cases MANIFEST --images DIR|ZIP --case-set NAME [--taxonomy NAME:VERSION]"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Taxonomy
from catalog.services.case_import import CaseImportError, case_import


def resolve_taxonomy(spec: str | None) -> Taxonomy:
    """NAME:VERSION, or the shipped default taxonomy (loaded on first use)."""
    if not spec:
        from catalog.services.taxonomy import default_taxonomy

        return default_taxonomy()
    name, _, version = spec.rpartition(":")
    try:
        return Taxonomy.objects.get(name=name, version=version)
    except Taxonomy.DoesNotExist:
        raise CommandError(f"taxonomy {spec!r} not found; load it with load_taxonomy first") from None


class Command(BaseCommand):
    help = "Import cases from a CSV/JSON manifest and an image folder or zip (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("manifest", type=Path)
        parser.add_argument("--images", type=Path, required=True, help="Folder or .zip with the image files")
        parser.add_argument("--case-set", required=True, help="Name of the case set to create")
        parser.add_argument("--taxonomy", help="NAME:VERSION (default: the shipped taxonomy)")
        parser.add_argument("--description", default="")

    def handle(self, *args, **options):
        started = time.perf_counter()
        try:
            report = case_import(
                manifest=options["manifest"], images=options["images"], case_set_name=options["case_set"],
                taxonomy=resolve_taxonomy(options["taxonomy"]), description=options["description"],
            )
        except CaseImportError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - started
        for message in report.messages:
            self.stdout.write(message)
        self.stdout.write(f"Case set {report.case_set.name!r}: {report.n_cases} cases in {elapsed:.1f} s.")
