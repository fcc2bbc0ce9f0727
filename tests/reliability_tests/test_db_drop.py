"""The database connection drops mid-session: a retry page (503), never a stack trace or half a write.

On PostgreSQL the reader's backend is killed with ``pg_terminate_backend`` from a second
connection, between requests and in the middle of a submit (after the reading row is inserted,
before the audit row). The transaction dies with the connection, so nothing of the submit is
stored; the reader sees "please try again", and the retry (same idempotency key) stores the
reading exactly once.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import RequestFactory
from django.urls import reverse

from common.models import AuditEvent
from readerstudy import models as m
from readerstudy.views.errors import server_error
from tests.readerstudy_tests.reader_setup import build_study, post_data

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _kill_my_backend() -> None:
    """Terminate this test's database session from another connection, as a failover or restart would."""
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                         password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True,
                         connect_timeout=5) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]


def _assert_retry_page(response) -> None:
    assert response.status_code == 503
    assert response["Retry-After"]
    body = response.content.decode()
    assert "Please try again" in body
    assert "Traceback" not in body and "OperationalError" not in body


@pytest.fixture
def reader(client):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=2)
    client.force_login(built.user, backend=BACKEND)
    return built, reverse("reader:case", args=[built.study.slug])


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_connection_killed_between_requests_never_shows_a_stack_trace(postgres, client, reader):
    built, url = reader
    assert client.get(url).status_code == 200
    _kill_my_backend()
    first = client.get(url)  # gunicorn's health check reconnects first; the test client may see the 503
    if first.status_code != 200:
        _assert_retry_page(first)
    assert client.get(url).status_code == 200  # the next request has a fresh connection


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_mid_submit_gives_503_and_nothing_half_written(postgres, client, reader, monkeypatch):
    built, url = reader
    assert client.get(url).status_code == 200
    import readerstudy.services.readings as readings

    real_audit = readings.audit_record

    def dies_halfway(**kwargs):
        _kill_my_backend()  # the Reading row is inserted but not committed
        return real_audit(**kwargs)

    monkeypatch.setattr(readings, "audit_record", dies_halfway)
    data = post_data(built.items[0], str(uuid.uuid4()))
    _assert_retry_page(client.post(url, data))
    assert m.Reading.objects.count() == 0
    assert not AuditEvent.objects.filter(action="reading.submit").exists()

    monkeypatch.setattr(readings, "audit_record", real_audit)
    assert client.post(url, data).status_code == 302  # the reader submits again: stored once
    assert client.post(url, data).status_code == 302  # and a double click changes nothing
    assert m.Reading.objects.filter(schedule_item=built.items[0]).count() == 1
    assert AuditEvent.objects.filter(action="reading.submit").count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_api_submit_with_the_connection_dropped_gives_a_json_503(postgres, reader, monkeypatch):
    from rest_framework.test import APIClient

    import readerstudy.services.readings as readings

    built, url = reader
    api = APIClient()
    api.force_authenticate(built.user)
    real_audit = readings.audit_record

    def dies_halfway(**kwargs):
        _kill_my_backend()
        return real_audit(**kwargs)

    monkeypatch.setattr(readings, "audit_record", dies_halfway)
    body = {"item": built.items[0].pk, "idempotency_key": str(uuid.uuid4()), "differential": ["NEV"],
            "confidence": 3, "management": "monitor"}
    response = api.post(reverse("api:study-readings", args=[built.study.slug]), body, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "temporarily_unavailable"
    assert m.Reading.objects.count() == 0


# --- the error pages themselves (any database) --------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("fault", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_database_fault_outside_a_view_is_a_503_too(fault):
    """A fault in middleware (e.g. saving the session on the way out) reaches handler500."""
    request = RequestFactory().post("/s/x/read/")
    try:
        raise fault
    except type(fault):
        response = server_error(request)
    _assert_retry_page(response)


@pytest.mark.django_db
def test_other_errors_get_the_500_page():
    request = RequestFactory().get("/")
    try:
        raise ValueError("boom")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "boom" not in body and "Traceback" not in body


@pytest.mark.django_db
def test_unknown_page_gets_the_404_page(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body and 'class="topbar"' in body


@pytest.mark.django_db
def test_healthz_is_ok_without_a_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"
