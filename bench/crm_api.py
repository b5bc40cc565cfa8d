"""Latency of the contacts API through the real HTTP stack, on PostgreSQL.

Two accounts with 100,000 contacts and 5,000 companies each, their rows interleaved in the same
tables as in a live multi-tenant database. gunicorn serves the production settings; one keep-alive
client, one request at a time, measures the contacts list (first page, a page 1,000 pages deep by
cursor, a search), the detail GET, create and update (PATCH). How to run it and the latest
results: README.md beside this file.
"""

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from _common import (
    PASSWORD,
    WARMUP_REQUESTS,
    ApiClient,
    Call,
    Result,
    copy_rows,
    creation_times,
    django_setup,
    follow_next,
    fresh_database,
    gunicorn_server,
    interleaved,
    machine_line,
    measure,
    migrate,
    production_environment,
    results_table,
    spread_noted,
    step,
)
from _words import (
    COMPANY_WORDS,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    LEGAL_FORMS,
    MAIL_PROVIDERS,
    POSITIONS,
    ascii_slug,
    phone_number,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/crm_bench"
CONTACTS_URL = "/api/v1/contacts/"
LIST_GOAL_MS = 50.0
PAGE_SIZE = 50  # the API's default
DEEP_PAGES = 1_000
SEARCH_TERMS = 20
CONTACTS_PER_COMPANY = 20
SEED = 1


def main() -> int:
    args = parse_args()
    rng = random.Random(SEED)
    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(fresh_database(args.database_url, keep=args.keep))
        var_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="crm-bench-"))
        (Path(var_dir) / "static").mkdir()  # whitenoise warns when STATIC_ROOT is missing
        env = production_environment(database_url=args.database_url, var_dir=var_dir)

        migrate(env)
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
        spread_noted()
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


def deep_page_path(client: ApiClient, *, pages: int) -> str:
    """The URL of the page ``pages`` pages after the first, reached by following ``next``."""
    return follow_next(client, f"{CONTACTS_URL}?{urlencode({'page_size': PAGE_SIZE})}", pages=pages)


# --- Measurement ---------------------------------------------------------------------------------


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

    def update(number: int) -> tuple[str, dict]:
        return f"{CONTACTS_URL}{rng.choice(dataset.contact_ids)}/", {
            "position": rng.choice(POSITIONS),
            "phone": phone_number(rng),
        }

    return [
        Call("list, first page", "GET", 200, True, lambda _: (CONTACTS_URL, None)),
        Call(f"list, page {DEEP_PAGES:,} (cursor)", "GET", 200, True, lambda _: (deep_page, None)),
        Call(f"list, search ({len(terms)} surnames)", "GET", 200, True, search),
        Call("detail", "GET", 200, False, detail),
        Call("create", "POST", 201, False, create),
        Call("update (PATCH of two fields)", "PATCH", 200, False, update),
    ]


def report(results: list[Result], *, dataset: Dataset, errors: int, connections: int) -> str:
    lines = results_table(results, goal_ms=LIST_GOAL_MS)
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
        f"{machine_line(dataset.postgres_version)} "
        f"HTTP connections opened: {connections}. Errors: {errors}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # main's cleanup has stopped gunicorn and dropped the database
        sys.exit(130)
