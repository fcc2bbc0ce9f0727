"""python manage.py seed_demo [--cases N] [--readers M] [--seed S]

Builds demo data: the shipped taxonomy, a case set with procedurally drawn lesion images, a simulated
AI assistant with precomputed suggestions, demo users, and one launched study per design. Running it
again reuses what exists.
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from readerstudy.models import CaseSet, Design, Role, Study, StudyStatus

DEMO_PASSWORD = "readerstudy-demo"
SIMULATED_MODEL = "simulated-demo-75"
READER_PROFESSIONS = ["gp", "nurse", "dermatologist", "gp", "derm_trainee", "gp"]
STUDIES = [
    (Design.SEQUENTIAL, "demo-sequential", "Demo: sequential (unaided, then AI, revise)"),
    (Design.RANDOMISED_BLOCKS, "demo-blocks", "Demo: randomised blocks"),
    (Design.CROSSOVER, "demo-crossover", "Demo: crossover with washout"),
    (Design.PARALLEL, "demo-parallel", "Demo: parallel groups"),
    (Design.BENCHMARK, "demo-benchmark", "Demo: benchmark (unaided)"),
]
CONSENT = (
    "You are invited to take part in a research study of how AI suggestions affect the diagnosis of skin "
    "conditions. Your answers are stored under a pseudonym and analysed in aggregate. Participation is "
    "voluntary and you may stop at any time."
)
INSTRUCTIONS = (
    "For each case, look at the clinical and dermoscopic images and the patient details, then give your "
    "differential diagnosis (most likely first), your confidence and your management decision. Type to "
    "search conditions; use the arrow keys and Enter to pick, 1-5 for confidence and Ctrl+Enter to submit."
)
AI_INSTRUCTIONS = " In some cases an AI suggestion is shown: use it as you see fit."  # never in a benchmark
MAX_UNIQUE_IMAGE_CASES = 300  # larger demo sets reuse drawings (content-addressed storage dedups)


class Command(BaseCommand):
    help = "Seed a demo taxonomy, case set, simulated AI, users and one study per design."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=40)
        parser.add_argument("--readers", type=int, default=6)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--image-size", type=int, default=512)

    def handle(self, *args, **opts):
        if opts["cases"] < 2 or opts["readers"] < 1:
            raise CommandError("--cases must be >= 2 and --readers >= 1")
        started = time.perf_counter()
        from readerstudy.services.taxonomy import default_taxonomy

        taxonomy = default_taxonomy()
        users = self._users(opts["readers"])
        case_set = self._case_set(taxonomy, opts)
        model = self._model(case_set)
        for design, slug, title in STUDIES:
            self._study(design, slug, title, case_set, model, users, opts)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {time.perf_counter() - started:.1f} s."))
        self._print_logins(opts["readers"])

    # -------------------------------------------------------------- users

    def _users(self, n_readers: int) -> dict[str, list]:
        user_model = get_user_model()
        password = make_password(DEMO_PASSWORD)  # hash once: hashing per user is slow for 500 readers
        existing = set(user_model.objects.values_list("username", flat=True))
        names = ["coordinator", "statistician"] + [f"reader{i}" for i in range(1, n_readers + 1)]
        user_model.objects.bulk_create([
            user_model(username=name, password=password, email=f"{name}@demo.readerstudy.org",
                       first_name=name.capitalize())
            for name in names if name not in existing
        ])
        coordinator = user_model.objects.get(username="coordinator")
        coordinator.user_permissions.add(
            *Permission.objects.filter(codename__in=["add_caseset", "view_caseset", "add_study"]))
        if not user_model.objects.filter(username="admin").exists():  # the demo's staff user, for /admin/
            user_model.objects.create_superuser("admin", "admin@demo.readerstudy.org", DEMO_PASSWORD)
        readers = list(user_model.objects.filter(username__in=names[2:]).order_by("id"))
        return {"coordinator": [coordinator], "statistician": [user_model.objects.get(username="statistician")],
                "readers": readers}

    # -------------------------------------------------------------- cases

    def _case_set(self, taxonomy, opts) -> CaseSet:
        name = f"Demo cases ({opts['cases']}, seed {opts['seed']})"
        existing = CaseSet.objects.filter(name=name).first()
        if existing:
            self.stdout.write(f"Case set {name!r} exists.")
            return existing
        from readerstudy.demo_images import draw_case_images
        from readerstudy.services.case_import import case_import

        rng = random.Random(opts["seed"])
        conditions = list(taxonomy.conditions.all())
        common = [c for c in conditions if c.code in COMMON_CODES] or conditions
        options = {c.pk: self._reference_management(c) for c in conditions}
        with tempfile.TemporaryDirectory(prefix="seed-demo-") as tmp:
            folder = Path(tmp)
            rows, drawn = [], {}
            t0 = time.perf_counter()
            for i in range(opts["cases"]):
                base = i % MAX_UNIQUE_IMAGE_CASES
                if base not in drawn:
                    condition = rng.choice(common if rng.random() < 0.7 else conditions)
                    tone = rng.choice([1, 2, 2, 3, 3, 4, 5, 6])
                    images = draw_case_images(condition_code=condition.code, group=condition.group,
                                              malignant=condition.malignant, skin_tone=tone,
                                              seed=opts["seed"] * 100_003 + base, size=opts["image_size"])
                    for role, data in images.items():
                        (folder / f"{base:05d}-{role}.jpg").write_bytes(data)
                    drawn[base] = (condition, tone)
                condition, tone = drawn[base]
                rows.append(self._case_row(i, base, condition, tone, options[condition.pk], rng))
            self.stdout.write(f"Drew {2 * len(drawn)} demo images in {time.perf_counter() - t0:.1f} s.")
            manifest = folder / "manifest.csv"
            with manifest.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            report = case_import(manifest=manifest, images=folder, case_set_name=name, taxonomy=taxonomy,
                                 description="Procedurally drawn demo lesions; not real patients.")
        self.stdout.write(f"Imported {report.n_cases} demo cases.")
        return report.case_set

    @staticmethod
    def _reference_management(condition) -> str:
        optimal = [r.management.code for r in condition.management_ratings.select_related("management")
                   if r.rating == "optimal"]
        return optimal[0] if optimal else ""

    @staticmethod
    def _case_row(i: int, base: int, condition, tone: int, management: str, rng: random.Random) -> dict:
        sites = ["face", "scalp", "neck", "chest", "back", "abdomen", "left forearm", "right forearm",
                 "left leg", "right shin", "hand", "foot"]
        durations = ["2 weeks", "1 month", "3 months", "6 months", "1 year", "several years"]
        histories = [
            "Noticed by partner; no symptoms.", "Itchy, worse at night.", "Changed in size over recent months.",
            "Occasionally bleeds when scratched.", "Tried an emollient without improvement.",
            "Family history of skin cancer.", "Works outdoors; fair skin, many sunburns.",
        ]
        return {
            "case_id": f"DEMO-{i + 1:05d}",
            "clinical_image": f"{base:05d}-clinical.jpg",
            "dermoscopic_image": f"{base:05d}-dermoscopic.jpg",
            "age": rng.randint(18, 88),
            "sex": rng.choice("FM"),
            "body_site": rng.choice(sites),
            "fitzpatrick": tone,
            "duration": rng.choice(durations),
            "history": rng.choice(histories),
            "reference_code": condition.code,
            "reference_source": "histopathology" if condition.malignant else rng.choice(
                ["expert_panel", "follow_up", "histopathology"]),
            "reference_management": management,
        }

    # -------------------------------------------------------------- AI and studies

    def _model(self, case_set: CaseSet):
        from inference.models import ModelVersion

        if not ModelVersion.objects.filter(name=SIMULATED_MODEL).exists():
            call_command("register_simulated", SIMULATED_MODEL, accuracy=0.75, stdout=self.stdout)
        return ModelVersion.objects.get(name=SIMULATED_MODEL)

    def _study(self, design, slug, title, case_set, model, users, opts) -> Study:
        from readerstudy.services import studies as svc

        slug = slug if opts["cases"] == 40 and opts["seed"] == 2026 else f"{slug}-{opts['cases']}-{opts['seed']}"
        study = Study.objects.filter(slug=slug).first()
        coordinator = users["coordinator"][0]
        if study is None:
            quota = min(opts["cases"], 40) if opts["cases"] > 40 else None
            settings = {"top_k": 3, "ask_malignancy": design == Design.SEQUENTIAL, "quota": quota,
                        "washout_days": 14, "feedback": False}
            with transaction.atomic():
                study = svc.study_create(
                    actor=coordinator, title=title, slug=slug, case_set=case_set, design=design,
                    description="Demo study with procedurally drawn cases and a simulated AI assistant.",
                    instructions=INSTRUCTIONS + ("" if design == Design.BENCHMARK else AI_INSTRUCTIONS),
                    consent_text=CONSENT, settings=settings, seed=opts["seed"],
                    model_version=None if design == Design.BENCHMARK else model,
                )
                svc.membership_add(study=study, user=users["statistician"][0], role=Role.STATISTICIAN,
                                   actor=coordinator)
        enrolled = set(study.memberships.filter(role=Role.READER).values_list("user_id", flat=True))
        for reader in users["readers"]:
            if reader.pk not in enrolled:
                svc.reader_enrol(study=study, user=reader, actor=coordinator)
        if study.status == StudyStatus.DRAFT:
            if design != Design.BENCHMARK:
                call_command("precompute", study.slug, model=model.name, stdout=self.stdout)
            svc.study_launch(study=study, actor=coordinator)
        self.stdout.write(f"Study {study.slug}: {study.get_design_display()}, {study.get_status_display()}.")
        return study

    def _print_logins(self, n_readers: int) -> None:
        readers = "reader1" if n_readers == 1 else f"reader1 ... reader{n_readers}"
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
        self.stdout.write("  coordinator   manages the demo studies, imports cases, watches progress")
        self.stdout.write("  statistician  downloads readings and runs analyses")
        self.stdout.write("  admin         staff user: the Django admin at /admin/")
        self.stdout.write(f"  {readers}  clinicians reading cases (start with reader1)")


# Conditions that make up most primary-care presentations: drawn 70 % of the time.
COMMON_CODES = {"MEL", "BCC", "SCC", "AK", "SK", "NEV", "DN", "DF", "PSO", "AD", "SD", "TINEA_CORPORIS", "ACNE",
                "ROS", "ALLERGIC_CD", "WART", "MOLLUSCUM", "IMPETIGO", "URT", "VITILIGO", "CHERRY_ANGIOMA",
                "PYOGENIC_GRANULOMA", "SOLAR_LENTIGO", "BOWEN"}
