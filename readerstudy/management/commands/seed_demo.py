"""python manage.py seed_demo [--cases N] [--readers M] [--seed S]

Builds demo data: the shipped taxonomy, a case set with procedurally drawn lesion images, a simulated
AI assistant with precomputed suggestions, demo users, one launched study per design, and a four-arm
study of AI display types with its reference library (readerstudy.demo.display_study). Running it
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

from catalog.models import CaseSet
from readerstudy.demo.display_study import display_study_seed, display_study_slug
from readerstudy.models import Design, Role, Study, StudyStatus

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
TWO_SITE_SLUG = "demo-two-site"
TWO_SITES = [("London clinic", "United Kingdom", "en"), ("Shanghai clinic", "China", "zh-hans")]
SITE_READERS = 3   # simulated readers per site (en_reader1-3, zh_reader1-3)
SITE_READINGS = 12  # cases each simulated reader reads (both phases)
CONSENT_ZH = (
    "诚邀您参加一项研究，了解人工智能建议如何影响皮肤疾病的诊断。您的回答以化名保存并进行汇总分析。"
    "参与完全自愿，您可以随时退出。"
)
INSTRUCTIONS_ZH = (
    "每个病例请查看临床图像、皮肤镜图像和患者信息，然后给出鉴别诊断（最可能的在前）、您的把握程度和处理决定。"
    "输入文字搜索疾病；用方向键和回车选择，1-5 选择把握程度，Ctrl+Enter 提交。部分病例会显示人工智能建议：请自行斟酌使用。"
)
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
        from catalog.services.taxonomy import default_taxonomy

        taxonomy = default_taxonomy()
        users = self._users(opts["readers"])
        case_set = self._case_set(taxonomy, opts)
        model = self._model(case_set)
        for design, slug, title in STUDIES:
            self._study(design, slug, title, case_set, model, users, opts)
        self._two_site_study(case_set, model, users, opts)
        self._display_study(taxonomy, case_set, model, users, opts)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {time.perf_counter() - started:.1f} s."))
        self._print_logins(opts["readers"], display_study_slug(opts["cases"], opts["seed"]))

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
        from catalog.services.case_import import case_import
        from readerstudy.demo.images import draw_case_images

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

    def _display_study(self, taxonomy, case_set, model, users, opts) -> Study:
        """Unaided, top-3, similar cases and concepts in randomised blocks, with a drawn reference library."""
        study, notes = display_study_seed(
            case_set=case_set, taxonomy=taxonomy, model=model, coordinator=users["coordinator"][0],
            statistician=users["statistician"][0], readers=users["readers"],
            texts={"instructions": INSTRUCTIONS + AI_INSTRUCTIONS, "consent": CONSENT}, opts=opts)
        for note in notes:
            self.stdout.write(note)
        arms = ", ".join(study.arms.order_by("order").values_list("name", flat=True))
        self.stdout.write(f"Study {study.slug}: {study.get_design_display()} over {arms}, "
                          f"{study.get_status_display()}.")
        return study

    # -------------------------------------------------------------- a two-site study (English, Chinese)

    def _two_site_study(self, case_set, model, users, opts) -> Study:
        """A sequential study run at an English and a Chinese site: texts in both languages, one
        invitation link per site, and simulated readers at each site who joined through their
        site's link and answered in the site's language (readings carry site and language)."""
        from readerstudy.services import studies as svc

        slug = TWO_SITE_SLUG if opts["cases"] == 40 and opts["seed"] == 2026 else \
            f"{TWO_SITE_SLUG}-{opts['cases']}-{opts['seed']}"
        study = Study.objects.filter(slug=slug).first()
        coordinator = users["coordinator"][0]
        if study is None:
            quota = min(opts["cases"], 40) if opts["cases"] > 40 else None
            with transaction.atomic():
                study = svc.study_create(
                    actor=coordinator, title="Demo: two sites (English and Chinese)", slug=slug,
                    case_set=case_set, design=Design.SEQUENTIAL,
                    description="Demo multinational study: a site in England and a site in China.",
                    instructions=INSTRUCTIONS + AI_INSTRUCTIONS, consent_text=CONSENT,
                    settings={"top_k": 3, "quota": quota, "feedback": False}, seed=opts["seed"],
                    model_version=model,
                )
                svc.membership_add(study=study, user=users["statistician"][0], role=Role.STATISTICIAN,
                                   actor=coordinator)
                svc.study_languages_set(study=study, languages=["en", "zh-hans"], default_language="en",
                                        actor=coordinator)
                svc.study_text_set(study=study, kind="consent", language="zh-hans", text=CONSENT_ZH,
                                   actor=coordinator)
                svc.study_text_set(study=study, kind="instructions", language="zh-hans", text=INSTRUCTIONS_ZH,
                                   actor=coordinator)
                for name, country, language in TWO_SITES:
                    site = svc.site_create(study=study, name=name, country=country, default_language=language,
                                           actor=coordinator)
                    svc.invitation_create(study=study, actor=coordinator, single_use=False, max_uses=50,
                                          label=f"{name} readers", site=site)
            call_command("precompute", study.slug, model=model.name, stdout=self.stdout)
            svc.study_launch(study=study, actor=coordinator)
            self._simulate_site_readers(study, opts)
        n = study.memberships.filter(role=Role.READER).count()
        self.stdout.write(f"Study {study.slug}: two sites, {n} simulated readers, {study.get_status_display()}.")
        return study

    def _simulate_site_readers(self, study: Study, opts) -> None:
        """Readers who join through their site's link and read in its language (simulated answers)."""
        import uuid

        from django.utils import translation

        from readerstudy.models import Invitation, ScheduleItem
        from readerstudy.services import studies as svc
        from readerstudy.services.reader_flow import consent_record, demographics_save, instructions_seen
        from readerstudy.services.readings import reading_submit

        user_model = get_user_model()
        password = make_password(DEMO_PASSWORD)
        rng = random.Random(opts["seed"] + 15)
        codes = list(study.case_set.taxonomy.conditions.values_list("code", flat=True))
        options = list(study.case_set.taxonomy.management_options.values_list("code", flat=True))
        for invitation in Invitation.objects.filter(study=study, site__isnull=False).select_related("site"):
            site = invitation.site
            prefix = "zh_reader" if site.default_language == "zh-hans" else "en_reader"
            for i in range(1, SITE_READERS + 1):
                user, _ = user_model.objects.get_or_create(
                    username=f"{prefix}{i}", defaults={"password": password, "email": f"{prefix}{i}@demo.readerstudy.org"})
                with translation.override(site.default_language):
                    membership = svc.invitation_accept(token=invitation.token, user=user)
                    membership.user = user
                    consent_record(membership=membership, agreed=True)
                    demographics_save(membership=membership, data={
                        "profession": rng.choice(READER_PROFESSIONS), "years_experience": rng.randint(1, 30),
                        "dermoscopy_use": rng.choice(["never", "sometimes", "regularly"]),
                        "country": site.country, "age_band": rng.choice(["30-39", "40-49", "50-59"])})
                    instructions_seen(membership=membership)
                    items = ScheduleItem.objects.filter(membership=membership).select_related(
                        "case__reference", "case__reference_management").order_by("position")
                    for item in list(items)[:2 * SITE_READINGS]:
                        skill = (0.5 if item.phase == 1 else 0.65) + (0.05 if prefix == "en_reader" else 0.0)
                        truth = item.case.reference.code
                        top = truth if rng.random() < skill else rng.choice(codes)
                        rest = [code for code in rng.sample(codes, 4) if code != top][:2]
                        management = (item.case.reference_management.code if item.case.reference_management
                                      and rng.random() < 0.7 else rng.choice(options))
                        reading_submit(membership=membership, item=item, idempotency_key=uuid.uuid4(), payload={
                            "differential": [top, *rest], "confidence": rng.randint(2, 5),
                            "management": management})

    def _print_logins(self, n_readers: int, display_slug: str) -> None:
        readers = "reader1" if n_readers == 1 else f"reader1 ... reader{n_readers}"
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
        self.stdout.write("  coordinator   manages the demo studies, imports cases, watches progress")
        self.stdout.write("  statistician  downloads readings and runs analyses")
        self.stdout.write("  admin         staff user: the Django admin at /admin/")
        self.stdout.write(f"  {readers}  clinicians reading cases (start with reader1)")
        self.stdout.write("  en_reader1-3, zh_reader1-3  simulated readers of the two-site study (London, Shanghai)")
        self.stdout.write(f"\nAI display types: {readers} read the study {display_slug} in blocks that cycle "
                          "through\n  unaided, top-3 differential, similar cases (reference library) and concepts.")


# Conditions that make up most primary-care presentations: drawn 70 % of the time.
COMMON_CODES = {"MEL", "BCC", "SCC", "AK", "SK", "NEV", "DN", "DF", "PSO", "AD", "SD", "TINEA_CORPORIS", "ACNE",
                "ROS", "ALLERGIC_CD", "WART", "MOLLUSCUM", "IMPETIGO", "URT", "VITILIGO", "CHERRY_ANGIOMA",
                "PYOGENIC_GRANULOMA", "SOLAR_LENTIGO", "BOWEN"}
