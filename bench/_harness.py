"""Shared pieces of the web benchmarks: a throwaway PostgreSQL database, seeding, gunicorn, reader clients.

Everything runs on loopback; the database is created for the run and dropped afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(sys.executable).parent
DEMO_PASSWORD = "readerstudy-demo"
ITEM_RE = re.compile(r'name="item_id" value="(\d+)"')
KEY_RE = re.compile(r'name="idempotency_key" value="([0-9a-f-]{36})"')
MANAGEMENT_RE = re.compile(r'name="management" value="([^"]+)"')
MALIGNANCY_RE = re.compile(r'name="malignancy"')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- database ------------------------------------------------------------------------------------

def server_url() -> str:
    """The PostgreSQL server to use: DATABASE_URL's server (must be postgres), else the local one."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextmanager
def throwaway_database(name: str, keep: bool = False) -> Iterator[str]:
    """CREATE DATABASE name ... DROP DATABASE name (WITH FORCE) around the block; yields its URL."""
    import psycopg

    admin = with_database(server_url(), "postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url(), name)
    finally:
        if keep:
            log(f"kept database {name}")
        else:
            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name}")


def app_env(database_url: str, media_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DEBUG"))}
    env.update(
        DATABASE_URL=database_url, MEDIA_ROOT=str(media_root), DJANGO_SETTINGS_MODULE="readerstudy.settings",
        SECRET_KEY="bench-" + uuid.uuid4().hex, ALLOWED_HOSTS="127.0.0.1,localhost", DEBUG="0",
        AXES_ENABLED="0",  # hundreds of logins from one address are the point here, not an attack
        LOG_LEVEL="WARNING", DB_CONN_MAX_AGE="60",
    )
    # As deploy/docker-compose.yml: sessions through a shared Redis cache when one is running.
    if "CACHE_URL" not in env and _redis_up():
        env["CACHE_URL"] = "redis://127.0.0.1:6379/3"
    return env


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def manage(env: dict[str, str], *args: str, timeout: float = 3600) -> str:
    out = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out.stdout


READY_SCRIPT = """
from django.utils import timezone
from readerstudy.models import Membership, ReaderProfile, Role
from django.contrib.auth import get_user_model
users = get_user_model().objects.filter(username__startswith="reader")
ReaderProfile.objects.bulk_create([ReaderProfile(user=u, profession="gp", years_experience=5,
    dermoscopy_use="sometimes", country="UK", age_band="30-39") for u in users], ignore_conflicts=True)
n = Membership.objects.filter(role=Role.READER).update(consented_at=timezone.now(), demographics_done=True,
    instructions_seen=True)
print(n)
"""


def seed(env: dict[str, str], cases: int, readers: int, seed_value: int) -> None:
    started = time.monotonic()
    manage(env, "migrate", "--noinput", "-v", "0")
    log(f"migrated in {time.monotonic() - started:.0f} s")
    started = time.monotonic()
    manage(env, "seed_demo", "--cases", str(cases), "--readers", str(readers), "--seed", str(seed_value),
           "--image-size", "256")
    log(f"seed_demo --cases {cases} --readers {readers} in {time.monotonic() - started:.0f} s")
    n = manage(env, "shell", "-c", READY_SCRIPT).strip().splitlines()[-1]
    log(f"{n} reader memberships past consent, demographics and instructions")


def study_slug(base: str, cases: int, seed_value: int) -> str:
    return base if cases == 40 and seed_value == 2026 else f"{base}-{cases}-{seed_value}"


# --- gunicorn ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(command: list[str], env: dict[str, str], port: int, log_path: Path, *, name: str,
           ready_s: float = 90, poll_s: float = 0.3, stop_s: float = 30) -> Iterator[str]:
    """Start `command` in its own session, wait for /healthz on `port`, yield the base URL, stop it."""
    with log_path.open("ab") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer /healthz within {ready_s:g} s")
            time.sleep(poll_s)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=stop_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@contextmanager
def gunicorn(env: dict[str, str], port: int, workers: int, threads: int, log_path: Path,
             app: str = "readerstudy.wsgi:application") -> Iterator[str]:
    """The production command line (deploy/docker-compose.yml), bound to loopback."""
    command = [str(BIN / "gunicorn"), app, "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--threads", str(threads), "--timeout", "60",
               "--backlog", "2048", "--keep-alive", "30"]
    with served(command, env, port, log_path, name="gunicorn") as base:
        log(f"gunicorn up on {base} ({workers} workers x {threads} threads)")
        yield base


# --- clients -------------------------------------------------------------------------------------

@dataclass
class Samples:
    """Latencies (seconds) per request kind, thread-safe."""

    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.by_kind.setdefault(kind, []).append(seconds)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(samples: Samples, seconds: float) -> list[str]:
    lines = [f"{'request':<16}{'n':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"]
    for kind, values in sorted(samples.by_kind.items()):
        lines.append(f"{kind:<16}{len(values):>8}{len(values) / seconds:>9.1f}{1000 * percentile(values, 50):>9.1f}"
                     f"{1000 * percentile(values, 95):>9.1f}{1000 * percentile(values, 99):>9.1f}"
                     f"{1000 * max(values):>9.1f}")
    return lines


class Reader:
    """One simulated reader: logs in, then reads and submits its current case."""

    def __init__(self, base: str, username: str, slug: str, samples: Samples, rng_seed: int):
        import random

        self.base, self.username, self.slug, self.samples = base, username, slug, samples
        self.session = requests.Session()
        self.rng = random.Random(rng_seed)
        self.codes: list[str] = []
        self.acknowledged: list[tuple[int, str]] = []  # (schedule item id, idempotency key) answered 302
        self.done = False

    def _timed(self, kind: str, method: str, path: str, **kwargs) -> requests.Response:
        started = time.perf_counter()
        response = self.session.request(method, self.base + path, timeout=60, allow_redirects=False, **kwargs)
        self.samples.add(kind, time.perf_counter() - started)
        return response

    def login(self) -> None:
        page = self.session.get(self.base + "/accounts/login/", timeout=60)
        token = CSRF_RE.search(page.text).group(1)
        response = self.session.post(self.base + "/accounts/login/", timeout=60, allow_redirects=False,
                                     data={"username": self.username, "password": DEMO_PASSWORD,
                                           "csrfmiddlewaretoken": token},
                                     headers={"Referer": self.base + "/accounts/login/"})
        if response.status_code != 302:
            raise RuntimeError(f"login of {self.username} failed: {response.status_code}")
        conditions = self.session.get(f"{self.base}/s/{self.slug}/conditions.json", timeout=60)
        self.codes = [c["code"] for c in conditions.json()["conditions"]]

    def case_page(self) -> requests.Response:
        return self._timed("case page", "GET", f"/s/{self.slug}/read/")

    def answer(self, page: requests.Response, replay: bool = False) -> bool:
        """Submit an answer to the case on `page`; False when the reader has finished."""
        if page.status_code == 302 or "item_id" not in page.text:
            self.done = True
            return False
        item, key = int(ITEM_RE.search(page.text).group(1)), KEY_RE.search(page.text).group(1)
        data = {
            "item_id": item, "idempotency_key": key, "dx": self.rng.sample(self.codes, 3),
            "confidence": self.rng.randint(1, 5), "management": self.rng.choice(MANAGEMENT_RE.findall(page.text)),
            "active_ms": self.rng.randint(3000, 30000), "csrfmiddlewaretoken": CSRF_RE.search(page.text).group(1),
        }
        if MALIGNANCY_RE.search(page.text):
            data["malignancy"] = self.rng.randint(0, 100)
        headers = {"Referer": f"{self.base}/s/{self.slug}/read/"}
        for attempt in range(2 if replay else 1):  # a replay: the same submission sent twice (double click)
            response = self._timed("submit", "POST", f"/s/{self.slug}/read/", data=data, headers=headers)
            if response.status_code == 302:
                if attempt == 0:
                    self.acknowledged.append((item, key))
            else:
                self.samples.error(f"submit {response.status_code}")
                return True
        return True


def _in_threads(loop, items, seconds: float) -> float:
    """``loop(item)`` in one thread per item, all started together; returns the wall time until all end."""
    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(item,), daemon=True) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return time.monotonic() - started


def run_readers(readers: list[Reader], seconds: float, replay_rate: float = 0.05,
                submit: bool = True, think_s: float = 0.0) -> float:
    """Each reader in its own thread: case page, (think,) submit, repeat, until the time is up; returns wall time.

    With think_s = 0 the readers are closed-loop and saturate the server (throughput); a think
    time models people looking at the case before answering (latency at a realistic load).
    """
    stop_at = time.monotonic() + seconds

    def loop(reader: Reader) -> None:
        while time.monotonic() < stop_at and not reader.done:
            try:
                page = reader.case_page()
                if page.status_code not in (200, 302):
                    reader.samples.error(f"case page {page.status_code}")
                    continue
                if think_s:
                    time.sleep(reader.rng.uniform(0.5, 1.5) * think_s)
                if submit:
                    reader.answer(page, replay=reader.rng.random() < replay_rate)
            except requests.RequestException as exc:
                reader.samples.error(type(exc).__name__)

    return _in_threads(loop, readers, seconds)


def hammer(base: str, path: str, clients: int, seconds: float, samples: Samples, kind: str) -> float:
    """`clients` threads GET `path` as fast as they can for `seconds`; returns wall time."""
    stop_at = time.monotonic() + seconds

    def loop() -> None:
        session = requests.Session()
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                response = session.get(base + path, timeout=60)
                if response.status_code != 200:
                    samples.error(f"{kind} {response.status_code}")
            except requests.RequestException as exc:
                samples.error(type(exc).__name__)
                continue
            samples.add(kind, time.perf_counter() - started)

    return _in_threads(lambda _: loop(), range(clients), seconds)


def reader_gets(readers: list[Reader], path_for, seconds: float, samples: Samples, kind: str) -> float:
    """Each logged-in reader GETs ``path_for(reader)`` in its own thread as fast as it can; returns wall time."""
    stop_at = time.monotonic() + seconds

    def loop(reader: Reader) -> None:
        path = path_for(reader)
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                response = reader.session.get(reader.base + path, timeout=60, allow_redirects=False)
            except requests.RequestException as exc:
                samples.error(type(exc).__name__)
                continue
            if response.status_code != 200:
                samples.error(f"{kind} {response.status_code}")
                continue
            samples.add(kind, time.perf_counter() - started)

    return _in_threads(loop, readers, seconds)


def login_all(readers: list[Reader], parallel: int = 16) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda r: r.login(), readers))


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
