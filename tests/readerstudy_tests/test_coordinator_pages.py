"""Coordinator pages, issue 17: honest next step, one set of study tabs, the study form by design with arm rows
and an error summary, invitation labels, member pages, evaluation and AI-output pages, and counts that match
the rows (pages and API)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inference.models import JobStatus, ModelEvaluation, ModelOutput, PrecomputeJob
from readerstudy.models import Invitation, Membership, Role, ScheduleItem, Study
from readerstudy.services import studies
from tests.factories import UserFactory

from .studies_helpers import case_set_with, enrol_readers, make_study, model_version_for, submit

pytestmark = pytest.mark.django_db


def _page(client, name, *args, **params) -> str:
    response = client.get(reverse(name, args=args), params)
    assert response.status_code == 200, (name, response.status_code)
    return response.content.decode()


def _next_step(html: str) -> str:
    section = re.search(r'<section class="card next-step">(.*?)</section>', html, re.S).group(1)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))


# --- counts ---------------------------------------------------------------------------------------


def test_case_set_counts_are_not_multiplied_by_the_studies_using_it(client):
    """A 4-case set used by 3 studies: 4 everywhere (the join through studies made it 12)."""
    coordinator = UserFactory()
    case_set = case_set_with(4)
    for i in range(3):
        studies.study_create(actor=coordinator, title=f"Study {i}", case_set=case_set, design="benchmark")
    statistician = UserFactory()
    studies.membership_add(study=Study.objects.first(), user=statistician, role=Role.STATISTICIAN, actor=None)
    for user in (coordinator, statistician):
        client.force_login(user)
        listed = client.get("/api/v1/case-sets/").json()["results"]
        assert [(row["id"], row["n_cases"]) for row in listed] == [(case_set.pk, 4)]
        assert client.get(f"/api/v1/case-sets/{case_set.pk}/").json()["n_cases"] == 4
    coordinator.is_staff = True
    coordinator.save(update_fields=["is_staff"])
    client.force_login(coordinator)
    page = _page(client, "case_sets")
    row = re.search(rf"{re.escape(case_set.name)}</a></td><td>[^<]*</td><td>(\d+)</td>", page)
    assert row and row.group(1) == "4", page
    detail = _page(client, "case_set_detail", case_set.pk)
    assert "4 cases" in detail


def test_overview_and_progress_counts_match_the_rows(client):
    coordinator = UserFactory()
    study = make_study(design="benchmark", n_cases=3, coordinator=coordinator)
    readers = enrol_readers(study, 3)
    studies.study_launch(study=study, actor=None)
    first = ScheduleItem.objects.filter(membership=readers[0]).order_by("position")
    for item in first[:2]:
        submit(item, ["MEL"])
    client.force_login(coordinator)
    overview = _page(client, "studies:detail", study.slug)
    assert "3 enrolled" in overview and "(3 cases," in overview
    progress = _page(client, "studies:progress", study.slug)
    n_items = ScheduleItem.objects.filter(study=study).count()
    assert f"<strong>2</strong><span>of {n_items} readings</span>" in progress
    assert "<strong>3</strong><span>readers</span>" in progress


# --- next step -------------------------------------------------------------------------------------


def test_next_step_tells_the_truth(client):
    coordinator = UserFactory()
    study = make_study(design="benchmark", n_cases=2, coordinator=coordinator)
    client.force_login(coordinator)
    assert "Create the invitation links" in _next_step(_page(client, "studies:detail", study.slug))
    studies.invitation_create(study=study, actor=coordinator, single_use=False)
    step = _next_step(_page(client, "studies:detail", study.slug))
    assert "Ready to launch." in step and "No reader has joined yet: send the invitation links" in step
    studies.study_launch(study=study, actor=coordinator)
    step = _next_step(_page(client, "studies:detail", study.slug))
    assert "Send the invitation links: no reader has joined yet." in step
    assert "Readers are reading" not in step
    (reader,) = enrol_readers(study, 1)
    assert "nobody has read a case yet" in _next_step(_page(client, "studies:detail", study.slug))
    items = list(ScheduleItem.objects.filter(membership=reader).order_by("position"))
    submit(items[0], ["MEL"])
    assert "0 of 1 reader finished, 1 started" in _next_step(_page(client, "studies:detail", study.slug))
    for item in items[1:]:
        submit(item, ["MEL"])
    Membership.objects.filter(pk=reader.pk).update(completed_at=timezone.now())
    assert "All 1 reader finished." in _next_step(_page(client, "studies:detail", study.slug))


# --- one set of tabs ---------------------------------------------------------------------------------


def _tabs(html: str) -> list[str]:
    nav = re.search(r'<nav class="tabs" aria-label="Study pages">(.*?)</nav>', html, re.S)
    assert nav, "no study tabs"
    return re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(1))


def test_every_study_page_shows_the_same_tabs(client):
    coordinator = UserFactory()
    study = make_study(design="sequential", n_cases=2, coordinator=coordinator)
    (reader,) = enrol_readers(study, 1)
    client.force_login(coordinator)
    pages = [("studies:detail", "Overview"), ("studies:edit", "Settings"), ("studies:invitations", "Invitations"),
             ("studies:progress", "Progress"), ("study_ai:precompute", "AI outputs"),
             ("study_ai:evaluation", "Model evaluation"), ("analysis:list", "Analyses")]
    expected = None
    for name, current in [*pages, ("studies:launch", "Overview")]:
        html = _page(client, name, study.slug)
        tabs = _tabs(html)
        expected = expected or tabs
        assert tabs == expected, name
        assert re.search(rf'aria-current="page">{current}</a>', html), name
    assert [label for _, label in expected] == [label for _, label in pages]
    member = _page(client, "studies:member", study.slug, reader.pseudonym)
    assert _tabs(member) == expected
    statistician = UserFactory()
    studies.membership_add(study=study, user=statistician, role=Role.STATISTICIAN, actor=None)
    client.force_login(statistician)
    labels = [label for _, label in _tabs(_page(client, "analysis:list", study.slug))]
    assert labels == ["Overview", "Progress", "Model evaluation", "Analyses"]


# --- the study form ------------------------------------------------------------------------------------


def _form_data(case_set, **extra) -> dict:
    data = {"title": "Arms as rows", "case_set": case_set.pk, "design": "parallel", "consent_version": "1",
            "model_version": model_version_for(case_set).pk, "top_k": 3, "ask_confidence": "on",
            "block_size": 10, "washout_days": 14, "repeat_cases": 0, "completion_threshold": 0.95,
            "ai_top_k": 3, "ai_show_probabilities": "on",
            "arm-0-name": "unaided", "arm-0-label": "Unaided", "arm-0-kind": "unaided",
            "arm-1-name": "ai", "arm-1-label": "AI-assisted", "arm-1-kind": "ai", "arm-1-faulty_rate": "0.2",
            "arm-4-name": "ai-honest", "arm-4-label": "AI, never faulty", "arm-4-kind": "ai"}
    data.update(extra)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def creator(client):
    user = UserFactory(is_staff=True)
    client.force_login(user)
    return user


def test_arms_are_rows_with_a_kind(client, creator):
    case_set = case_set_with(4)
    response = client.post(reverse("studies:create"), _form_data(case_set))
    assert response.status_code == 302
    study = Study.objects.get(title="Arms as rows")
    arms = [(a.name, a.label, a.kind, a.assist.get("faulty_rate")) for a in study.arms.order_by("order")]
    assert arms == [("unaided", "Unaided", "unaided", None), ("ai", "AI-assisted", "ai", 0.2),
                    ("ai-honest", "AI, never faulty", "ai", 0.0)]
    page = _page(client, "studies:edit", study.slug)
    assert 'name="arm-2-name"' in page and 'value="ai-honest"' in page
    assert re.search(r'<select name="arm-1-kind"[^>]*>.*?<option value="ai" selected>AI-assisted</option>', page, re.S)
    assert "pipe" not in page and " | " not in page


def test_error_summary_links_to_every_field_and_saves_nothing(client, creator):
    case_set = case_set_with(4)
    data = _form_data(case_set, title="", top_k=None, **{"arm-1-name": "not a slug!", "arm-1-faulty_rate": "2"})
    response = client.post(reverse("studies:create"), data)
    assert response.status_code == 200 and not Study.objects.exists()
    html = response.content.decode()
    summary = re.search(r'<div class="error-summary card" role="alert".*?</div>', html, re.S).group(0)
    links = re.findall(r'<a href="#([^"]+)">', summary)
    assert {"id_title", "id_top_k", "id_arm-1-name", "id_arm-1-faulty_rate"} <= set(links), links
    assert "4 problems to fix before saving" in summary
    for anchor in links:
        assert f'id="{anchor}"' in html, anchor
    wrong = client.post(reverse("studies:create"), _form_data(case_set, design="crossover"))
    summary = re.search(r'<div class="error-summary card".*?</div>', wrong.content.decode(), re.S).group(0)
    assert 'href="#arms"' in summary and "needs exactly one unaided arm and one AI arm" in summary


def test_only_the_designs_fields_are_shown_and_used(client, creator):
    page = _page(client, "studies:create")
    assert re.search(r'data-designs="crossover" hidden>\s*<label for="id_washout_days"', page)
    assert re.search(r'data-designs="randomised_blocks" hidden>\s*<label for="id_block_size"', page)
    case_set = case_set_with(4)
    data = _form_data(case_set, title="Benchmark", design="benchmark", model_version=None, block_size="0",
                      washout_days="-3", ai_top_k="99",
                      **{"arm-1-name": None, "arm-1-label": None, "arm-1-kind": None, "arm-1-faulty_rate": None,
                         "arm-4-name": None, "arm-4-label": None, "arm-4-kind": None})
    response = client.post(reverse("studies:create"), data)
    assert response.status_code == 302, re.findall(r'<li>.*?</li>', response.content.decode())
    study = Study.objects.get(title="Benchmark")
    assert (study.settings["block_size"], study.settings["washout_days"], study.settings["ai"]["top_k"]) == (10, 14, 3)
    page = _page(client, "studies:edit", study.slug)
    assert re.search(r'<fieldset class="card" data-designs="[^"]*" hidden>\s*<legend>AI display', page)


# --- invitations and members ---------------------------------------------------------------------------


def test_invitation_label_is_kept_and_shown(client):
    coordinator = UserFactory()
    study = make_study(design="benchmark", n_cases=2, coordinator=coordinator)
    client.force_login(coordinator)
    response = client.post(reverse("studies:invitations", args=[study.slug]),
                           {"role": "reader", "kind": "open", "count": 1, "label": "  sent to clinic A "})
    assert response.status_code == 302
    assert Invitation.objects.get(study=study).label == "sent to clinic A"
    assert '<small class="invite-label">sent to clinic A</small>' in _page(client, "studies:invitations", study.slug)


def test_progress_pseudonyms_link_to_the_member(client):
    coordinator = UserFactory()
    study = make_study(design="benchmark", n_cases=2, coordinator=coordinator)
    (reader,) = enrol_readers(study, 1)
    client.force_login(coordinator)
    url = reverse("studies:member", args=[study.slug, reader.pseudonym])
    assert f'<a href="{url}">{reader.pseudonym}</a>' in _page(client, "studies:progress", study.slug)
    member = _page(client, "studies:member", study.slug, reader.pseudonym)
    assert reader.user.get_username() in member and "not yet" in member
    assert client.get(reverse("studies:member", args=[study.slug, "R999"])).status_code == 404
    statistician = UserFactory()
    studies.membership_add(study=study, user=statistician, role=Role.STATISTICIAN, actor=None)
    client.force_login(statistician)
    page = _page(client, "studies:member", study.slug, reader.pseudonym)
    assert reader.user.get_username() not in page  # pseudonymous for statisticians
    client.force_login(reader.user)
    assert client.get(url).status_code == 404


# --- AI outputs and model evaluation --------------------------------------------------------------------


def test_ai_outputs_page_says_when_everything_is_computed(client):
    coordinator = UserFactory()
    study = make_study(design="sequential", n_cases=3, coordinator=coordinator)  # outputs for every case
    client.force_login(coordinator)
    page = _page(client, "study_ai:precompute", study.slug)
    assert "3 of 3 cases have a finished output." in page
    assert "Every case has its AI output: nothing left to compute." in page
    assert "Precompute missing outputs" not in page
    client.post(reverse("study_ai:precompute", args=[study.slug]))
    assert not PrecomputeJob.objects.exists()


def test_ai_outputs_page_offers_the_run_when_outputs_are_missing(client):
    coordinator = UserFactory()
    study = make_study(design="sequential", n_cases=3, coordinator=coordinator)
    ModelOutput.objects.filter(case=study.case_set.cases.order_by("pk").first()).delete()
    client.force_login(coordinator)
    page = _page(client, "study_ai:precompute", study.slug)
    assert "2 of 3 cases" in page and "Precompute missing outputs" in page and "1 case to compute" in page
    PrecomputeJob.objects.create(model_version=study.model_version, case_set=study.case_set,
                                 status=JobStatus.RUNNING, total=3, done=2, started_at=timezone.now())
    page = _page(client, "study_ai:precompute", study.slug)
    assert "A precompute is running" in page and "Precompute missing outputs" not in page


def test_evaluation_page_names_conditions_refuses_tiny_intervals_and_draws_the_roc(client):
    coordinator = UserFactory()
    study = make_study(design="sequential", n_cases=3, coordinator=coordinator)
    results = {
        "n_cases": 12, "n_failed": 0, "n_bootstrap": 1000,
        "top1": {"value": 0.5, "ci_low": 0.25, "ci_high": 0.75, "n": 12},
        "top3": {"value": 0.75, "ci_low": 0.5, "ci_high": 1.0, "n": 12},
        "malignant_auc": {"value": 0.8, "ci_low": 0.6, "ci_high": 0.95, "n": 12},
        "per_class_recall": {"MEL": {"value": 0.6, "ci_low": 0.3, "ci_high": 0.9, "n": 10},
                             "BCC": {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 2}},
        "malignant_roc": {"fpr": [0.0, 0.0, 0.5, 1.0], "tpr": [0.0, 0.5, 1.0, 1.0]},
    }
    ModelEvaluation.objects.create(model_version=study.model_version, case_set=study.case_set, results=results)
    client.force_login(coordinator)
    page = _page(client, "study_ai:evaluation", study.slug)
    assert "Melanoma" in page and "Basal cell carcinoma" in page
    bcc = re.search(r"Basal cell carcinoma.*?</tr>", page, re.S).group(0)
    assert "too few cases" in bcc and "1.000 – 1.000" not in bcc
    mel = re.search(r"<td>Melanoma.*?</tr>", page, re.S).group(0)
    assert "0.300 – 0.900" in mel
    assert '<polyline points="0.0,240.0 0.0,120.0 120.0,0.0 240.0,0.0"' in page
    assert "manage.py" not in page and "Evaluate on this study" in page


# --- case sets ---------------------------------------------------------------------------------------


def test_case_set_page_shows_cases_with_labels_filterable_for_its_coordinator_only(client):
    coordinator = UserFactory()
    study = make_study(design="benchmark", n_cases=6, coordinator=coordinator)
    case_set = study.case_set
    client.force_login(coordinator)
    page = _page(client, "case_set_detail", case_set.pk)
    keys = list(case_set.cases.values_list("key", flat=True))
    assert all(key in page for key in keys) and "6 cases." in page
    code, name = case_set.cases.values_list("reference__code", "reference__name").first()
    expected = case_set.cases.filter(reference__code=code).count()
    filtered = _page(client, "case_set_detail", case_set.pk, reference=code)
    assert f"{expected} of 6 cases match." in filtered and name in filtered
    assert len(re.findall(r"<tr>\s*<td>", filtered)) == expected
    statistician, reader = UserFactory(), enrol_readers(study, 1)[0].user
    studies.membership_add(study=study, user=statistician, role=Role.STATISTICIAN, actor=None)
    for user in (statistician, reader, UserFactory()):
        client.force_login(user)
        assert client.get(reverse("case_set_detail", args=[case_set.pk])).status_code == 404


# --- case import page ------------------------------------------------------------------------------


def _image_zip(names: list[str]) -> bytes:
    import io
    import zipfile

    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, name in enumerate(names):
            image = io.BytesIO()
            Image.new("RGB", (48, 32), (120 + i, 90, 80)).save(image, "JPEG")
            archive.writestr(name, image.getvalue())
    return buffer.getvalue()


def _manifest(rows: list[tuple[str, str, str]]) -> bytes:
    lines = ["case_id,clinical_image,reference_code,reference_source"]
    lines += [f"{key},{image},{code},histopathology" for key, image, code in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def importer(client):
    from django.contrib.auth.models import Permission

    from tests.factories import small_taxonomy

    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="add_caseset"))
    client.force_login(user)
    return {"user": user, "taxonomy": small_taxonomy()}


def _post_import(client, taxonomy, manifest: bytes | None, images: bytes | None, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"name": "Pilot set", "taxonomy": taxonomy.pk, **extra}
    if manifest is not None:
        data["manifest"] = SimpleUploadedFile("manifest.csv", manifest, "text/csv")
    if images is not None:
        data["images"] = SimpleUploadedFile("images.zip", images, "application/zip")
    return client.post(reverse("case_set_import"), data)


def test_import_reports_every_problem_at_once_and_keeps_the_files(client, importer):
    from catalog.models import CaseSet

    taxonomy = importer["taxonomy"]
    bad = _manifest([("A", "a.jpg", "MEL"), ("A", "b.jpg", "NEV"), ("C", "missing.jpg", "NAEVUS")])
    response = _post_import(client, taxonomy, bad, _image_zip(["a.jpg", "b.jpg"]))
    html = response.content.decode()
    assert response.status_code == 200 and not CaseSet.objects.exists()
    assert "duplicate id &#x27;A&#x27;" in html and "missing.jpg: not found in the zip" in html
    assert "unknown code &#x27;NAEVUS&#x27;" in html and "3 problems — nothing was imported" in html
    token = re.search(r'name="staged" value="([^"]+)"', html).group(1)
    assert "manifest.csv" in html and "images.zip" in html and "Import again" in html
    # Someone else cannot use the token; nothing is imported for them.
    other = UserFactory(is_staff=True)
    client.force_login(other)
    refused = _post_import(client, taxonomy, None, None, staged=token)
    assert "Choose the manifest file." in refused.content.decode() and not CaseSet.objects.exists()
    # The coordinator fixes the manifest only; the kept zip is used.
    client.force_login(importer["user"])
    good = _manifest([("A", "a.jpg", "MEL"), ("B", "b.jpg", "NEV")])
    done = _post_import(client, taxonomy, good, None, staged=token)
    assert done.status_code == 302, done.content.decode()[:2000]
    assert CaseSet.objects.get(name="Pilot set").cases.count() == 2


def test_import_page_lists_the_allowed_values_in_plain_words(client, importer):
    html = _page(client, "case_set_import")
    for text in ("Melanocytic naevus", "<code>NEV</code>", "<code>biopsy_excise</code> (biopsy / excise)",
                 "<code>histopathology</code> (histopathology)", "<code>expert_panel</code> (expert panel)",
                 "<code>F</code> female", "template (CSV)", "JSON example"):
        assert text in html, text
    taxonomy = importer["taxonomy"]
    bad_source = b"case_id,clinical_image,reference_code,reference_source\nA,a.jpg,MEL,biopsy\n"
    html = _post_import(client, taxonomy, bad_source, _image_zip(["a.jpg"])).content.decode()
    assert "is not one of the reference sources: histopathology, expert_panel (Expert panel)" in html


def test_templates_download_and_parse_with_the_taxonomys_codes(client, importer):
    import csv
    import io
    import json

    from catalog.services.case_import import MANIFEST_COLUMNS, parse_cases, read_manifest

    taxonomy = importer["taxonomy"]
    for fmt in ("csv", "json"):
        response = client.get(reverse("case_set_template", args=[fmt]), {"taxonomy": taxonomy.pk})
        assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
        text = response.content.decode()
        if fmt == "csv":
            assert next(csv.reader(io.StringIO(text))) == list(MANIFEST_COLUMNS)
        else:
            assert len(json.loads(text)["cases"]) == 2
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"manifest.{fmt}"
            path.write_text(text)
            problems: list = []
            specs = parse_cases(read_manifest(path), taxonomy, problems)
        assert problems == [] and len(specs) == 2, problems
    assert client.get(reverse("case_set_template", args=["xml"])).status_code == 404


def test_overview_queries_do_not_grow_with_links_or_readers(client, django_assert_max_num_queries):
    coordinator = UserFactory()
    study = make_study(design="benchmark", n_cases=2, coordinator=coordinator)
    client.force_login(coordinator)
    url = reverse("studies:detail", args=[study.slug])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(5):
        studies.invitation_create(study=study, actor=coordinator, single_use=True)
    enrol_readers(study, 5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_api_invitations_carry_the_label(client):
    coordinator = UserFactory()
    study = make_study(design="benchmark", n_cases=2, coordinator=coordinator)
    client.force_login(coordinator)
    url = f"/api/v1/studies/{study.slug}/invitations/"
    created = client.post(url, {"single_use": False, "label": "sent to clinic B"}, content_type="application/json")
    assert created.status_code == 201 and created.json()["label"] == "sent to clinic B"
    assert [row["label"] for row in client.get(url).json()["results"]] == ["sent to clinic B"]
