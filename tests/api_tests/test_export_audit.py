"""Every export is audited the same way, whether it leaves through a page or the API (export_file)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from common.models import AuditEvent
from readerstudy.exports.files import API_EXPORTS, EXPORTS


def _events(study, action):
    return list(AuditEvent.objects.filter(study_id=study.pk, action=action).order_by("pk"))


@pytest.mark.parametrize("name", API_EXPORTS)
def test_api_export_writes_one_audit_event(world, name):
    client = world.client("statistician")
    action = EXPORTS[name].action
    before = len(_events(world.study, action))
    response = client.get(f"/api/v1/studies/{world.study.slug}/exports/{name}/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    events = _events(world.study, action)
    assert len(events) == before + 1
    assert events[-1].data["name"] == name and events[-1].data["via"] == "api"
    assert events[-1].actor is not None and events[-1].actor.username == response.wsgi_request.user.username


def test_page_and_api_readings_exports_are_the_same_file_and_both_audited(world):
    client = world.client("statistician")
    api = client.get(f"/api/v1/studies/{world.study.slug}/exports/readings.csv/")
    client.force_login(api.wsgi_request.user)
    page = client.get(reverse("studies:export_readings", args=[world.study.slug]))
    assert page.status_code == 200 and page.content == api.content
    vias = [event.data["via"] for event in _events(world.study, "export.readings")][-2:]
    assert vias == ["api", "web"]
