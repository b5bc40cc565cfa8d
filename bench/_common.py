"""What the benchmarks share: a throwaway PostgreSQL database, Django set up against it, loading
rows with COPY, gunicorn on loopback, a keep-alive HTTP client, and the percentile table."""

import contextlib
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

REPO = Path(__file__).resolve().parent.parent
WARMUP_REQUESTS = 20
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4  # gthread: the worker class that keeps connections alive
GUNICORN_CONFIG = REPO / "config" / "gunicorn.conf.py"  # as deployed (Dockerfile)
PASSWORD = "bench-password"  # noqa: S105 - the login of a throwaway database


def step(message: str) -> None:
    print(f"-- {message}", flush=True)


# --- Database and Django -------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(database_url: str, *, keep: bool) -> Iterator[None]:
    """An empty database, dropped at the end unless ``keep``."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        # It is dropped first: never a database that may hold anything of value.
        raise SystemExit(f"refusing to drop {name!r}: a bench database's name contains 'bench'")
    server_url = urlunsplit(parts._replace(path="/postgres"))
    step(f"create database {name}")
    _run_on_server(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    _run_on_server(server_url, "CREATE DATABASE {}", name)
    try:
        yield
    finally:
        if keep:
            step(f"kept database {name}")
        else:
            step(f"drop database {name}")
            _run_on_server(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def _run_on_server(server_url: str, statement: str, database: str) -> None:
    connection = psycopg2.connect(server_url)
    connection.autocommit = True  # CREATE and DROP DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL(statement).format(sql.Identifier(database)))
    finally:
        connection.close()


def production_environment(*, database_url: str, var_dir: str) -> dict[str, str]:
    """config.settings.production as deployed, but plain HTTP on loopback."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        # The benches measure the product, not its rate limits (one client makes thousands of
        # calls a minute; the load test's 50 users share one address).
        "API_THROTTLE_USER": "1000000/min",
        "API_THROTTLE_ANON": "1000000/min",
        "DATABASE_URL": database_url,
        "CRM_VAR_DIR": var_dir,
    }


def migrate(env: dict[str, str]) -> None:
    step("migrate")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=REPO,
        env=env,
        check=True,
    )


def collectstatic(env: dict[str, str]) -> None:
    """The static files and their manifest, which the production settings need to render a
    page (into CRM_VAR_DIR/static, as a deployment does)."""
    step("collectstatic")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=REPO,
        env=env,
        check=True,
    )


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


# --- Data ----------------------------------------------------------------------------------------


def interleaved(accounts: list[int], per_account: int, rng: random.Random) -> list[int]:
    """The owner of each row in insertion order: all accounts' rows, shuffled together."""
    order = [account_id for account_id in accounts for _ in range(per_account)]
    rng.shuffle(order)
    return order


def creation_times(count: int) -> Iterator[str]:
    """Evenly over the last three years, oldest first: ids grow with creation time."""
    end = datetime.now(UTC)
    start = end - timedelta(days=3 * 365)
    for index in range(count):
        yield (start + (end - start) * (index / count)).isoformat()  # no overflow at millions


def copy_rows(cursor, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """COPY FROM STDIN in PostgreSQL's text format, the rows generated as the server reads them
    (a chunk of about 1 MB at a time, never the whole table in memory). Without an ``id``
    column, ids come from the table's own sequence."""
    cursor.copy_expert(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN", _CopyStream(rows), size=1 << 20
    )


class _CopyStream:
    """A file for ``copy_expert`` to read: each read() returns at least ``size`` characters of
    COPY text (whole rows), "" at the end."""

    ROWS_PER_BATCH = 1_000

    def __init__(self, rows: Iterable[tuple]) -> None:
        self._rows = iter(rows)

    def read(self, size: int = -1) -> str:
        parts: list[str] = []
        length = 0
        while size < 0 or length < size:
            batch = [
                "\t".join(_copy_text(value) for value in row) + "\n"
                for row in islice(self._rows, self.ROWS_PER_BATCH)
            ]
            if not batch:
                break
            text = "".join(batch)
            parts.append(text)
            length += len(text)
        return "".join(parts)


def _copy_text(value: Any) -> str:
    if value is None:
        return r"\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


# --- HTTP ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn_server(
    env: dict[str, str],
    *,
    keep_alive: int | None = None,
    access_log: Path | None = None,
    output_log: Path | None = None,
) -> Iterator[int]:
    """gunicorn serving config.wsgi on a free loopback port with the deployed settings
    (config/gunicorn.conf.py), only fewer workers; stopped on the way out. ``keep_alive``:
    seconds an idle connection stays open (default: the config file's). ``access_log``: a file
    for gunicorn's access log (default: none). ``output_log``: a file for all the server prints,
    gunicorn's warnings and the application's log (default: this process's stdout and stderr)."""
    port = free_port()
    output = output_log.open("a") if output_log is not None else None
    step(
        f"start gunicorn on 127.0.0.1:{port} ({GUNICORN_WORKERS} workers, "
        f"{GUNICORN_THREADS} threads each)"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(GUNICORN_CONFIG),
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={GUNICORN_WORKERS}",
            f"--threads={GUNICORN_THREADS}",
            *([f"--keep-alive={keep_alive}"] if keep_alive is not None else []),
            *([f"--access-logfile={access_log}"] if access_log is not None else []),
            "--log-level=warning",
        ],
        cwd=REPO,
        env={**env, "GUNICORN_ACCESS_LOG": ""},
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    try:
        wait_until_listening(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if output is not None:
            output.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on port {port} within {timeout:.0f} s")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    elapsed_ms: float  # request sent to last byte of the body read
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class ApiClient:
    """One keep-alive connection, one request at a time."""

    def __init__(self, port: int, *, timeout: float = 60) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self._headers = {"Accept": "application/json"}
        self.connections_opened = 0  # 1 at the end if the server kept the connection alive

    def login(self, username: str, password: str, *, otp: str | None = None) -> None:
        """Get the user's token; ``otp``: the second factor's code, for whoever needs one."""
        credentials = {"username": username, "password": password}
        if otp is not None:
            credentials["otp"] = otp
        response = self.send("POST", "/api/v1/auth/token/", credentials)
        if response.status != 200:
            raise SystemExit(f"login failed: {response.status} {response.body[:300]!r}")
        self._headers["Authorization"] = f"Token {response.json()['token']}"

    def send(self, method: str, path: str, payload: dict | None = None) -> Response:
        headers = dict(self._headers)
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        return self._exchange(method, path, body, headers)

    def _exchange(self, method: str, path: str, body: bytes | None, headers: dict) -> Response:
        if self._connection.sock is None:  # http.client (re)connects on this request
            self.connections_opened += 1
        started = time.perf_counter()
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        content = response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._received(response)
        return Response(response.status, content, elapsed_ms, dict(response.getheaders()))

    def _received(self, response: http.client.HTTPResponse) -> None:
        """A hook for what a client keeps from a response (the browser: its cookies)."""

    def close(self) -> None:
        self._connection.close()


class BrowserClient(ApiClient):
    """A browser's session: logs in on the login form, keeps the cookies, sends the CSRF
    token on unsafe requests; asks for HTML."""

    def __init__(self, port: int, *, timeout: float = 60) -> None:
        super().__init__(port, timeout=timeout)
        self._headers = {"Accept": "text/html"}
        self._cookies: dict[str, str] = {}

    def login(self, username: str, password: str, *, path: str = "/login/") -> None:
        page = self.send("GET", path)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        if page.status != 200 or token is None:
            raise SystemExit(f"GET {path}: {page.status}, no login form with a CSRF token")
        form = {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token.group(1).decode(),
        }
        response = self.send_form("POST", path, form)
        if response.status != 302 or "sessionid" not in self._cookies:
            raise SystemExit(f"session login failed: {response.status} {response.body[:300]!r}")

    def send(self, method: str, path: str, payload: dict | None = None) -> Response:
        headers = self._session_headers(method)
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        return self._exchange(method, path, body, headers)

    def send_form(self, method: str, path: str, form: dict[str, str]) -> Response:
        headers = self._session_headers(method)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self._exchange(method, path, urlencode(form).encode(), headers)

    def _session_headers(self, method: str) -> dict[str, str]:
        headers = dict(self._headers)
        if self._cookies:
            headers["Cookie"] = "; ".join(
                f"{name}={value}" for name, value in self._cookies.items()
            )
        if method not in ("GET", "HEAD", "OPTIONS") and "csrftoken" in self._cookies:
            headers["X-CSRFToken"] = self._cookies["csrftoken"]
        return headers

    def _received(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            self._cookies[name.strip()] = value.strip()


def follow_next(client: ApiClient, path: str, *, pages: int) -> str:
    """The path of the page ``pages`` pages after ``path``, reached by following ``next``."""
    for _ in range(pages):
        response = client.send("GET", path)
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {response.body[:300]!r}")
        next_url = response.json()["next"]
        if next_url is None:
            raise SystemExit(f"the list ended before page {pages:,}")
        parts = urlsplit(next_url)
        path = f"{parts.path}?{parts.query}"
    return path


# --- Measurement ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    expected_status: int
    is_list: bool  # a list (or list page): measured against the goal
    request: Callable[[int], tuple[str, dict | None]]  # request number -> path, JSON body
    goal_ms: float | None = None  # its own p95 goal, instead of the table's


@dataclass(frozen=True)
class Result:
    call: Call
    timings_ms: list[float]
    errors: int

    def percentile(self, percent: int) -> float:
        return statistics.quantiles(self.timings_ms, n=100, method="inclusive")[percent - 1]


def measure(client: ApiClient, call: Call, count: int) -> Result:
    timings, errors = [], 0
    for number in range(count):
        path, payload = call.request(number)
        response = client.send(call.method, path, payload)
        timings.append(response.elapsed_ms)
        if response.status != call.expected_status:
            errors += 1
            if errors <= 3:
                print(
                    f"   error: {call.method} {path} -> {response.status} {response.body[:300]!r}",
                    file=sys.stderr,
                )
    return Result(call, timings, errors)


def results_table(results: list[Result], *, goal_ms: float) -> list[str]:
    """The markdown table: percentiles per call, lists checked against ``p95 < goal_ms``."""
    lines = [
        "| call | requests | p50 ms | p95 ms | max ms | goal | ok? |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        p95 = result.percentile(95)
        goal, ok = "-", "-"
        if result.call.is_list:
            wanted = result.call.goal_ms or goal_ms
            goal, ok = f"p95 < {wanted:.0f} ms", "yes" if p95 < wanted else "**no**"
        lines.append(
            f"| {result.call.name} | {len(result.timings_ms)} | {result.percentile(50):.1f} "
            f"| {p95:.1f} | {max(result.timings_ms):.1f} | {goal} | {ok} |"
        )
    return lines


def machine_line(postgres_version: str) -> str:
    spreads = _spreads or [machine_spread()]
    timed = "; ".join(f"p50 {p50:.1f} ms, p95 {p95:.1f} ms" for p50, p95 in spreads)
    return (
        f"Machine: {len(os.sched_getaffinity(0))} CPUs (nproc), PostgreSQL "
        f"{postgres_version}, Python {sys.version.split()[0]}; gunicorn "
        f"{GUNICORN_WORKERS} gthread workers x {GUNICORN_THREADS} threads. The same fixed "
        f"Python task timed 200 times just before the requests were: {timed} (this machine's "
        "own spread and speed, which change from hour to hour: read the figures above by them)."
    )


_spreads: list[tuple[float, float]] = []


def spread_noted() -> None:
    """The machine's spread now, just before requests are measured (for machine_line)."""
    _spreads.append(machine_spread())


def machine_spread(runs: int = 200) -> tuple[float, float]:
    """p50 and p95 of one fixed piece of pure Python work (about 10 ms): what the machine
    alone adds between a median request and a slow one, with no database or network."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        total = 0
        for number in range(200_000):
            total += number * number
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100, method="inclusive")  # as Result.percentile
    return cuts[49], cuts[94]
