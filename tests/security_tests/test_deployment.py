"""Deployment hardening: Django's deploy checks, CSP without inline script, clickjacking, login throttling."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import UserFactory


def shipped_production_env() -> dict[str, str]:
    """What the documented deployment runs with: .env.example (the compose file's ../.env) overlaid by
    the compose file's own environment; only SECRET_KEY is replaced (the example's is a placeholder)."""
    import yaml

    root = Path(settings.BASE_DIR)
    example = {}
    for line in (root / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            example[key.strip()] = value.strip()
    compose = yaml.safe_load((root / "deploy" / "docker-compose.yml").read_text())
    app = {k: str(v) for k, v in compose["x-app"]["environment"].items()}
    # Settings that need the services of the compose file to exist are left to their defaults here.
    services = {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "STORAGE_BACKEND"}
    return {k: v for k, v in {**example, **app}.items() if k not in services and v != ""}


def run_deploy_check(extra: dict[str, str]) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never has it.
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}}
    env = {**base, **extra, "DJANGO_SETTINGS_MODULE": "readerstudy.settings"}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=settings.BASE_DIR, env=env, capture_output=True, text=True)


def test_deploy_checks_pass_with_the_shipped_production_environment():
    env = shipped_production_env()
    assert env["PRODUCTION"] == "1" and env["SECURE_SSL_REDIRECT"] == "1" and env["SECURE_HSTS_SECONDS"] == "31536000"
    out = run_deploy_check({**env, "SECRET_KEY": secrets.token_urlsafe(60)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_production_alone_turns_on_https_redirect_hsts_and_secure_cookies():
    out = run_deploy_check({"PRODUCTION": "1", "SECRET_KEY": secrets.token_urlsafe(60),
                            "ALLOWED_HOSTS": "study.example.org"})
    assert out.returncode == 0, out.stdout + out.stderr


def test_production_with_debug_still_refuses_to_start_without_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY"}}
    env.update(PRODUCTION="1", DEBUG="1", DJANGO_SETTINGS_MODULE="readerstudy.settings")
    out = subprocess.run([sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "SECRET_KEY must be set" in out.stderr


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
