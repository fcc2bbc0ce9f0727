"""python manage.py calibrate_concepts MODEL --cases CASESET

Per-concept thresholds of the concept display, fitted on the labelled cases of a case set
(`extra.concepts` in its manifest: {"present": [codes], "absent": [codes]}); see
inference.concept_calibration. Precompute the displays again afterwards: the stored rows change.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.models import CaseSet
from inference.concept_calibration import calibration_summary, concepts_calibrate
from inference.models import ModelVersion


class Command(BaseCommand):
    help = "Fit per-concept thresholds of the concept display on a labelled case set."

    def add_arguments(self, parser):
        parser.add_argument("model", help="Model version name.")
        parser.add_argument("--cases", required=True, help="Name of the labelled case set.")

    def handle(self, *args, model, cases, **options):
        try:
            version = ModelVersion.objects.get(name=model)
            case_set = CaseSet.objects.get(name=cases)
        except (ModelVersion.DoesNotExist, CaseSet.DoesNotExist) as exc:
            raise CommandError(str(exc)) from exc
        try:
            calibration = concepts_calibrate(model_version=version, case_set=case_set)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        summary = calibration_summary(calibration)
        self.stdout.write(self.style.SUCCESS(
            f"{summary['estimated']} concept thresholds estimated on {summary['cases']} cases "
            f"({summary['not_estimable']} not estimable: no positive or no negative label)."))
