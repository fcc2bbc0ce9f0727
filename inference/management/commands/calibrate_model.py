from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.models import CaseSet
from inference.models import ModelVersion
from inference.services import model_calibrate


class Command(BaseCommand):
    help = "Fit a model version's temperature on a labelled case set (minimum NLL); prints NLL and ECE before/after."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Model version name.")
        parser.add_argument("--cases", required=True, help="Case set name.")

    def handle(self, *args, name, cases, **options):
        try:
            version = ModelVersion.objects.get(name=name)
            case_set = CaseSet.objects.get(name=cases)
            result = model_calibrate(model_version=version, case_set=case_set)
        except (ModelVersion.DoesNotExist, CaseSet.DoesNotExist, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"{name}: temperature {result.temperature:.4g} on {result.n_cases} cases; "
            f"NLL {result.nll_before:.4f} -> {result.nll_after:.4f}; ECE {result.ece_before:.4f} -> {result.ece_after:.4f}"
        ))
