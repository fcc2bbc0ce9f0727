"""Hostile text is escaped everywhere it is shown.

Case metadata and history, condition and management names (imported taxonomies), study texts,
pseudonyms, invitation e-mails, analysis errors and reader free text carry ``<script>`` and
attribute-breaking payloads. Every page that shows them must render them as text; downloads are
served as attachments with a non-HTML content type; the analysis report escapes them too.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from catalog import models as cm
from readerstudy import models as m
from readerstudy.services.readings import reading_submit
from tests.factories import MembershipFactory, UserFactory
from tests.readerstudy_tests.reader_setup import answer, build_study

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
SHORT = '"><svg onload=x>'  # fits 20-character fields (pseudonyms)
HOSTILE = SCRIPT + ATTRIBUTE
# What must never appear raw in a response body.
RAW = ("<script>alert(1)", "<img src=x", "<svg onload")
BACKEND = "django.contrib.auth.backends.ModelBackend"


def assert_escaped(body: bytes, where: str, *, must_show: bool = True) -> None:
    text = body.decode("utf-8", errors="replace")
    for raw in RAW:
        assert raw not in text, f"{where}: unescaped {raw!r}"
    if must_show:  # the payload is shown, as text (so the page did render the hostile field)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text or "&lt;svg onload" in text, where


@pytest.fixture
def hostile(db):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=2, images=True,
                        settings_={"ask_malignancy": True})
    study = built.study
    m.Study.objects.filter(pk=study.pk).update(
        title="Study " + HOSTILE, description=HOSTILE, instructions=HOSTILE, consent_text=HOSTILE,
    )
    cm.Case.objects.filter(pk__in=[c.pk for c in built.cases]).update(
        history=HOSTILE, body_site=ATTRIBUTE, duration=SCRIPT, sex="F", extra={"note": HOSTILE},
    )
    taxonomy = study.case_set.taxonomy
    cm.Condition.objects.filter(taxonomy=taxonomy, code__in=["NEV", "PSO"]).update(name="Naevus " + HOSTILE)
    cm.ManagementOption.objects.filter(taxonomy=taxonomy, code="monitor").update(label="Monitor " + HOSTILE)
    cm.CaseSet.objects.filter(pk=study.case_set_id).update(name="Cases " + HOSTILE)
    cm.CaseImage.objects.filter(case__in=built.cases).update(original_name=HOSTILE + ".png")
    m.Membership.objects.filter(pk=built.membership.pk).update(pseudonym=SHORT)
    m.ReaderProfile.objects.create(user=built.user, profession="gp", years_experience=3,
                                   dermoscopy_use="never", country=HOSTILE, age_band="<30")
    coordinator = UserFactory(username="coord-xss", first_name=SCRIPT)
    coordinator.user_permissions.add(*Permission.objects.filter(codename__in=["add_caseset", "add_study"]))
    MembershipFactory(study=study, user=coordinator, role=m.Role.COORDINATOR, pseudonym="C-1")
    m.Invitation.objects.create(study=study, token="tok-" + uuid.uuid4().hex, email="x@example.org")
    built.membership.refresh_from_db()
    study.refresh_from_db()
    # Phase 1 of case 1 answered with the hostile-named condition: phase 2 shows it back with the AI panel.
    reading_submit(membership=built.membership, item=built.items[0],
                   payload={**answer(codes=("NEV",)), "malignancy": 20}, idempotency_key=uuid.uuid4())
    run = m.AnalysisRun.objects.create(study=study, params={"outcome": "correct_top1", "control": HOSTILE},
                                       status=m.RunStatus.FAILED, error=HOSTILE)
    return {"built": built, "coordinator": coordinator, "run": run}


def test_reader_case_page_escapes_case_metadata_names_and_answers(hostile, client):
    built = hostile["built"]
    client.force_login(built.user, backend=BACKEND)
    response = client.get(reverse("reader:case", args=[built.study.slug]))
    assert response.status_code == 200
    assert_escaped(response.content, "case page (phase 2)")
    text = response.content.decode()
    assert "Naevus &lt;script&gt;" in text  # the phase-1 answer / AI suggestion names, escaped
    htmx = client.get(reverse("reader:case", args=[built.study.slug]), HTTP_HX_REQUEST="true")
    assert_escaped(htmx.content, "case page partial (htmx)")


def test_reader_validation_errors_echo_posted_values_escaped(hostile, client):
    built = hostile["built"]
    client.force_login(built.user, backend=BACKEND)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    response = client.post(url, {"item_id": built.items[1].pk, "idempotency_key": str(uuid.uuid4()),
                                 "dx": [ATTRIBUTE, SCRIPT], "confidence": ATTRIBUTE, "management": SCRIPT,
                                 "malignancy": ATTRIBUTE})
    assert response.status_code == 422
    assert_escaped(response.content, "case page with errors", must_show=False)


@pytest.mark.parametrize("name", ["reader:instructions", "reader:end", "reader:consent"])
def test_other_reader_pages_escape_study_texts(hostile, client, name):
    built = hostile["built"]
    m.Membership.objects.filter(pk=built.membership.pk).update(instructions_seen=False, consented_at=None)
    client.force_login(built.user, backend=BACKEND)
    response = client.get(reverse(name, args=[built.study.slug]), follow=True)
    assert response.status_code == 200
    assert_escaped(response.content, name)


def test_conditions_index_is_json(hostile, client):
    built = hostile["built"]
    client.force_login(built.user, backend=BACKEND)
    response = client.get(reverse("reader:conditions", args=[built.study.slug]))
    assert response["Content-Type"].startswith("application/json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


COORDINATOR_PAGES = ["studies:detail", "studies:progress", "studies:invitations", "studies:edit",
                     "analysis:list"]


@pytest.mark.parametrize("name", COORDINATOR_PAGES)
def test_coordinator_pages_escape_hostile_text(hostile, client, name):
    client.force_login(hostile["coordinator"], backend=BACKEND)
    response = client.get(reverse(name, args=[hostile["built"].study.slug]))
    assert response.status_code == 200, name
    assert_escaped(response.content, name)


def test_home_case_sets_and_analysis_detail_escape_hostile_text(hostile, client):
    client.force_login(hostile["coordinator"], backend=BACKEND)
    slug = hostile["built"].study.slug
    for url in (reverse("home"), reverse("case_sets"),
                reverse("analysis:detail", args=[slug, hostile["run"].pk])):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_escaped(response.content, url)


def test_progress_partial_escapes_pseudonyms(hostile, client):
    client.force_login(hostile["coordinator"], backend=BACKEND)
    response = client.get(reverse("studies:progress", args=[hostile["built"].study.slug]), HTTP_HX_REQUEST="true")
    assert response.status_code in (200, 286)
    assert_escaped(response.content, "progress partial", must_show=False)


@pytest.mark.parametrize("name", ["studies:export_readings", "studies:export_schedules"])
def test_exports_are_attachments_not_html(hostile, client, name):
    client.force_login(hostile["coordinator"], backend=BACKEND)
    response = client.get(reverse(name, args=[hostile["built"].study.slug]))
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] in ("text/csv", "application/vnd.apache.parquet")
    assert response["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", ["readings.csv", "schedules.csv", "cases.csv"])
def test_api_exports_are_attachments_not_html(hostile, name):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(hostile["coordinator"])
    response = api.get(reverse("api:study-export", args=[hostile["built"].study.slug, name]))
    assert response.status_code == 200
    assert "html" not in response["Content-Type"]
    assert response["Content-Disposition"].startswith("attachment")


def test_analysis_report_escapes_hostile_arm_and_group_names():
    """Readings imported from elsewhere may carry any text; the HTML report shows it as text."""
    from analysis.compare import compare
    from analysis.report import compare_report
    from analysis.simulate import simulate_study

    table = simulate_study(seed=3)
    control, treatment = sorted(table["arm"].unique())
    table["arm"] = table["arm"].map({control: "unaided " + SCRIPT, treatment: "ai " + ATTRIBUTE})
    table["reader_group"] = [SCRIPT if i % 2 else ATTRIBUTE for i in range(len(table))]
    result = compare(table, outcome="correct_top1", control="unaided " + SCRIPT, treatment="ai " + ATTRIBUTE,
                     by=["reader_group"], by_case=[])
    html = compare_report(result)
    assert_escaped(html.encode(), "analysis report")
