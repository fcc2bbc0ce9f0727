from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.models import CaseSet
from common.queueing import task_enqueue
from inference.concept_models import concept_model_train
from inference.core.sae import SAEConfig
from inference.models import ModelVersion

TRAIN_TASK = "inference.tasks.train_concepts_task"


class Command(BaseCommand):
    help = ("Train a sparse autoencoder (learned concepts) on a model's image embeddings of one or more case sets, "
            "name its latents with the concept vocabulary and store it; prints FVU, L0 and the dead share.")

    def add_arguments(self, parser):
        defaults = SAEConfig()
        parser.add_argument("model", help="Model version name.")
        parser.add_argument("--cases", nargs="+", required=True, help="Case set names.")
        parser.add_argument("--expansion", type=int, default=defaults.expansion, help="Latents per embedding dimension.")
        parser.add_argument("--l1", type=float, default=defaults.l1_coefficient, help="L1 penalty (data variance units).")
        parser.add_argument("--steps", type=int, default=defaults.steps)
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--name", help="Name of the stored concept model (default: MODEL-sae-N).")
        parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        parser.add_argument("--queue", action="store_true", help="Send it to the inference queue instead of training here.")

    def handle(self, *args, model, cases, expansion, l1, steps, seed, name, device, queue, **options):
        try:
            version = ModelVersion.objects.get(name=model)
            case_sets = [CaseSet.objects.get(name=case_set) for case_set in cases]
            config = SAEConfig(expansion=expansion, l1_coefficient=l1, steps=steps, seed=seed)
        except (ModelVersion.DoesNotExist, CaseSet.DoesNotExist, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if queue:
            sent = task_enqueue(TRAIN_TASK, version.pk, [cs.pk for cs in case_sets], config.as_dict(), name)
            self.stdout.write("queued on the inference queue" if sent else "the broker refused the task")
            return
        try:
            row = concept_model_train(model_version=version, case_sets=case_sets, config=config, name=name,
                                      device=device)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        stats = row.stats
        self.stdout.write(self.style.SUCCESS(
            f"{row.name}: {stats['n_latents']} latents on {stats['n_train']} embeddings; FVU {stats['fvu']:.4f}, "
            f"L0 {stats['mean_l0']:.2f}, dead {100 * stats['dead_fraction']:.1f} %, {stats['latents_named']} latents "
            f"named, {stats['seconds']:.1f} s on {stats['device']}"
        ))
