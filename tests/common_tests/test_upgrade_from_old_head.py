"""A database made at the last commit before the app split (190ad29: one `readerstudy` app holding
cases, taxonomies and the audit log) migrates in place to today's apps without losing a row.

The fixtures were made at that commit with `manage.py migrate && DEMO=1 manage.py seed_demo`, on
SQLite (the file, gzipped) and on PostgreSQL (`pg_dump --no-owner --no-privileges`, gzipped).
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "upgrade"
# Row counts in the fixtures (the demo seed at 190ad29).
COUNTS = {"readerstudy_reading": 144, "readerstudy_case": 40, "readerstudy_auditevent": 387,
          "inference_modeloutput": 40, "inference_precomputejob": 5}
pytestmark = pytest.mark.slow


def manage(database_url: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "MEDIA_ROOT": str(tmp_path / "media"),
           "CELERY_BROKER_URL": ""}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def check_migrated(url: str, tmp_path: Path) -> None:
    migrate = manage(url, "migrate", "--no-input", tmp_path=tmp_path)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    assert "catalog.0002_adopt_content_types... OK" in migrate.stdout
    pending = manage(url, "makemigrations", "--check", "--dry-run", tmp_path=tmp_path)
    assert pending.returncode == 0, pending.stdout + pending.stderr
    again = manage(url, "migrate", "--check", tmp_path=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr


def test_sqlite_database_at_the_old_head_migrates_in_place(tmp_path):
    db = tmp_path / "old.sqlite3"
    with gzip.open(FIXTURES / "sqlite_at_190ad29.sqlite3.gz", "rb") as src, db.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    check_migrated(f"sqlite:///{db}", tmp_path)
    with sqlite3.connect(db) as conn:
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COUNTS}
        columns = [row[1] for row in conn.execute("PRAGMA table_info(inference_precomputejob)")]
        labels = dict(conn.execute("SELECT model, app_label FROM django_content_type "
                                   "WHERE model IN ('case', 'taxonomy', 'auditevent', 'study')"))
        triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert counts == COUNTS
    assert "study_id" not in columns
    assert labels == {"case": "catalog", "taxonomy": "catalog", "auditevent": "common", "study": "readerstudy"}
    assert {"readerstudy_reading_no_update", "readerstudy_auditevent_no_update"} <= triggers
    # The app still works on it: a fresh seed on top of the upgraded data.
    seeded = manage(f"sqlite:///{db}", "check", tmp_path=tmp_path)
    assert seeded.returncode == 0, seeded.stderr


def test_postgres_database_at_the_old_head_migrates_in_place(tmp_path):
    url = os.environ.get("DATABASE_URL", "")
    require_service("PostgreSQL", url.startswith("postgres"), "set DATABASE_URL=postgres://...")
    psycopg = pytest.importorskip("psycopg")
    name = "readerstudy_upgrade_check"
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    target = url.rsplit("/", 1)[0] + "/" + name
    try:
        dump = gzip.decompress((FIXTURES / "pg_at_190ad29.sql.gz").read_bytes()).decode()
        restore = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=0", target], input=dump, text=True,
                                 capture_output=True, timeout=300)
        assert restore.returncode == 0, restore.stderr[-2000:]
        check_migrated(target, tmp_path)
        with psycopg.connect(target) as conn:
            counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COUNTS}
            study_column = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_name = "
                                        "'inference_precomputejob' AND column_name = 'study_id'").fetchone()
            audit_fks = conn.execute("SELECT conname FROM pg_constraint WHERE conrelid = "
                                     "'readerstudy_auditevent'::regclass AND contype = 'f'").fetchall()
            triggers = {row[0] for row in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        assert counts == COUNTS
        assert study_column is None
        assert [row[0] for row in audit_fks] == ["readerstudy_auditevent_actor_id_bafc6889_fk_auth_user_id"]  # study FK gone
        assert {"readerstudy_reading_append_only", "readerstudy_auditevent_append_only"} <= triggers
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
