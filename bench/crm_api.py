"""Latency of the contacts API through the real HTTP stack, on PostgreSQL.

Two accounts with 100,000 contacts and 5,000 companies each, their rows interleaved in the same
tables as in a live multi-tenant database. gunicorn serves the production settings; one keep-alive
client, one request at a time, measures the contacts list (first page, a page 1,000 pages deep by
cursor, a search), the detail GET and create. How to run it and the latest results: README.md
beside this file.
"""

import argparse
import contextlib
import http.client
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/crm_bench"
CONTACTS_URL = "/api/v1/contacts/"
LIST_GOAL_MS = 50.0
WARMUP_REQUESTS = 20
PAGE_SIZE = 50  # the API's default
DEEP_PAGES = 1_000
SEARCH_TERMS = 20
CONTACTS_PER_COMPANY = 20
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4  # gthread: the worker class that keeps connections alive
PASSWORD = "bench-password"  # noqa: S105 - the login of a throwaway database
SEED = 1

# Word lists, packed several to a line.
# fmt: off
FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Julia", "Karl",
    "Lea", "Lukas", "Marie", "Max", "Mia", "Noah", "Paul", "Sophie", "Tim", "Laura", "Elias",
    "Lina", "Finn", "Amelie", "Leon", "Johanna", "Moritz", "Charlotte", "Oskar", "Ida", "Emil",
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "Richard", "Susan", "Thomas", "Jessica", "Daniel", "Sarah", "Matthew", "Karen",
    "Anthony", "Nancy", "Mark", "Olivia", "Liam", "Ava", "Lucas", "Isabella", "Mateo", "Sofia",
    "Santiago", "Valentina", "Diego", "Camila", "Alejandro", "Lucia", "Javier", "Martina",
    "Giulia", "Francesco", "Chiara", "Alessandro", "Giorgia", "Lorenzo", "Camille", "Louis",
    "Chloé", "Hugo", "Manon", "Arthur", "Zofia", "Jakub", "Maja", "Kacper", "Zeynep", "Emre",
    "Elif", "Mehmet", "Ayşe", "Lars", "Ingrid", "Sven", "Astrid", "Pieter", "Femke", "Anouk",
    "Aiko", "Haruto", "Arjun", "Priya", "Omar", "Fatima", "Yusuf", "Leila",
]

# Most common first: row k is drawn with weight 1 / (k + 10) ** 1.1, a Zipf-like long tail, so the
# commonest surname is about 3% of an account's contacts and the rarest a few dozen rows.
LAST_NAMES = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Smith", "Johnson", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Werner",
    "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen",
    "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson",
    "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Rossi", "Russo",
    "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno",
    "Gallo", "Conti", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti", "Bernard",
    "Dubois", "Durand", "Leroy", "Moreau", "Laurent", "Lefebvre", "Michel", "Fontaine",
    "Chevalier", "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński",
    "Lewandowski", "Zieliński", "Szymański", "Woźniak", "Yılmaz", "Kaya", "Demir", "Şahin",
    "Çelik", "Yıldız", "Aydın", "Öztürk", "Arslan", "Doğan", "Jansen", "Bakker", "Visser", "Smit",
    "Meijer", "Mulder", "Dekker", "Brouwer", "Jansson", "Johansson", "Andersson", "Karlsson",
    "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Hansen", "Nielsen",
    "Pedersen", "Kristensen", "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Yamamoto",
    "Nakamura", "Kobayashi", "Wang", "Zhang", "Chen", "Yang", "Huang", "Zhao", "Kumar", "Singh",
    "Sharma", "Patel", "Gupta", "Hussain", "Ahmed", "Ibrahim", "Hassan", "Mahmoud", "Schäfer",
    "Bauer", "Schubert", "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler",
    "Roth", "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Schuster", "Simon", "Ludwig",
    "Böhm", "Winter", "Kraus", "Martin", "Schumacher", "Krämer", "Vogt", "Stein", "Jäger", "Otto",
    "Sommer", "Groß", "Seidel", "Heinrich", "Brandt", "Haas", "Schreiber", "Graf", "Schulte",
    "Dietrich", "Ziegler", "Kuhn", "Kühn", "Pohl", "Engel", "Horn", "Busch", "Bergmann", "Thomas",
    "Voigt", "Sauer", "Arnold", "Wolff", "Pfeiffer", "Evans", "Edwards", "Collins", "Stewart",
    "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Peterson", "Cooper", "Reed", "Bailey",
    "Kelly", "Howard", "Ramos", "Castillo", "Morales", "Ortiz", "Gutierrez", "Chavez", "Ruiz",
    "Alvarez", "Mendoza", "Romero", "Herrera", "Medina", "Aguilar", "Vargas", "Castro",
    "Fernandez", "Jimenez", "Moreno", "Navarro", "Molina", "Delgado", "Ortega", "Serrano",
    "Blanco", "Suarez", "Rubio", "Iglesias", "Marín", "Sanz", "Nuñez", "Cabrera", "Gallagher",
    "Brennan", "Byrne", "Doherty", "Fitzgerald", "Sullivan", "Kavanagh", "Quinlan", "Lindqvist",
    "Bergström", "Holmberg", "Sandberg", "Lindgren", "Halvorsen", "Virtanen", "Korhonen",
    "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen", "Papadopoulos", "Georgiou",
    "Dimitriou", "Novak", "Horvat", "Kovačević", "Babić", "Marković", "Petrović", "Popescu",
    "Ionescu", "Dumitru", "Stoica", "Kovács", "Szabó", "Tóth", "Nagy", "Dvořák", "Svoboda",
    "Černý", "Procházka", "Kuchař", "Vasquez", "Okafor", "Mensah", "Abubakar", "Oyelaran",
    "Banerjee", "Chatterjee", "Iyer", "Venkatesan", "Raghunathan", "Bhattacharya", "Thorvaldsen",
]

POSITIONS = [
    "CEO", "CFO", "CTO", "Buyer", "Engineer", "Consultant", "Assistant", "Office Manager",
    "Sales Manager", "Account Manager", "Project Manager", "Head of Purchasing", "Head of IT",
]

COMPANY_WORDS = [
    "Nord", "Süd", "Alpen", "Rhein", "Blue", "Green", "Summit", "Delta", "Nova", "Vertex", "Atlas",
    "Orion", "Apex", "Pioneer", "Horizon", "Quantum", "Silver", "Golden", "Lake", "River", "Stone",
    "Iron", "Bright", "Swift", "Cedar", "Falcon", "Harbor", "Maple", "Polar",
]
INDUSTRIES = [
    "Logistics", "Software", "Consulting", "Construction", "Medical", "Energy", "Foods", "Media",
    "Analytics", "Robotics", "Design", "Textiles", "Chemicals", "Insurance", "Retail",
    "Automotive",
]
# fmt: on

LEGAL_FORMS = ["GmbH", "AG", "KG", "Ltd", "Inc", "SE", "B.V.", "S.r.l.", "SAS"]
MAIL_PROVIDERS = ["gmail.com", "outlook.com", "gmx.de", "web.de", "yahoo.com", "icloud.com"]
COUNTRY_CODES = ["49", "49", "49", "43", "41", "44", "33", "39", "34", "31", "1"]


def main() -> int:
    args = parse_args()
    rng = random.Random(SEED)
    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(fresh_database(args.database_url, keep=args.keep))
        var_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="crm-bench-"))
        (Path(var_dir) / "static").mkdir()  # whitenoise warns when STATIC_ROOT is missing
        env = production_environment(database_url=args.database_url, var_dir=var_dir)

        step("migrate")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
            cwd=REPO,
            env=env,
            check=True,
        )
        django_setup(env)
        dataset = seed(contacts_per_account=args.contacts, rng=rng)

        port = cleanup.enter_context(gunicorn_server(env))
        client = ApiClient(port)
        cleanup.callback(client.close)
        client.login(dataset.username, PASSWORD)

        step(f"walk the cursor {DEEP_PAGES:,} pages deep (page_size={PAGE_SIZE})")
        deep_page = deep_page_path(client, pages=DEEP_PAGES)
        calls = contact_calls(dataset=dataset, deep_page=deep_page, rng=rng)

        step(f"warm up: {WARMUP_REQUESTS} requests per call")
        warmup_errors = sum(measure(client, call, WARMUP_REQUESTS).errors for call in calls)
        step(f"measure: {args.requests} requests per call, one at a time")
        results = [measure(client, call, args.requests) for call in calls]

    errors = warmup_errors + sum(result.errors for result in results)
    print()
    print(report(results, dataset=dataset, errors=errors, connections=client.connections_opened))
    return 1 if errors else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--contacts", type=int, default=100_000, help="contacts per account (default 100,000)"
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="measured requests per call (default 200)"
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"the database to DROP and create (default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()
    if args.contacts < (DEEP_PAGES + 1) * PAGE_SIZE:
        parser.error(f"--contacts must be at least {(DEEP_PAGES + 1) * PAGE_SIZE:,}")
    if args.requests < 20:
        parser.error("--requests must be at least 20 for a 95th percentile")
    return args


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
        "DATABASE_URL": database_url,
        "CRM_VAR_DIR": var_dir,
    }


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


# --- Data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """What the measured account holds, and facts for the report."""

    username: str
    contact_ids: list[int]
    company_ids: list[int]
    contacts_per_account: int
    companies_per_account: int
    search_terms: dict[str, int]  # surname -> contacts of the account that the search matches
    postgres_version: str


def seed(*, contacts_per_account: int, rng: random.Random) -> Dataset:
    """Two accounts made by the product's own service; their companies and contacts by COPY,
    the two accounts' rows shuffled together so each table page holds both, as in production."""
    from django.db import connection, connections

    from accounts.services import account_create
    from crm.models import Company, Contact

    companies_per_account = max(1, contacts_per_account // CONTACTS_PER_COMPANY)
    step(
        f"seed 2 accounts x {contacts_per_account:,} contacts and "
        f"{companies_per_account:,} companies"
    )
    started = time.perf_counter()
    admins = {}  # account id -> the account's admin
    for letter in "AB":
        account = account_create(
            name=f"Bench {letter}",
            plan="professional",
            admin_username=f"bench-{letter.lower()}-admin",
            admin_password=PASSWORD,
            check_password=False,
        )
        admins[account.id] = account.users.get()
    accounts = list(admins)
    creators = {account_id: admin.id for account_id, admin in admins.items()}

    with connection.cursor() as cursor:
        copy_rows(
            cursor,
            Company._meta.db_table,
            COMPANY_COLUMNS,
            company_rows(accounts, companies_per_account, creators, rng),
        )
        companies = {account_id: [] for account_id in accounts}  # -> [(id, mail domain)]
        for company_id, account_id, email in Company.objects.values_list(
            "id", "account_id", "email"
        ).order_by("id"):
            companies[account_id].append((company_id, email.partition("@")[2]))
        copy_rows(
            cursor,
            Contact._meta.db_table,
            CONTACT_COLUMNS,
            contact_rows(accounts, contacts_per_account, creators, companies, rng),
        )
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("SHOW server_version")
        (postgres_version,) = cursor.fetchone()

    measured = accounts[0]
    contact_ids = list(
        Contact.objects.filter(account_id=measured).values_list("id", flat=True).order_by("id")
    )
    step(f"seeded in {time.perf_counter() - started:.1f} s")
    dataset = Dataset(
        username=admins[measured].username,
        contact_ids=contact_ids,
        company_ids=[company_id for company_id, _ in companies[measured]],
        contacts_per_account=contacts_per_account,
        companies_per_account=companies_per_account,
        search_terms=search_term_matches(measured),
        postgres_version=postgres_version,
    )
    connections.close_all()  # gunicorn has its own; the database is dropped at the end
    return dataset


def search_term_matches(account_id: int) -> dict[str, int]:
    """Surnames spread from the commonest to the rarest, with how many of the account's contacts
    ``?search=`` matches (every search field, case-insensitive, as the API's filter)."""
    from django.db.models import Q

    from crm.entities import ENTITIES
    from crm.models import Contact

    search_fields = ENTITIES["contact"].search_fields
    stride = len(LAST_NAMES) / SEARCH_TERMS
    terms = [LAST_NAMES[int(index * stride)] for index in range(SEARCH_TERMS)]
    matches = {}
    for term in terms:
        condition = Q()
        for name in search_fields:
            condition |= Q(**{f"{name}__icontains": term})
        matches[term] = Contact.objects.filter(condition, account_id=account_id).count()
    return matches


COMPANY_COLUMNS = (
    "account_id",
    "created_by_id",
    "created_at",
    "updated_at",
    "title",
    "industry",
    "phone",
    "email",
    "website",
    "address",
    "comments",
)
CONTACT_COLUMNS = (
    "account_id",
    "created_by_id",
    "created_at",
    "updated_at",
    "first_name",
    "last_name",
    "email",
    "phone",
    "position",
    "company_id",
)


def company_rows(
    accounts: list[int], per_account: int, creators: dict[int, int], rng: random.Random
) -> Iterator[tuple]:
    order = interleaved(accounts, per_account, rng)
    for account_id, created_at in zip(order, creation_times(len(order)), strict=True):
        word = rng.choice(COMPANY_WORDS + LAST_NAMES[:60])
        industry = rng.choice(INDUSTRIES)
        domain = f"{ascii_slug(word)}-{ascii_slug(industry)}.{rng.choice(['com', 'de', 'eu'])}"
        yield (
            account_id,
            creators[account_id],
            created_at,
            created_at,
            f"{word} {industry} {rng.choice(LEGAL_FORMS)}",
            industry,
            phone_number(rng),
            f"info@{domain}",
            f"https://www.{domain}",
            f"{rng.choice(LAST_NAMES)}straße {rng.randint(1, 200)}, {rng.randint(10000, 99999)}",
            "",
        )


def contact_rows(
    accounts: list[int],
    per_account: int,
    creators: dict[int, int],
    companies: dict[int, list[tuple[int, str]]],
    rng: random.Random,
) -> Iterator[tuple]:
    order = interleaved(accounts, per_account, rng)
    surname_weights = [1 / (rank + 10) ** 1.1 for rank in range(len(LAST_NAMES))]
    surnames = rng.choices(LAST_NAMES, weights=surname_weights, k=len(order))
    for account_id, created_at, last_name in zip(
        order, creation_times(len(order)), surnames, strict=True
    ):
        first_name = rng.choice(FIRST_NAMES)
        company_id, domain = None, rng.choice(MAIL_PROVIDERS)
        if rng.random() < 0.7:
            company_id, domain = rng.choice(companies[account_id])
        yield (
            account_id,
            creators[account_id],
            created_at,
            created_at,
            first_name,
            last_name,
            f"{ascii_slug(first_name)}.{ascii_slug(last_name)}@{domain}",
            phone_number(rng),
            rng.choice(POSITIONS) if rng.random() < 0.6 else "",
            company_id,
        )


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
        yield (start + (end - start) * index / count).isoformat()


def phone_number(rng: random.Random) -> str:
    return f"+{rng.choice(COUNTRY_CODES)} {rng.randint(20, 999)} {rng.randint(100_000, 9_999_999)}"


def ascii_slug(text: str) -> str:
    text = text.lower()
    for umlaut, spelled in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, spelled)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(character for character in text if character.isalnum())


def copy_rows(cursor, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """COPY FROM STDIN in PostgreSQL's text format; ids come from the table's own sequence."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_text(value) for value in row))
        buffer.write("\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def _copy_text(value: Any) -> str:
    if value is None:
        return r"\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


# --- HTTP ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn_server(env: dict[str, str]) -> Iterator[int]:
    """gunicorn serving config.wsgi on a free loopback port; stopped on the way out."""
    port = free_port()
    step(
        f"start gunicorn on 127.0.0.1:{port} ({GUNICORN_WORKERS} workers, "
        f"{GUNICORN_THREADS} threads each)"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={GUNICORN_WORKERS}",
            "--worker-class=gthread",
            f"--threads={GUNICORN_THREADS}",
            "--log-level=warning",
        ],
        cwd=REPO,
        env=env,
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

    def json(self) -> Any:
        return json.loads(self.body)


class ApiClient:
    """One keep-alive connection, one request at a time."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self._headers = {"Accept": "application/json"}
        self.connections_opened = 0  # 1 at the end if the server kept the connection alive

    def login(self, username: str, password: str) -> None:
        response = self.send(
            "POST", "/api/v1/auth/token/", {"username": username, "password": password}
        )
        if response.status != 200:
            raise SystemExit(f"login failed: {response.status} {response.body[:300]!r}")
        self._headers["Authorization"] = f"Token {response.json()['token']}"

    def send(self, method: str, path: str, payload: dict | None = None) -> Response:
        headers = dict(self._headers)
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if self._connection.sock is None:  # http.client (re)connects on this request
            self.connections_opened += 1
        started = time.perf_counter()
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        content = response.read()
        return Response(response.status, content, (time.perf_counter() - started) * 1000)

    def close(self) -> None:
        self._connection.close()


def deep_page_path(client: ApiClient, *, pages: int) -> str:
    """The URL of the page ``pages`` pages after the first, reached by following ``next``."""
    path = f"{CONTACTS_URL}?{urlencode({'page_size': PAGE_SIZE})}"
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
    is_list: bool
    request: Callable[[int], tuple[str, dict | None]]  # request number -> path, JSON body


def contact_calls(*, dataset: Dataset, deep_page: str, rng: random.Random) -> list[Call]:
    terms = list(dataset.search_terms)

    def search(number: int) -> tuple[str, None]:
        return f"{CONTACTS_URL}?{urlencode({'search': terms[number % len(terms)]})}", None

    def detail(number: int) -> tuple[str, None]:
        return f"{CONTACTS_URL}{rng.choice(dataset.contact_ids)}/", None

    def create(number: int) -> tuple[str, dict]:
        first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        return CONTACTS_URL, {
            "first_name": first_name,
            "last_name": last_name,
            "email": f"{ascii_slug(first_name)}.{ascii_slug(last_name)}.{number}@example.com",
            "phone": phone_number(rng),
            "position": rng.choice(POSITIONS),
            "company": rng.choice(dataset.company_ids),
        }

    return [
        Call("list, first page", "GET", 200, True, lambda _: (CONTACTS_URL, None)),
        Call(f"list, page {DEEP_PAGES:,} (cursor)", "GET", 200, True, lambda _: (deep_page, None)),
        Call(f"list, search ({len(terms)} surnames)", "GET", 200, True, search),
        Call("detail", "GET", 200, False, detail),
        Call("create", "POST", 201, False, create),
    ]


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


def report(results: list[Result], *, dataset: Dataset, errors: int, connections: int) -> str:
    lines = [
        "| call | requests | p50 ms | p95 ms | max ms | goal | ok? |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        p95 = result.percentile(95)
        goal, ok = "-", "-"
        if result.call.is_list:
            goal, ok = f"p95 < {LIST_GOAL_MS:.0f} ms", "yes" if p95 < LIST_GOAL_MS else "**no**"
        lines.append(
            f"| {result.call.name} | {len(result.timings_ms)} | {result.percentile(50):.1f} "
            f"| {p95:.1f} | {max(result.timings_ms):.1f} | {goal} | {ok} |"
        )
    matches = sorted(dataset.search_terms.values())
    lines += [
        "",
        f"Data: 2 accounts x {dataset.contacts_per_account:,} contacts and "
        f"{dataset.companies_per_account:,} companies, rows of both interleaved "
        f"({2 * dataset.contacts_per_account:,} rows in crm_contact); page size {PAGE_SIZE}; "
        f"the deep page holds rows {DEEP_PAGES * PAGE_SIZE:,}-{(DEEP_PAGES + 1) * PAGE_SIZE:,}; "
        f"each search matches {matches[0]:,} to {matches[-1]:,} of the account's contacts "
        f"(median {statistics.median(matches):,.0f}): "
        + ", ".join(f"{term} {count:,}" for term, count in dataset.search_terms.items())
        + ".",
        f"Machine: {len(os.sched_getaffinity(0))} CPUs (nproc), PostgreSQL "
        f"{dataset.postgres_version}, Python {sys.version.split()[0]}; gunicorn "
        f"{GUNICORN_WORKERS} gthread workers x {GUNICORN_THREADS} threads. "
        f"HTTP connections opened: {connections}. Errors: {errors}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # main's cleanup has stopped gunicorn and dropped the database
        sys.exit(130)
