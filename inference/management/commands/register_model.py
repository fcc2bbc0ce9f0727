from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from inference.core.checkpoint import CheckpointError
from inference.models import ModelKind
from inference.services import model_register, resolve_model_path


class Command(BaseCommand):
    help = "Register a local open_clip model folder (open_clip_config.json + weights). Nothing is downloaded."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Model folder; relative paths are also looked up under MODEL_ROOT.")
        parser.add_argument("--name", help="Version name (default: the folder name).")
        parser.add_argument("--untrained-demo", action="store_true",
                            help="Label it an untrained demo model (never allowed in a launched study).")
        parser.add_argument("--build-tiny", action="store_true",
                            help="First write a tiny randomly initialised model into PATH (implies --untrained-demo).")
        parser.add_argument("--template", action="append", dest="templates",
                            help="Prompt template with {} for the condition name; repeat for an ensemble.")

    def handle(self, *args, path, name, untrained_demo, build_tiny, templates, **options):
        if build_tiny:
            from inference.core.testing import build_tiny_open_clip

            build_tiny_open_clip(resolve_model_path(path))
            untrained_demo = True
        kind = ModelKind.UNTRAINED_DEMO if untrained_demo else ModelKind.OPEN_CLIP
        try:
            version = model_register(path=path, name=name, kind=kind, templates=templates)
        except (CheckpointError, ValidationError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Registered {version.name} ({version.get_kind_display()}, {version.architecture}) "
            f"sha256 {version.weights_sha256[:12]}…"
        ))
