"""Typed study and arm settings: one schema (readerstudy.core.study_settings) for pages, API and launch.

Ill-typed values used to be stored and launched (an AI arm with ``top_k: "x"`` gave every reader of
that arm a 500) or gave 500s at creation; now each is a 400 naming the field, and launch
re-validates everything, including rows written around the services.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from readerstudy.core.study_settings import SettingsError, parse_arm_assist, parse_study_settings
from readerstudy.models import Arm, ArmKind, Study
from readerstudy.services import studies
from tests.factories import UserFactory

from .studies_helpers import case_set_with, enrol_readers, make_study

pytestmark = pytest.mark.django_db

BAD_SETTINGS = [
    ("time_limit_s", "x"), ("time_limit_s", 5), ("time_limit_s", True), ("quota", "5"), ("quota", 0),
    ("repeat_cases", "2"), ("repeat_cases", -1), ("repeat_cases", 1.5), ("completion_threshold", "high"),
    ("completion_threshold", 0), ("completion_threshold", float("nan")), ("top_k", True), ("top_k", 9),
    ("washout_days", None), ("block_size", "10"), ("max_readers", []), ("ask_confidence", "yes"),
    ("training_cases", "A,B"), ("training_cases", [1]), ("stratify_by", 3), ("feedback", 1),
]
BAD_ASSIST = [("top_k", "x"), ("top_k", 0), ("show_probabilities", "no"), ("faulty_rate", 2),
              ("faulty_rate", "0.2"), ("colour", "red")]


@pytest.fixture
def coordinator():
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="add_study"))
    return user


@pytest.fixture
def api(coordinator):
    client = APIClient()
    client.force_authenticate(coordinator)
    return client


def create_body(case_set, **extra):
    return {"title": "Typed", "case_set": case_set.pk, "design": "sequential", **extra}


@pytest.mark.parametrize(("key", "value"), BAD_SETTINGS)
def test_schema_names_the_field(key, value):
    with pytest.raises(SettingsError) as caught:
        parse_study_settings({key: value})
    assert list(caught.value.fields) == [f"settings.{key}"]


@pytest.mark.parametrize(("key", "value"), BAD_ASSIST)
def test_assist_schema_names_the_key(key, value):
    with pytest.raises(SettingsError) as caught:
        parse_arm_assist("ai", {key: value})
    assert list(caught.value.fields) == [f"assist.{key}"]


def test_valid_values_parse():
    parsed = parse_study_settings({"time_limit_s": None, "quota": 5, "completion_threshold": 1,
                                   "ai": {"top_k": 4, "show_probabilities": False}})
    assert (parsed.quota, parsed.completion_threshold, parsed.ai.top_k) == (5, 1.0, 4)
    assert parse_arm_assist("ai", {"top_k": 2, "faulty_rate": 0.25}) == {"top_k": 2, "faulty_rate": 0.25}
    with pytest.raises(SettingsError):
        parse_arm_assist("unaided", {"top_k": 2})


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, v in BAD_SETTINGS if v == v])  # JSON has no NaN
def test_api_create_answers_400_naming_the_setting(api, coordinator, key, value):
    case_set = case_set_with(2)
    case_set.created_by = coordinator
    case_set.save(update_fields=["created_by"])
    response = api.post("/api/v1/studies/", create_body(case_set, settings={key: value}), format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert f"settings.{key}" in error["details"]["fields"], error
    assert not Study.objects.filter(title="Typed").exists()


@pytest.mark.parametrize(("key", "value"), BAD_ASSIST)
def test_api_create_refuses_an_ill_typed_ai_arm(api, coordinator, key, value):
    case_set = case_set_with(2)
    case_set.created_by = coordinator
    case_set.save(update_fields=["created_by"])
    arms = [{"name": "unaided", "label": "Unaided", "kind": "unaided"},
            {"name": "ai", "label": "AI", "kind": "ai", "assist": {key: value}}]
    response = api.post("/api/v1/studies/", create_body(case_set, arms=arms), format="json")
    assert response.status_code == 400, response.content
    assert f"arms[1].assist.{key}" in response.json()["error"]["details"]["fields"]
    assert not Study.objects.filter(title="Typed").exists()


def test_api_update_answers_400_not_409(api, coordinator):
    study = make_study(coordinator=coordinator)
    response = api.patch(f"/api/v1/studies/{study.slug}/", {"settings": {"quota": "all"}}, format="json")
    assert response.status_code == 400, response.content
    assert "settings.quota" in response.json()["error"]["details"]["fields"]
    arms = [{"name": "unaided", "label": "U", "kind": "unaided"},
            {"name": "ai", "label": "AI", "kind": "ai", "assist": {"top_k": "x"}}]
    response = api.patch(f"/api/v1/studies/{study.slug}/", {"arms": arms}, format="json")
    assert response.status_code == 400 and "arms[1].assist.top_k" in response.json()["error"]["details"]["fields"]
    assert Arm.objects.get(study=study, kind=ArmKind.AI).assist.get("top_k") != "x"


def test_launch_revalidates_arms_and_settings_written_around_the_services(api, coordinator):
    study = make_study(coordinator=coordinator)
    enrol_readers(study, 2)
    Arm.objects.filter(study=study, kind=ArmKind.AI).update(assist={"top_k": "x"})
    with pytest.raises(studies.StudyError) as caught:
        studies.study_launch(study=study, actor=coordinator)
    assert any("arms[1].assist.top_k" in problem for problem in caught.value.problems)
    response = api.post(f"/api/v1/studies/{study.slug}/launch/")
    assert response.status_code == 409 and "arms[1].assist.top_k" in str(response.json()["error"]["details"])
    Arm.objects.filter(study=study, kind=ArmKind.AI).update(assist={"top_k": 3})
    Study.objects.filter(pk=study.pk).update(settings={"time_limit_s": "x"})
    study.refresh_from_db()
    assert any("settings.time_limit_s" in p for p in studies.launch_problems(study))
    Study.objects.filter(pk=study.pk).update(settings={}, design="nonsense")
    study.refresh_from_db()
    assert any(p.startswith("design:") for p in studies.launch_problems(study))
    study.refresh_from_db()
    assert study.status == "draft"
