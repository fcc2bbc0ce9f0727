"""The OpenAPI schema validates, and schemathesis finds no server error against it."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from rest_framework.authtoken.models import Token

MAX_EXAMPLES = 20


@contextmanager
def _connection_kept_open():
    """As Django's test client does: the WSGI handler must not close the test's connection (and
    with it the test transaction) at the end of each request."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (signals.request_started, signals.request_finished):
            signal.connect(close_old_connections)


def test_schema_validates_without_warnings(db, tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.stat().st_size > 1000


def test_schema_endpoint_and_docs(world):
    client = world.client("anonymous")
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    document = schema.json()
    validate(document)
    assert "/api/v1/studies/{slug}/readings/" in document["paths"]
    assert {"tokenAuth", "cookieAuth"} <= set(document["components"]["securitySchemes"])
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/api/v1/docs/redoc/").status_code == 200


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(world):
    """Every operation, up to MAX_EXAMPLES generated requests each, as the coordinator: never a 5xx."""
    token, _ = Token.objects.get_or_create(user=world.users["coordinator"])
    headers = {"Authorization": f"Token {token.key}"}
    failures: list[str] = []
    statuses: list[int] = []
    with _connection_kept_open():
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", WSGIHandler())
        for result in schema.get_all_operations():
            _explore(result.ok(), headers, {"slug": world.study.slug, "run_id": world.run.pk}, failures, statuses)
    assert not failures, "\n".join(failures[:10])
    assert len(statuses) > 300 and sum(200 <= code < 300 for code in statuses) > 100  # not vacuous


def _explore(operation, headers: dict, known: dict, failures: list[str], statuses: list[int]) -> None:
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case):
        # Aim at the real study and run so the examples get past the access layer's 404.
        for name, value in known.items():
            if case.path_parameters and name in case.path_parameters:
                case.path_parameters[name] = value
        response = case.call(headers=headers)
        statuses.append(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{operation.method.upper()} {operation.path}: {response.status_code} "
                            f"{case.path_parameters} {case.query} {case.body!r:.200} -> {response.content[:300]!r}")

    check()
