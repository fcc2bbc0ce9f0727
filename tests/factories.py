"""factory_boy factories for the data model, plus `small_study` which builds a ready-to-launch study."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from catalog import models as cm
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
