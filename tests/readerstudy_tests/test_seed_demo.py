"""seed_demo builds what it says: taxonomy, drawn cases, simulated AI with outputs, users, a launched
study per design with schedules; a second run changes nothing."""

from __future__ import annotations

import io

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
