"""seed_demo builds what it says: taxonomy, drawn cases, simulated AI with outputs, users, a launched
study per design with schedules; a second run changes nothing."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Case, CaseImage
from inference.models import ModelOutput, ModelVersion
from readerstudy.models import Design, Membership, Role, ScheduleItem, Study, StudyStatus

pytestmark = pytest.mark.django_db


def seed(**options) -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def test_seed_demo_builds_a_launched_study_per_design():
    output = seed(cases=8, readers=3, seed=5, image_size=128)
    assert "password for all: readerstudy-demo" in output
    users = set(get_user_model().objects.values_list("username", flat=True))
    assert {"coordinator", "statistician", "reader1", "reader2", "reader3"} <= users
    cases = Case.objects.filter(case_set__name__startswith="Demo cases (8")
    assert cases.count() == 8
    assert set(CaseImage.objects.filter(case__in=cases).values_list("role", flat=True)) == {"clinical",
                                                                                          "dermoscopic"}
    assert {c.fitzpatrick for c in cases} <= set(range(1, 7))
    model = ModelVersion.objects.get(name="simulated-demo-75")
    assert model.kind == "simulated"
    assert ModelOutput.objects.filter(model_version=model, case__in=cases, status="done").count() == 8
    # One study per design (the two-site study, with its own simulated readers, is tested apart).
    studies = Study.objects.filter(case_set=cases.first().case_set).exclude(slug__startswith="demo-two-site")
    assert {s.design for s in studies} == set(Design.values)
    for study in studies:
        assert study.status == StudyStatus.LAUNCHED
        readers = Membership.objects.filter(study=study, role=Role.READER)
        assert readers.count() == 3
        per_reader = {m.pk: ScheduleItem.objects.filter(membership=m).count() for m in readers}
        expected = {Design.SEQUENTIAL: 16, Design.CROSSOVER: 16}.get(study.design, 8)
        assert set(per_reader.values()) == {expected}, study.design
        assert (study.model_version is None) == (study.design == Design.BENCHMARK)


def test_second_run_is_a_noop():
    seed(cases=4, readers=2, seed=9, image_size=96)
    counts = (Case.objects.count(), ScheduleItem.objects.count(), Study.objects.count(),
              get_user_model().objects.count(), ModelOutput.objects.count())
    seed(cases=4, readers=2, seed=9, image_size=96)
    assert counts == (Case.objects.count(), ScheduleItem.objects.count(), Study.objects.count(),
                      get_user_model().objects.count(), ModelOutput.objects.count())


def test_bad_sizes_are_refused():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--cases must be >= 2"):
        seed(cases=1)


def test_admin_pages_render_for_the_demo_staff_user(client):
    output = seed(cases=4, readers=1, seed=11, image_size=96)
    assert "  admin " in output and "/admin/" in output  # printed with the other logins
    staff = get_user_model().objects.get(username="admin")
    assert staff.is_staff and staff.check_password("readerstudy-demo")
    assert client.login(username="admin", password="readerstudy-demo")
    for path in ("/admin/", "/admin/readerstudy/study/", "/admin/readerstudy/reading/",
                 "/admin/catalog/case/", "/admin/common/auditevent/", "/admin/inference/modelversion/"):
        assert client.get(path).status_code == 200, path


def test_display_study_has_four_arms_a_reference_library_and_balanced_blocks():
    from catalog.models import CaseSet

    seed(cases=8, readers=2, seed=5, image_size=96)
    study = Study.objects.get(slug="demo-displays-8-5")
    assert study.design == Design.RANDOMISED_BLOCKS and study.status == StudyStatus.LAUNCHED
    arms = list(study.arms.order_by("order"))
    assert [(a.name, a.kind, a.assist.get("display")) for a in arms] == [
        ("unaided", "unaided", None), ("top3", "ai", "differential"), ("similar", "ai", "similar_cases"),
        ("concepts", "ai", "concepts")]
    for membership in Membership.objects.filter(study=study, role=Role.READER):
        arms_read = list(ScheduleItem.objects.filter(membership=membership).values_list("arm__name", flat=True))
        assert sorted(arms_read) == ["concepts"] * 2 + ["similar"] * 2 + ["top3"] * 2 + ["unaided"] * 2
    library = study.reference_library
    assert library is not None and library.reference_library and library != study.case_set
    assert CaseSet.objects.filter(reference_library=True).count() == 1
    library_cases = list(library.cases.select_related("reference").prefetch_related("images"))
    assert all(sorted(i.role for i in c.images.all()) == ["clinical", "dermoscopic"] for c in library_cases)
    assert all(c.extra["label_source"] == "generator" and c.extra["patient_id"] and c.extra["lesion_id"]
               for c in library_cases)
    # Three library cases are earlier pictures of the first study cases' lesions: same patient, same
    # lesion, same diagnosis (what the similar-cases exclusions must leave out).
    study_cases = {c.key: c for c in study.case_set.cases.select_related("reference")}
    follow_ups = [c for c in library_cases if "follow_up_of" in c.extra]
    assert sorted(c.extra["follow_up_of"] for c in follow_ups) == ["DEMO-00001", "DEMO-00002", "DEMO-00003"]
    for case in follow_ups:
        original = study_cases[case.extra["follow_up_of"]]
        assert (case.extra["patient_id"], case.extra["lesion_id"]) == (original.extra["patient_id"],
                                                                      original.extra["lesion_id"])
        assert case.reference.code == original.reference.code
    # Each condition of a study case, and each the assistant ranks first, is in the library twice (its
    # weight is at least 2); the other conditions are ones it ranks second for some case.
    library_codes = Counter(c.reference.code for c in library_cases if "follow_up_of" not in c.extra)
    references = {c.reference.code for c in study_cases.values()}
    rankings = list(ModelOutput.objects.filter(model_version=study.model_version, case__in=study_cases.values())
                    .values_list("top_codes", flat=True))
    assert all(library_codes[code] == 2 for code in references | {top[0] for top in rankings})
    assert set(library_codes) - references <= {code for top in rankings for code in top[:2]}
    assert len(library_cases) - 3 <= 64
    assert "demo-displays-8-5" in seed(cases=8, readers=2, seed=5, image_size=96)  # printed with the logins


def test_display_study_precomputes_coherent_displays():
    """Similar cases and concepts for every case (spec: DisplayOutput payload {"normal", "faulty"}); a
    gallery names library images only, of the diagnoses the model ranks, never the case's own lesion."""
    from catalog.models import CaseImage
    from inference.models import DisplayOutput

    seed(cases=8, readers=1, seed=5, image_size=96)
    study = Study.objects.get(slug="demo-displays-8-5")
    library = study.reference_library
    library_images = {i.pk: i for i in CaseImage.objects.filter(case__case_set=library).select_related(
        "case__reference")}
    outputs = {o.case_id: o for o in ModelOutput.objects.filter(model_version=study.model_version,
                                                                case__case_set=study.case_set)}
    for case in study.case_set.cases.all():
        gallery = DisplayOutput.objects.get(model_version=study.model_version, case=case, kind="similar_cases",
                                            library=library, status="done")
        concepts = DisplayOutput.objects.get(model_version=study.model_version, case=case, kind="concepts",
                                             status="done")
        assert set(gallery.payload) == set(concepts.payload) == {"normal", "faulty"}
        neighbours = gallery.payload["normal"]["neighbours"]
        assert 8 <= len(neighbours) <= 16  # at most 4 diagnoses, each as many as the library holds
        for nb in neighbours:
            image = library_images[int(nb["image_id"])]
            assert nb["diagnosis"] == image.case.reference.code  # the generator's label
            assert image.case.extra["patient_id"] != case.extra["patient_id"]  # never the same patient
        top1 = outputs[case.pk].top_codes[0]
        assert neighbours[0]["diagnosis"] == top1
        shown = Counter(nb["diagnosis"] for nb in neighbours[:12])  # the arm's n_similar
        assert shown[top1] == max(shown.values())
        # The earlier pictures of DEMO-00001..3's own lesions (two images each) were left out.
        excluded = gallery.payload["normal"]["excluded"]
        assert excluded["same_patient"] == (2 if case.key in ("DEMO-00001", "DEMO-00002", "DEMO-00003") else 0)
        findings = concepts.payload["normal"]["findings"]
        assert findings and all(0 <= f["strength"] <= 1 for f in findings)
