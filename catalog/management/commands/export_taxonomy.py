"""python manage.py export_taxonomy [NAME VERSION | --default] [--format json|csv] [--out FILE]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Taxonomy
from catalog.services.taxonomy import default_taxonomy, taxonomy_export, taxonomy_to_dict, unreviewed_summary


class Command(BaseCommand):
    help = (
        "Export a taxonomy as JSON or CSV, in the format load_taxonomy reads back identically. "
        "Without NAME VERSION (or with --default) exports the shipped default taxonomy."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="taxonomy name")
        parser.add_argument("taxonomy_version", nargs="?", metavar="version", help="taxonomy version")
        parser.add_argument("--default", action="store_true", help="the shipped default taxonomy")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--out", help="write to FILE instead of standard output")

    def handle(self, *args, **options):
        name, version = options["name"], options["taxonomy_version"]
        if options["default"] and name:
            raise CommandError("give either NAME VERSION or --default, not both")
        if name and not version:
            raise CommandError("give both NAME and VERSION")
        if name:
            taxonomy = Taxonomy.objects.filter(name=name, version=version).first()
            if taxonomy is None:
                raise CommandError(f"taxonomy {name!r} version {version!r} not found")
        else:
            taxonomy = default_taxonomy()
        text = taxonomy_export(taxonomy=taxonomy, fmt=options["format"])
        # Which translations no clinician has reviewed yet (each row's status field says it too).
        if any("translations" in row for row in taxonomy_to_dict(taxonomy)["conditions"]):
            self.stderr.write(unreviewed_summary(taxonomy_to_dict(taxonomy)))
        if options["out"]:
            Path(options["out"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {taxonomy} ({options['format']}) to {options['out']}")
        else:
            self.stdout.write(text, ending="")
