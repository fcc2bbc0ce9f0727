"""python manage.py load_taxonomy FILE [--matrix FILE] [--name N] [--taxonomy-version V] [--description D]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Taxonomy
from catalog.services.taxonomy import taxonomy_load
from catalog.taxonomy_format import TaxonomyError, taxonomy_from_csv, taxonomy_read_file


class Command(BaseCommand):
    help = (
        "Load a taxonomy from JSON or CSV (conditions, management options, appropriateness matrix). "
        "Validates everything first; prints every problem and loads nothing when one is found. "
        "Loading an identical name and version again is a no-op."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="taxonomy .json or conditions .csv")
        parser.add_argument(
            "--matrix", help="CSV only: separate matrix CSV with columns condition,management,rating"
        )
        parser.add_argument("--name", help="taxonomy name (overrides the file's)")
        parser.add_argument(
            "--taxonomy-version", dest="taxonomy_version", help="taxonomy version (overrides the file's)"
        )
        parser.add_argument("--description", help="description (overrides the file's)")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        overrides = {
            "name": options["name"],
            "version": options["taxonomy_version"],
            "description": options["description"],
        }
        try:
            if path.suffix.lower() == ".csv":
                data = taxonomy_from_csv(path, options["matrix"], **overrides)
            elif options["matrix"]:
                raise CommandError("--matrix applies to CSV input only")
            else:
                data = taxonomy_read_file(path, **overrides)
            existed = (
                isinstance(data, dict)
                and Taxonomy.objects.filter(name=data.get("name"), version=data.get("version")).exists()
            )
            taxonomy = taxonomy_load(data=data, source=path.name)
        except TaxonomyError as exc:
            raise CommandError(f"{path.name}: {exc}") from None
        if existed:
            self.stdout.write(f"{taxonomy} is already loaded with identical content; nothing changed.")
            return
        n_conditions = taxonomy.conditions.count()
        n_options = taxonomy.management_options.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {taxonomy}: {n_conditions} conditions, {n_options} management options, "
                f"{n_conditions * n_options} appropriateness ratings."
            )
        )
