from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from inference.services import model_register_simulated


class Command(BaseCommand):
    help = "Register a simulated AI assistant with a set top-1 accuracy (labelled as simulated everywhere)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--accuracy", type=float, default=0.7, help="Top-1 accuracy on non-faulty cases.")
        parser.add_argument("--faulty-rate", type=float, default=0.0,
                            help="Share of cases with a deliberately wrong, confident suggestion.")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, name, accuracy, faulty_rate, seed, **options):
        try:
            version = model_register_simulated(name=name, accuracy=accuracy, faulty_rate=faulty_rate, seed=seed)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Registered simulated assistant {version.name}: accuracy {accuracy:.2f}, faulty rate {faulty_rate:.2f}"
        ))
