"""factory_boy factories for every model the tests build (users, taxonomies, case sets, cases, images,
studies, arms, memberships, invitations, schedule items, readings, model versions, outputs and
precomputed AI displays).
The builder modules (readerstudy_tests/reader_setup.py, studies_helpers.py, the api and inference
conftests) compose these."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog import models as cm
from inference.models import DisplayKind, DisplayOutput, ModelKind, ModelOutput, ModelVersion
from readerstudy import models as m

SMALL_CONDITIONS = [
    # code, name, group, malignant, {management: rating}
    ("MEL", "Melanoma", "malignant_neoplasm", True, {"reassure": "dangerous", "monitor": "dangerous",
     "treat_locally": "inappropriate", "biopsy_excise": "optimal", "refer": "optimal"}),
    ("NEV", "Melanocytic naevus", "benign_neoplasm", False, {"reassure": "optimal", "monitor": "appropriate",
     "treat_locally": "inappropriate", "biopsy_excise": "inappropriate", "refer": "inappropriate"}),
    ("BCC", "Basal cell carcinoma", "malignant_neoplasm", True, {"reassure": "dangerous", "monitor": "inappropriate",
     "treat_locally": "appropriate", "biopsy_excise": "optimal", "refer": "optimal"}),
    ("SK", "Seborrhoeic keratosis", "benign_neoplasm", False, {"reassure": "optimal", "monitor": "appropriate",
     "treat_locally": "appropriate", "biopsy_excise": "inappropriate", "refer": "inappropriate"}),
    ("PSO", "Psoriasis", "inflammatory", False, {"reassure": "inappropriate", "monitor": "inappropriate",
     "treat_locally": "optimal", "biopsy_excise": "inappropriate", "refer": "appropriate"}),
    ("TIN", "Tinea corporis", "infectious", False, {"reassure": "inappropriate", "monitor": "inappropriate",
     "treat_locally": "optimal", "biopsy_excise": "inappropriate", "refer": "inappropriate"}),
]
MANAGEMENT = [("reassure", "Reassure / dismiss"), ("monitor", "Monitor"), ("treat_locally", "Treat locally"),
              ("biopsy_excise", "Biopsy / excise"), ("refer", "Refer")]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct-horse-battery")


def small_taxonomy(name: str = "Test taxonomy", version: str = "1") -> cm.Taxonomy:
    taxonomy, created = cm.Taxonomy.objects.get_or_create(name=name, version=version)
    if not created:
        return taxonomy
    options = {
        code: cm.ManagementOption.objects.create(taxonomy=taxonomy, code=code, label=label, order=i)
        for i, (code, label) in enumerate(MANAGEMENT)
    }
    for i, (code, cname, group, malignant, ratings) in enumerate(SMALL_CONDITIONS):
        condition = cm.Condition.objects.create(
            taxonomy=taxonomy, code=code, name=cname, group=group, malignant=malignant, order=i,
            synonyms=[cname.lower()], icd10="L00",
        )
        for option_code, rating in ratings.items():
            cm.ManagementRating.objects.create(condition=condition, management=options[option_code], rating=rating)
    return taxonomy


class CaseSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.CaseSet

    name = factory.Sequence(lambda n: f"Case set {n}")
    taxonomy = factory.LazyFunction(small_taxonomy)


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Case

    case_set = factory.SubFactory(CaseSetFactory)
    key = factory.Sequence(lambda n: f"C{n:04d}")
    age = 54
    sex = "F"
    body_site = "left forearm"
    fitzpatrick = 3
    duration = "6 months"
    history = "Itchy for six months."
    reference = factory.LazyAttribute(
        lambda o: o.case_set.taxonomy.conditions.order_by("order")[sum(map(ord, o.key)) % len(SMALL_CONDITIONS)]
    )
    reference_source = "histopathology"


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Study

    title = factory.Sequence(lambda n: f"Study {n}")
    slug = factory.Sequence(lambda n: f"study-{n}")
    case_set = factory.SubFactory(CaseSetFactory)
    design = m.Design.SEQUENTIAL
    seed = 42
    settings = factory.LazyFunction(dict)


class ArmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Arm

    study = factory.SubFactory(StudyFactory)
    name = "unaided"
    label = "Unaided"
    kind = m.ArmKind.UNAIDED


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Membership

    study = factory.SubFactory(StudyFactory)
    user = factory.SubFactory(UserFactory)
    role = m.Role.READER
    pseudonym = factory.Sequence(lambda n: f"R{n:03d}")


class CaseImageFactory(factory.django.DjangoModelFactory):
    """An image row; the file itself is the caller's (tests that serve images write it first)."""

    class Meta:
        model = cm.CaseImage

    case = factory.SubFactory(CaseFactory)
    role = cm.ImageRole.CLINICAL
    order = 0
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    file = factory.LazyAttribute(lambda o: f"cases/{o.sha256[:2]}/{o.sha256}.jpg")
    thumbnail = factory.LazyAttribute(lambda o: o.file)
    width = 96
    height = 72


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"model-{n}")
    kind = ModelKind.SIMULATED
    calibrated = True


class ModelOutputFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelOutput

    model_version = factory.SubFactory(ModelVersionFactory)
    case = factory.SubFactory(CaseFactory)
    taxonomy = factory.LazyAttribute(lambda o: o.case.case_set.taxonomy)
    probabilities = factory.LazyFunction(lambda: {"MEL": 0.6, "NEV": 0.3, "SK": 0.1})
    top_codes = factory.LazyAttribute(lambda o: sorted(o.probabilities, key=lambda c: (-o.probabilities[c], c)))


class DisplayOutputFactory(factory.django.DjangoModelFactory):
    """A finished precomputed display; pass ``payload={"normal": P, "faulty": P}`` in the spec's format
    (readerstudy_tests/display_setup.py builds them). ``params_sha256`` hashes ``params`` as the
    precompute does."""

    class Meta:
        model = DisplayOutput

    model_version = factory.SubFactory(ModelVersionFactory)
    case = factory.SubFactory(CaseFactory)
    kind = DisplayKind.MALIGNANCY
    library = None
    params = factory.LazyAttribute(lambda o: {"kind": o.kind, "library": o.library.pk if o.library else None})
    params_sha256 = factory.LazyAttribute(
        lambda o: hashlib.sha256(json.dumps(o.params, sort_keys=True).encode()).hexdigest())
    payload = factory.LazyFunction(dict)


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Invitation

    study = factory.SubFactory(StudyFactory)
    token = factory.Sequence(lambda n: f"invite-{n:06d}")


class ScheduleItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.ScheduleItem

    membership = factory.SubFactory(MembershipFactory)
    study = factory.LazyAttribute(lambda o: o.membership.study)
    case = factory.SubFactory(CaseFactory, case_set=factory.SelfAttribute("..study.case_set"))
    arm = factory.SubFactory(ArmFactory, study=factory.SelfAttribute("..study"))
    position = factory.Sequence(lambda n: n)
    phase = 1
    session = 1


class ReadingFactory(factory.django.DjangoModelFactory):
    """A submitted reading as the reader service stores it (`seconds` from shown to submitted)."""

    class Meta:
        model = m.Reading
        exclude = ("seconds",)

    schedule_item = factory.SubFactory(ScheduleItemFactory)
    idempotency_key = factory.LazyFunction(uuid.uuid4)
    differential = factory.LazyFunction(lambda: ["MEL"])
    confidence = 4
    management = "biopsy_excise"
    seconds = 30.0
    shown_at = factory.LazyAttribute(lambda o: timezone.now() - timedelta(seconds=o.seconds))
    first_input_at = factory.LazyAttribute(lambda o: o.shown_at)
    submitted_at = factory.LazyAttribute(lambda o: o.shown_at + timedelta(seconds=o.seconds))
    active_ms = factory.LazyAttribute(lambda o: int(o.seconds * 900))
