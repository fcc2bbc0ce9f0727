"""Deployment hardening: Django's deploy checks, CSP without inline script, clickjacking, login throttling."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

from tests.factories import UserFactory


def test_deploy_checks_pass_with_production_settings():
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never has it.
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(PRODUCTION="1", SECRET_KEY=secrets.token_urlsafe(60), SECURE_HSTS_SECONDS="31536000",
               SECURE_SSL_REDIRECT="1", ALLOWED_HOSTS="study.example.org", DJANGO_SETTINGS_MODULE="readerstudy.settings")
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         cwd=settings.BASE_DIR, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_deploy_checks_flag_insecure_defaults():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "PRODUCTION", "SECURE_HSTS_SECONDS"}}
    env["DJANGO_SETTINGS_MODULE"] = "readerstudy.settings"
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         cwd=settings.BASE_DIR, env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "security.W004" in out.stderr + out.stdout  # no HSTS


@pytest.mark.django_db
def test_pages_send_csp_without_inline_script_and_deny_framing(client):
    response = client.get("/accounts/login/")
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in response.content  # no inline script blocks in the base template


@pytest.mark.django_db
@pytest.mark.axes_on
def test_login_is_throttled_after_repeated_failures(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="dr-who")
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "dr-who", "password": "wrong"})
        assert response.status_code in (200, 429)
    locked = client.post("/accounts/login/", {"username": "dr-who", "password": "correct-horse-battery"})
    assert locked.status_code == 429  # even the right password is refused while locked out
    assert not locked.wsgi_request.user.is_authenticated


@pytest.mark.django_db
def test_password_validators_reject_weak_passwords():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        validate_password("password")
    with pytest.raises(ValidationError):
        validate_password("12345678")
    validate_password("a-Much-better-passphrase-2026")
