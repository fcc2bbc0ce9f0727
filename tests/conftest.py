"""Shared fixtures. Service-backed tests skip without their service, or fail under REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import shutil

import pytest
from django.conf import settings


def require_service(name: str, available: bool, reason: str) -> None:
    """Skip a test whose service is missing, unless REQUIRE_SERVICES=1 makes that a failure."""
    if available:
        return
    message = f"{name} unavailable: {reason}"
    if settings.REQUIRE_SERVICES:
        pytest.fail(f"{message} (REQUIRE_SERVICES=1)")
    pytest.skip(reason=message)  # only without REQUIRE_SERVICES=1 (see above)


@pytest.fixture
def postgres(db):
    """The test runs on PostgreSQL (DATABASE_URL=postgres://...)."""
    from django.db import connection

    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL=postgres://...")
    return connection


@pytest.fixture
def broker_url() -> str:
    url = settings.CELERY_BROKER_URL
    require_service("Celery broker", bool(url), "set CELERY_BROKER_URL=redis://... or amqp://...")
    return url


@pytest.fixture
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    require_service("Chromium", bool(path), "apt-get install chromium")
    return path


@pytest.fixture(autouse=True)
def _media_root(request, tmp_path):
    """Each test writes images into its own MEDIA_ROOT (pure-Python runs with -p no:django skip this)."""
    if not request.config.pluginmanager.hasplugin("django"):
        return None
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fresh_fragment_cache(request):
    """Rendered case-page parts are kept per process, as in production even when the tests were started
    with DEBUG=1 (which turns that off); each test starts empty (test databases reuse ids)."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    from django.core.cache import caches

    settings = request.getfixturevalue("settings")
    settings.CACHES = {**settings.CACHES, "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fragments"}}
    caches["fragments"].clear()


@pytest.fixture(autouse=True)
def _no_login_lockout(request):
    """django-axes needs a request on authenticate(); tests that log in with client.login() have none.
    The throttling test turns it back on explicitly."""
    if not request.config.pluginmanager.hasplugin("django") or "axes_on" in request.keywords:
        return
    request.getfixturevalue("settings").AXES_ENABLED = False


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    """PBKDF2 with a million rounds dominates test setup on 2 cores; tests don't need slow hashes."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    request.getfixturevalue("settings").PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _analyses_in_line(request):
    """Web-started analyses run in-line in tests (the demo runs them in a thread after the response);
    browser tests keep the thread, as the demo does."""
    if not request.config.pluginmanager.hasplugin("django") or request.node.get_closest_marker("browser"):
        return
    request.getfixturevalue("settings").ANALYSIS_EAGER_THREAD = False


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Tasks run in-process even when CELERY_BROKER_URL is set (Celery reads its config once, so the
    app's conf is switched, not Django's settings). Tests marked `services` use the real broker,
    except browser tests, which need a browser (a service) but no worker."""
    node = request.node
    if node.get_closest_marker("services") and not node.get_closest_marker("browser"):
        yield
        return
    from readerstudy.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
