"""The flows behind the endpoints: reading with idempotency, blinding, study setup, analyses, imports."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from readerstudy.models import Reading, ScheduleItem, Study
from tests.factories import UserFactory

from .conftest import png_bytes, ready

ANSWER = {"differential": ["MEL", "NEV"], "confidence": 4, "management": "refer", "malignancy": 70}


def next_item(client, slug):
    response = client.get(f"/api/v1/studies/{slug}/schedule/next/")
    assert response.status_code == 200
    return response.json()


def test_reader_reads_through_the_api_with_idempotent_submits(world):
    client, slug = world.client("reader"), world.study.slug
    body = next_item(client, slug)
    assert body["step"] == "case" and body["done"] == 0 and body["form"]["ask_malignancy"] is True
    item = body["item"]
    key = str(uuid.uuid4())
    first = client.post(f"/api/v1/studies/{slug}/readings/", {"item": item["id"], **ANSWER},
                        format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201, first.content
    retry = client.post(f"/api/v1/studies/{slug}/readings/", {"item": item["id"], **ANSWER, "idempotency_key": key},
                        format="json")
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"] and retry.json()["created"] is False
    assert Reading.objects.filter(schedule_item_id=item["id"]).count() == 1
    after = next_item(client, slug)
    assert after["done"] == 1 and after["item"]["id"] != item["id"]
    schedule = client.get(f"/api/v1/studies/{slug}/schedule/").json()["results"]
    assert [row["answered"] for row in schedule[:2]] == [True, False]


def test_reading_errors_have_the_error_body(world):
    client, slug = world.client("reader"), world.study.slug
    item = next_item(client, slug)["item"]
    invalid = client.post(f"/api/v1/studies/{slug}/readings/", {"item": item["id"], "differential": ["XXX"],
                                                                "idempotency_key": str(uuid.uuid4())}, format="json")
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == "invalid" and "differential" in invalid.json()["error"]["details"]
    later = ScheduleItem.objects.filter(membership=world.reader).order_by("-position").first()
    out_of_turn = client.post(f"/api/v1/studies/{slug}/readings/", {"item": later.pk, **ANSWER,
                                                                     "idempotency_key": str(uuid.uuid4())}, format="json")
    assert out_of_turn.status_code == 409 and out_of_turn.json()["error"]["code"] in {"not_current", "phase_order"}
    theirs = ScheduleItem.objects.filter(membership=world.finished).first()
    foreign = client.post(f"/api/v1/studies/{slug}/readings/", {"item": theirs.pk, **ANSWER,
                                                                 "idempotency_key": str(uuid.uuid4())}, format="json")
    assert foreign.status_code == 404
    no_key = client.post(f"/api/v1/studies/{slug}/readings/", {"item": item["id"], **ANSWER}, format="json")
    assert no_key.status_code == 400 and "idempotency_key" in no_key.json()["error"]["details"]


def test_reader_must_finish_the_steps_before_cases(world):
    world.reader.__class__.objects.filter(pk=world.reader.pk).update(instructions_seen=False)
    client, slug = world.client("reader"), world.study.slug
    assert next_item(client, slug) | {"form": None} == {"step": "instructions", "done": 0, "total": 12,
                                                          "form": None, "item": None}
    response = client.post(f"/api/v1/studies/{slug}/readings/", {"item": 1, **ANSWER,
                                                                 "idempotency_key": str(uuid.uuid4())}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_ready"


def _walk(client, slug, n):
    """Answer n items through the API; return every next-item body seen."""
    seen = []
    for _ in range(n):
        body = next_item(client, slug)
        seen.append(body)
        if body["item"] is None:
            break
        response = client.post(f"/api/v1/studies/{slug}/readings/", {"item": body["item"]["id"], **ANSWER,
                                                                     "idempotency_key": str(uuid.uuid4())},
                               format="json")
        assert response.status_code == 201, response.content
    return seen


def test_blinding_holds_through_the_api(world):
    """Unaided phase 1 never carries model output; phase 2 carries exactly the AI display; no reference."""
    client, slug = world.client("reader"), world.study.slug
    seen = _walk(client, slug, 4)
    references = set(world.study.case_set.cases.values_list("reference__code", flat=True))
    for body in seen:
        item = body["item"]
        assert "reference" not in json.dumps(body) and "key" not in item["case"]
        assert set(item["case"]) == {"age", "sex", "body_site", "fitzpatrick", "duration", "history", "history_language"}
        if item["phase"] == 1:
            assert item["ai"] is None and item["arm"] == "unaided" and item["phase1_answer"] is None
        else:
            assert item["arm"] == "ai" and item["ai"]["items"] and item["phase1_answer"]["differential"] == ["MEL", "NEV"]
    assert references  # the test would be vacuous without references to hide
    # Model outputs and reference labels are staff-only.
    for path in ("model-outputs/", "exports/cases.csv/", "exports/model-outputs.csv/", "readings/"):
        assert client.get(f"/api/v1/studies/{slug}/{path}").status_code == 404
    assert client.get(f"/api/v1/case-sets/{world.study.case_set_id}/cases/").status_code == 404


def test_reader_image_needs_the_case_shown(world):
    client, slug = world.client("reader"), world.study.slug
    body = next_item(client, slug)
    image = body["item"]["images"][0]
    response = client.get(image["url"])
    assert response.status_code == 200 and b"".join(response.streaming_content) == png_bytes()
    never_shown = world.client("finished").get(f"/api/v1/studies/{slug}/images/{world.image.pk}/")
    assert never_shown.status_code == 404  # their readings were stored without showing the case
    unseen = world.client("other").get(f"/api/v1/studies/{slug}/images/{world.image.pk}/")
    assert unseen.status_code == 404


def test_coordinator_creates_configures_launches_and_invites(world):
    client = world.client("coordinator")
    payload = {"title": "API study", "case_set": world.study.case_set_id, "design": "benchmark",
               "settings": {"ask_malignancy": True}, "seed": 11, "consent_text": "Taking part is voluntary."}
    created = client.post("/api/v1/studies/", payload, format="json")
    assert created.status_code == 201, created.content
    slug = created.json()["slug"]
    assert created.json()["status"] == "draft" and [a["name"] for a in created.json()["arms"]] == ["unaided"]
    patched = client.patch(f"/api/v1/studies/{slug}/", {"description": "Via the API",
                                                        "settings": {"top_k": 2}}, format="json")
    assert patched.status_code == 200 and patched.json()["settings"]["top_k"] == 2
    bad = client.patch(f"/api/v1/studies/{slug}/", {"settings": {"nonsense": 1}}, format="json")
    assert bad.status_code == 400 and "settings.nonsense" in bad.json()["error"]["details"]["fields"]  # invalid input
    invitation = client.post(f"/api/v1/studies/{slug}/invitations/", {"single_use": False, "max_uses": 5},
                             format="json")
    assert invitation.status_code == 201 and invitation.json()["url"].endswith(f"/join/{invitation.json()['token']}/")
    launched = client.post(f"/api/v1/studies/{slug}/launch/")
    assert launched.status_code == 200 and launched.json()["status"] == "launched"
    locked = client.patch(f"/api/v1/studies/{slug}/", {"seed": 3}, format="json")
    assert locked.status_code == 409 and "seed" in locked.json()["error"]["message"].lower()
    unknown_case_set = client.post("/api/v1/studies/", {**payload, "case_set": world.other_study.case_set_id},
                                   format="json")
    assert unknown_case_set.status_code == 400 and "case_set" in unknown_case_set.json()["error"]["details"]


def test_progress_and_readings_list_with_filters_and_cursor(world):
    client, slug = world.client("statistician"), world.study.slug
    progress = client.get(f"/api/v1/studies/{slug}/progress/").json()
    assert progress["totals"]["readers"] == 2 and {r["completed"] for r in progress["readers"]} == {0, 12}
    assert all("username" not in r for r in progress["readers"])
    page = client.get(f"/api/v1/studies/{slug}/readings/", {"page_size": 5}).json()
    assert len(page["results"]) == 5 and page["next"]
    rest = client.get(page["next"]).json()
    assert len(rest["results"]) == 5 and {r["id"] for r in rest["results"]}.isdisjoint(r["id"] for r in page["results"])
    phase2 = client.get(f"/api/v1/studies/{slug}/readings/", {"phase": 2, "arm": "ai"}).json()["results"]
    assert len(phase2) == 6 and all(r["phase"] == 2 for r in phase2)
    assert client.get(f"/api/v1/studies/{slug}/readings/", {"phase": 3}).status_code == 400


def test_analysis_run_through_the_api(world, django_capture_on_commit_callbacks):
    client, slug = world.client("statistician"), world.study.slug
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/api/v1/studies/{slug}/analysis-runs/", {"outcome": "correct_top1", "by": [],
                                                                        "by_case": []}, format="json")
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]
    status = client.get(f"/api/v1/studies/{slug}/analysis-runs/{run_id}/").json()
    assert status["status"] == "done", status["error"]
    results = client.get(f"/api/v1/studies/{slug}/analysis-runs/{run_id}/results/").json()["results"]
    assert results["control"] == "unaided" and results["treatment"] == "ai" and results["n_readings"] == 12
    report = client.get(f"/api/v1/studies/{slug}/analysis-runs/{run_id}/report/")
    assert report.status_code == 200 and b"<html" in report.content.lower()
    bad = client.post(f"/api/v1/studies/{slug}/analysis-runs/", {"control": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["problems"]


def test_case_set_import_through_the_api(world):
    client = world.client("coordinator")
    manifest = ("case_id,clinical_image,age,sex,body_site,fitzpatrick,reference_code,reference_source\n"
                "N1,n1.png,40,F,arm,2,MEL,histopathology\nN2,n2.png,50,M,leg,3,NEV,expert_panel\n")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("n1.png", png_bytes((10, 20, 30)))
        zf.writestr("n2.png", png_bytes((30, 20, 10)))

    def upload(text, name="API import"):
        archive.seek(0)
        return client.post("/api/v1/case-sets/import/", {
            "name": name, "taxonomy": world.study.case_set.taxonomy_id,
            "manifest": io.BytesIO(text.encode()) and _named(text.encode(), "manifest.csv"),
            "images": _named(archive.getvalue(), "images.zip")}, format="multipart")

    created = upload(manifest)
    assert created.status_code == 201, created.content
    assert created.json()["n_cases"] == 2 and created.json()["case_set"]["n_cases"] == 2
    broken = upload(manifest.replace("MEL", "NOPE"), name="Broken import")
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "import_failed"
    problem = broken.json()["error"]["details"]["problems"][0]
    assert problem["row"] == 1 and problem["field"] == "reference_code"


def _named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_api_token_command(db, capsys):
    user = UserFactory(username="script")
    call_command("api_token", "script")
    key = capsys.readouterr().out.strip()
    assert Token.objects.get(user=user).key == key
    call_command("api_token", "script")
    assert capsys.readouterr().out.strip() == key
    call_command("api_token", "script", "--reset")
    assert capsys.readouterr().out.strip() != key


def test_session_authentication_works_for_pages(world, client):
    client.force_login(world.users["coordinator"])
    assert client.get("/api/v1/studies/").status_code == 200


@pytest.mark.parametrize("role", ["statistician", "coordinator"])
def test_new_reader_via_invitation_gets_a_schedule(world, role):
    """A launched study's invitation admits a reader whose API schedule exists at once."""
    client = world.client("coordinator")
    token = client.post(f"/api/v1/studies/{world.study.slug}/invitations/", {}, format="json").json()["token"]
    from readerstudy.services.studies import invitation_accept

    newcomer = UserFactory()
    membership = invitation_accept(token=token, user=newcomer)
    ready(membership)
    Token.objects.create(user=newcomer, key="n" * 40)
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token " + "n" * 40)
    # The schedule exists at once; the API shows its first case (never the items ahead: allocation concealed).
    assert api.get(f"/api/v1/studies/{world.study.slug}/schedule/next/").json()["item"]["id"]
    assert Study.objects.get(pk=world.study.pk).status == "launched"
