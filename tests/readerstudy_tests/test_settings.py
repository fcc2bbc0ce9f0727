"""Settings read the environment: defaults without variables, real services with them."""

import os
import subprocess
import sys

from django.conf import settings

CODE = (
    "import json, django; from django.conf import settings as s; django.setup();"
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'name': str(s.DATABASES['default']['NAME']),"
    "'eager': s.CELERY_TASK_ALWAYS_EAGER, 'broker': s.CELERY_BROKER_URL, 'debug': s.DEBUG,"
    "'hosts': s.ALLOWED_HOSTS, 'media': str(s.MEDIA_ROOT), 'sessions': s.SESSION_ENGINE,"
    "'cache': s.CACHES['default']['BACKEND'], 'fragments': s.CACHES['fragments']['BACKEND'],"
    "'health_checks': s.DATABASES['default']['CONN_HEALTH_CHECKS'], 'db_options': s.DATABASES['default']['OPTIONS']}))"
)


def read_settings(**env: str) -> dict:
    import json

    base = {k: v for k, v in os.environ.items() if k not in {
        "DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "ALLOWED_HOSTS", "MEDIA_ROOT", "SECRET_KEY", "PRODUCTION",
        "CACHE_URL", "DB_CONN_HEALTH_CHECKS", "DB_PREPARED_STATEMENTS", "DB_PREPARE_THRESHOLD"}}
    base.update(env, DJANGO_SETTINGS_MODULE="readerstudy.settings")
    out = subprocess.run([sys.executable, "-c", CODE], env=base, capture_output=True, text=True, check=True,
                         cwd=settings.BASE_DIR)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_zero_setup_defaults_to_sqlite_and_eager_celery():
    s = read_settings()
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"].endswith("db.sqlite3")
    assert s["eager"] is True
    assert s["broker"] == ""
    assert s["debug"] is False


def test_environment_selects_postgres_redis_and_hosts():
    s = read_settings(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        DEBUG="1",
        ALLOWED_HOSTS="study.example.org, www.example.org",
        MEDIA_ROOT="/srv/media",
    )
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["name"] == "test"
    assert s["eager"] is False
    assert s["broker"] == "redis://127.0.0.1:6379/0"
    assert s["debug"] is True
    assert s["hosts"] == ["study.example.org", "www.example.org"]
    assert s["media"] == "/srv/media"


def test_zero_setup_keeps_sessions_in_the_database_and_caches_per_process():
    s = read_settings()
    assert s["sessions"] == "django.contrib.sessions.backends.db"
    assert s["cache"] == s["fragments"] == "django.core.cache.backends.locmem.LocMemCache"
    assert s["health_checks"] is False
    assert "server_side_binding" not in s["db_options"]  # SQLite


def test_cache_url_puts_sessions_in_the_shared_cache_and_fragments_stay_local():
    s = read_settings(CACHE_URL="redis://127.0.0.1:6379/1")
    assert s["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert s["sessions"] == "django.contrib.sessions.backends.cached_db"  # written through to the database
    assert s["fragments"] == "django.core.cache.backends.locmem.LocMemCache"


def test_debug_renders_the_case_page_parts_every_time():
    assert read_settings(DEBUG="1")["fragments"] == "django.core.cache.backends.dummy.DummyCache"


def test_postgres_prepares_repeated_statements_unless_turned_off():
    url = "postgres://postgres@127.0.0.1:5432/test"
    on = read_settings(DATABASE_URL=url)["db_options"]
    assert on["server_side_binding"] is True and on["prepare_threshold"] == 5
    off = read_settings(DATABASE_URL=url, DB_PREPARED_STATEMENTS="0", DB_CONN_HEALTH_CHECKS="1")
    assert "server_side_binding" not in off["db_options"] and off["health_checks"] is True


def test_amqp_broker_is_accepted():
    s = read_settings(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
    assert s["eager"] is False and s["broker"].startswith("amqp://")


def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(PRODUCTION="1", DJANGO_SETTINGS_MODULE="readerstudy.settings")
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, cwd=settings.BASE_DIR)
    assert out.returncode != 0
    assert "SECRET_KEY must be set" in out.stderr


def test_sqlite_default_waits_for_the_write_lock_in_wal_mode():
    options = read_settings()["db_options"]
    assert options["transaction_mode"] == "IMMEDIATE"  # writers queue on the busy timeout, never fail at once
    assert options["init_command"] == "PRAGMA journal_mode=WAL"  # pages read while one submit writes
    assert options["timeout"] == 20


def test_demo_runs_with_debug_off():
    assert read_settings(DEMO="1")["debug"] is False
