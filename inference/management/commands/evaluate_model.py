from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.models import CaseSet
from inference.models import ModelVersion
from inference.services import model_evaluate


def _fmt(estimate: dict) -> str:
    if estimate["value"] is None:
        return "n/a"
    if estimate["ci_low"] is None:
        return f"{estimate['value']:.3f}"
    return f"{estimate['value']:.3f} (95% CI {estimate['ci_low']:.3f}-{estimate['ci_high']:.3f})"


class Command(BaseCommand):
    help = "Standalone performance of a model on a labelled case set (stored for the analysis report)."

    def add_arguments(self, parser):
        parser.add_argument("case_set", help="Case set name.")
        parser.add_argument("--model", required=True, help="Model version name.")
        parser.add_argument("--bootstrap", type=int, default=1000, help="Case-bootstrap resamples.")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, case_set, model, bootstrap, seed, **options):
        try:
            version = ModelVersion.objects.get(name=model)
            cases = CaseSet.objects.get(name=case_set)
            evaluation = model_evaluate(model_version=version, case_set=cases, n_bootstrap=bootstrap, seed=seed)
        except (ModelVersion.DoesNotExist, CaseSet.DoesNotExist, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        r = evaluation.results
        out = self.stdout
        out.write(f"{model} on {case_set}: {r['n_cases']} cases ({r['n_failed']} failed)")
        out.write(f"  top-1 accuracy   {_fmt(r['top1'])}")
        out.write(f"  top-3 accuracy   {_fmt(r['top3'])}")
        out.write(f"  malignant AUC    {_fmt(r['malignant_auc'])}")
        for code, recall in r["per_class_recall"].items():
            out.write(f"  recall {code:<10} {_fmt(recall)}  n={recall['n']}")
        out.write(self.style.SUCCESS(f"Stored as evaluation {evaluation.pk}"))
