"""With CACHE_URL (deploy/docker-compose.yml) sessions are read from the shared Redis and written
through to the database: every web process sees the same session, and logging out in one ends it
in all of them (a replayed cookie is anonymous afterwards)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from tests.conftest import require_service
from tests.factories import UserFactory


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("CACHE_URL") or django_settings.CELERY_BROKER_URL
    require_service("Redis", url.startswith(("redis://", "rediss://")), "set CACHE_URL or CELERY_BROKER_URL=redis://...")
    import redis

    parts = urlsplit(url)
    url = urlunsplit((parts.scheme, parts.netloc, "/13", "", ""))  # a database of its own
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except redis.RedisError as exc:
        require_service("Redis", False, str(exc))
    return url


@pytest.mark.services
@pytest.mark.django_db
def test_sessions_live_in_redis_and_logout_ends_them_everywhere(settings, redis_url):
    import redis

    settings.CACHES = {**settings.CACHES,
                       "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    user = UserFactory(password="a-long-enough-password")
    here, there = Client(), Client()  # two web processes: they share only Redis and the database
    here.post(reverse("login"), {"username": user.username, "password": "a-long-enough-password"})
    cookie = here.cookies[settings.SESSION_COOKIE_NAME].value
    there.cookies[settings.SESSION_COOKIE_NAME] = cookie

    server = redis.Redis.from_url(redis_url)
    assert any(cookie in key.decode() for key in server.keys("*"))  # in Redis, not in process memory
    assert Session.objects.filter(session_key=cookie).exists()  # and written through to the database
    assert there.get(reverse("home")).status_code == 200

    here.post(reverse("logout"))
    assert not any(cookie in key.decode() for key in server.keys("*"))
    assert not Session.objects.filter(session_key=cookie).exists()
    replay = there.get(reverse("home"))
    assert replay.status_code == 302 and reverse("login") in replay["Location"]
