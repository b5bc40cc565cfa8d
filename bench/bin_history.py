"""Latency of the recycle bin and the history, and bulk restore and purge, on PostgreSQL.

Two accounts with 1,000,000 history events and 100,000 recycle bin entries each (and the CRM rows
the entries hold), their rows interleaved in the same tables as in a live multi-tenant database.
Through gunicorn with the production settings, one request at a time over keep-alive
connections: the history filtered to deletions (first page, a page 1,000 pages deep by cursor),
the history of one record, the bin list filtered by type and by user, the bin page and the
history page (HTML). Then bin_restore and bin_purge of 1,000 entries, in process and through the
API, and the bin page once more. How to run it and the latest results: README.md beside this file.
"""

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from _common import (
    PASSWORD,
    WARMUP_REQUESTS,
    ApiClient,
    BrowserClient,
    Call,
    Result,
    collectstatic,
    copy_rows,
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

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/crm_bench_bin"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
HISTORY_URL = "/api/v1/history/"
BIN_URL = "/api/v1/recyclebin/"
BIN_RESTORE_URL = "/api/v1/recyclebin/restore/"
BIN_PURGE_URL = "/api/v1/recyclebin/purge/"
BIN_PAGE = "/recyclebin/"
HISTORY_PAGE = "/history/"
COMPANIES_URL = "/api/v1/companies/"
LIST_GOAL_MS = 50.0
PAGE_GOAL_MS = 25.0  # the HTML pages (issue 18)
BULK_GOAL_S = 2.0
BULK_ENTRIES = 1_000
BULK_RUNS = 3  # each on other entries
PAGE_SIZE = 50  # the API's default
DEEP_PAGES = 1_000
EMPLOYEES = 4
IDLE_SECONDS = 600  # gunicorn's keep-alive
RECORDS_PER_REQUEST_POOL = 500  # "history of one record": drawn from this many of the account's
SEED = 1

TYPES = ("company", "contact", "lead", "deal", "activity")
# Of the bin entries, per type of the deleted item (activities here: deleted on their own).
ENTRY_SHARES = {"company": 0.10, "contact": 0.25, "lead": 0.20, "deal": 0.25, "activity": 0.20}
# Live rows beside them, as a share of the entries: parents of the binned activities, companies
# the binned contacts and deals link to, records whose link to a binned company is hidden.
LIVE_SHARES = {"company": 0.05, "contact": 0.20, "lead": 0.10, "deal": 0.10, "activity": 0.10}
COMPANY_ACTIVITIES = (0, 0, 0, 1, 1, 2, 3)  # activities deleted with a company, one drawn each
HIDDEN_CONTACTS = 0.3  # binned companies that a live contact linked to (hidden link)
HIDDEN_DEALS = 0.1  # ... that a live deal linked to
BIN_DAYS = 30  # entries deleted over the last 30 days; purge_after = deleted_at + 30 days
HISTORY_DAYS = 90
EVENT_MIX = {"create": 50, "update": 25, "delete": 15, "restore": 5, "purge": 5}
ADMIN_SHARE = 0.3  # of the actions; the employees share the rest equally
SYSTEM_PURGES = 0.5  # purge events by the automatic purge (no actor)

# fmt: off
PRODUCTS = [
    "CRM licences", "Support contract", "Onboarding", "Hardware refresh", "Cloud migration",
    "Annual maintenance", "Consulting days", "Training", "Data migration", "Integration",
    "Pilot project", "Upgrade", "Framework agreement", "Spare parts", "Service level upgrade",
]
SUBJECTS = {
    "call": ["Call {name}", "Follow-up call with {name}", "Call back {name} about the offer"],
    "meeting": ["Meeting with {name}", "Demo for {name}", "Kick-off with {name}"],
    "email": ["Send offer to {name}", "Answer {name}'s questions", "Mail the contract to {name}"],
    "task": ["Prepare proposal for {name}", "Check credit of {name}", "Update {name}'s address"],
}
# fmt: on
LEAD_STATUSES = ["new", "in_progress", "qualified", "converted", "junk"]
LEAD_SOURCES = ["call", "email", "website", "advertising", "partner", "trade_show", "other", ""]
DEAL_STAGES = ["new", "preparation", "proposal", "negotiation", "won", "lost"]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "CHF", "GBP"]
ACTIVITY_TYPES = list(SUBJECTS)


def main() -> int:
    args = parse_args()
    rng = random.Random(SEED)
    errors = 0
    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(fresh_database(args.database_url, keep=args.keep))
        var_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="crm-bench-"))
        (Path(var_dir) / "static").mkdir()  # whitenoise warns when STATIC_ROOT is missing
        env = production_environment(database_url=args.database_url, var_dir=var_dir)
        if args.redis_url:
            # As deployed: the cache (the chart's counts) and the sessions in Redis.
            env["REDIS_URL"] = args.redis_url
            import redis

            redis.Redis.from_url(args.redis_url).flushdb()
        migrate(env)
        django_setup(env)
        dataset = seed(events=args.events, entries=args.entries, rng=rng)
        batches = iter(bulk_batches(dataset, rng))
        from django.db import connections

        connections.close_all()  # gunicorn has its own; this process reconnects for the bulk runs

        results: list[Result] = []
        bulk: list[Bulk] = []
        connections_opened = 0
        if args.services_only:
            bulk += service_bulks(dataset, batches)
        else:
            collectstatic(env)  # the pages need the manifest
            # Two clients take turns; an idle one keeps its connection meanwhile.
            port = cleanup.enter_context(gunicorn_server(env, keep_alive=IDLE_SECONDS))
            api = ApiClient(port, timeout=600)
            cleanup.callback(api.close)
            api.login(dataset.admin_username, PASSWORD)
            browser = BrowserClient(port)
            cleanup.callback(browser.close)
            browser.login(dataset.admin_username, PASSWORD)

            step(f"walk the deletions' cursor {DEEP_PAGES:,} pages deep (page_size={PAGE_SIZE})")
            first = f"{HISTORY_URL}?{urlencode({'event_type': 'delete', 'page_size': PAGE_SIZE})}"
            deep_page = follow_next(api, first, pages=DEEP_PAGES)
            calls = read_calls(
                dataset=dataset, deep_page=deep_page, api=api, browser=browser, rng=rng
            )
            results += measure_calls(calls, args.requests)

            bulk += service_bulks(dataset, batches)
            step(f"API: bulk restore and purge of {BULK_ENTRIES:,} entries, {BULK_RUNS} runs")
            bulk += [
                api_bulk("POST recyclebin/restore/ (API)", api, BIN_RESTORE_URL, batches),
                api_bulk("POST recyclebin/purge/ (API)", api, BIN_PURGE_URL, batches),
            ]
            # The bulk runs took 12,000 entries out of the bin, all over the table: until
            # autovacuum passes, counting the entries reads the heap again (README).
            after = Call(
                f"bin page /recyclebin/ (HTML), after the {len(bulk)} x {BULK_RUNS} bulk runs",
                "GET",
                200,
                True,
                lambda _: (BIN_PAGE, None),
                PAGE_GOAL_MS,
            )
            results += measure_calls([(browser, after)], args.requests)
            connections_opened = api.connections_opened + browser.connections_opened
        errors += sum(result.errors for result in results)
        errors += sum(operation.errors for operation in bulk)

    print()
    print(report(results, bulk, dataset=dataset, errors=errors, connections=connections_opened))
    return 1 if errors else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="history events per account (1,000,000)"
    )
    parser.add_argument(
        "--entries", type=int, default=100_000, help="recycle bin entries per account (100,000)"
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
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help=f"the cache and sessions, as deployed; flushed first (default {DEFAULT_REDIS_URL}; "
        "'' for each process's memory)",
    )
    parser.add_argument(
        "--services-only",
        action="store_true",
        help="only the in-process bulk restore and purge, no HTTP",
    )
    args = parser.parse_args()
    deletions = args.events * EVENT_MIX["delete"] / sum(EVENT_MIX.values())
    if deletions < (DEEP_PAGES + 1) * PAGE_SIZE * 1.2:
        parser.error(
            f"--events must be at least {(DEEP_PAGES + 1) * PAGE_SIZE * 8:,} (for the deep page)"
        )
    if args.entries < 4 * BULK_RUNS * BULK_ENTRIES * 2:
        parser.error(f"--entries must be at least {4 * BULK_RUNS * BULK_ENTRIES * 2:,}")
    if args.requests < 20:
        parser.error("--requests must be at least 20 for a 95th percentile")
    return args


# --- Data ----------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """What the measured account (the first) holds, and facts for the report."""

    account_id: int
    admin_username: str
    employee_ids: list[int]
    entry_ids: list[int]  # the measured account's bin entries
    records: dict[tuple[str, int], int]  # some of its records -> events naming each
    events_per_account: int
    entries_per_account: int
    table_rows: dict[str, int]
    postgres_version: str
    seconds: float


@dataclass
class AccountPlan:
    """One account's rows before they are written: ids per type, what is in the bin."""

    account_id: int
    users: list[int]  # the admin first
    usernames: dict[int, str]
    ids: dict[str, list[int]] = field(default_factory=dict)  # per type, ascending
    binned: dict[str, list[int]] = field(default_factory=dict)  # per type, deleted on their own
    company_activities: dict[int, list[int]] = field(default_factory=dict)  # deleted with it
    activity_company: dict[int, int] = field(default_factory=dict)  # the other way round
    live: dict[str, list[int]] = field(default_factory=dict)  # per type
    entry_of: dict[tuple[str, int], int] = field(default_factory=dict)  # binned row -> entry
    entries: list[tuple[int, str, int]] = field(default_factory=list)  # (entry, type, row id)
    hidden: dict[tuple[str, int], int] = field(default_factory=dict)  # live row -> company id
    titles: dict[tuple[str, int], str] = field(default_factory=dict)

    def actor(self, rng: random.Random) -> int:
        if rng.random() < ADMIN_SHARE:
            return self.users[0]
        return rng.choice(self.users[1:])


def seed(*, events: int, entries: int, rng: random.Random) -> Dataset:
    """Two accounts and their users made by the product's own services; everything else by
    COPY with ids chosen here (so entries and the rows they hold can name each other), both
    accounts' rows shuffled together in every table, as in production."""
    from django.db import connection

    from accounts.models import User
    from accounts.services import account_create, user_create
    from history.models import Event
    from recyclebin.models import BinEntry, HiddenLink

    step(
        f"seed 2 accounts x {events:,} history events and {entries:,} recycle bin entries "
        "(and the rows they hold)"
    )
    started = time.perf_counter()
    plans = []
    for letter in "AB":
        account = account_create(
            name=f"Bench {letter}",
            plan="professional",
            admin_username=f"bench-{letter.lower()}-admin",
            admin_password=PASSWORD,
            check_password=False,
        )
        users = [account.users.get()]
        users += [
            user_create(
                username=f"bench-{letter.lower()}-employee-{number}",
                password=PASSWORD,
                account=account,
                role=User.Role.EMPLOYEE,
                check_password=False,
            )
            for number in range(1, EMPLOYEES + 1)
        ]
        plans.append(
            AccountPlan(
                account_id=account.id,
                users=[user.id for user in users],
                usernames={user.id: user.username for user in users},
            )
        )

    plan_records(plans, entries=entries, rng=rng)
    plan_entries(plans, rng=rng)
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        copy_plans(cursor, plans, now=now, rng=rng)
        step(f"   CRM rows and bin entries written at {time.perf_counter() - started:.1f} s")
        measured = plans[0]
        records = dict.fromkeys(rng.sample(sorted(measured.titles), RECORDS_PER_REQUEST_POOL), 0)
        copy_rows(
            cursor,
            Event._meta.db_table,
            EVENT_COLUMNS,
            event_rows(plans, events, now, records, rng),
        )
        step(f"   history events written at {time.perf_counter() - started:.1f} s")
        cursor.execute("VACUUM (ANALYZE)")
        # The load's dirty pages written now, not by the checkpointer while requests are timed.
        cursor.execute("CHECKPOINT")
        cursor.execute("SHOW server_version")
        (postgres_version,) = cursor.fetchone()
        table_rows = {}
        tables = [Event._meta.db_table, BinEntry._meta.db_table, HiddenLink._meta.db_table]
        for table in tables + [f"crm_{t}" for t in TYPES]:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - our own table names
            (table_rows[table],) = cursor.fetchone()

    seconds = time.perf_counter() - started
    step(f"seeded in {seconds:.1f} s")
    return Dataset(
        account_id=measured.account_id,
        admin_username=measured.usernames[measured.users[0]],
        employee_ids=measured.users[1:],
        entry_ids=[entry_id for entry_id, _, _ in measured.entries],
        records=records,
        events_per_account=events,
        entries_per_account=entries,
        table_rows=table_rows,
        postgres_version=postgres_version,
        seconds=seconds,
    )


def allocate_ids(counts: dict[int, int], rng: random.Random) -> dict[int, list[int]]:
    """Ids 1, 2, ... of one table handed out to the accounts in shuffled order."""
    order = [account_id for account_id, count in counts.items() for _ in range(count)]
    rng.shuffle(order)
    ids: dict[int, list[int]] = {account_id: [] for account_id in counts}
    for number, account_id in enumerate(order, start=1):
        ids[account_id].append(number)
    return ids


def plan_records(plans: list[AccountPlan], *, entries: int, rng: random.Random) -> None:
    """Each account's ids per type; which rows are in the bin (on their own, or activities with
    their company); which live rows had their link to a binned company hidden."""
    binned = {entity_type: round(entries * share) for entity_type, share in ENTRY_SHARES.items()}
    binned["activity"] = entries - sum(binned[t] for t in TYPES if t != "activity")
    live = {entity_type: round(entries * share) for entity_type, share in LIVE_SHARES.items()}
    together = {
        plan.account_id: [rng.choice(COMPANY_ACTIVITIES) for _ in range(binned["company"])]
        for plan in plans
    }
    for entity_type in TYPES:
        counts = {
            plan.account_id: binned[entity_type]
            + live[entity_type]
            + (sum(together[plan.account_id]) if entity_type == "activity" else 0)
            for plan in plans
        }
        ids = allocate_ids(counts, rng)
        for plan in plans:
            plan.ids[entity_type] = ids[plan.account_id]
            split_binned(plan, entity_type, binned[entity_type], together[plan.account_id], rng=rng)

    for plan in plans:
        contacts, deals = list(plan.live["contact"]), list(plan.live["deal"])
        rng.shuffle(contacts)
        rng.shuffle(deals)
        for company_id in plan.binned["company"]:
            if rng.random() < HIDDEN_CONTACTS:
                for _ in range(rng.randint(1, 2)):
                    plan.hidden[("contact", contacts.pop())] = company_id
            if rng.random() < HIDDEN_DEALS:
                plan.hidden[("deal", deals.pop())] = company_id


def split_binned(
    plan: AccountPlan,
    entity_type: str,
    binned: int,
    together: list[int],
    *,
    rng: random.Random,
) -> None:
    """The account's ids of ``entity_type`` (``plan.ids``): ``binned`` of them in the bin on
    their own entry, activities deleted along with a binned company (``together``: how many
    for each), the rest live."""
    own = list(plan.ids[entity_type])
    rng.shuffle(own)
    plan.binned[entity_type] = sorted(own[:binned])
    rest = own[binned:]
    if entity_type == "activity":
        position = 0
        for company_id, count in zip(plan.binned["company"], together, strict=True):
            if count:
                activities = rest[position : position + count]
                plan.company_activities[company_id] = activities
                plan.activity_company.update(dict.fromkeys(activities, company_id))
                position += count
        rest = rest[position:]
    plan.live[entity_type] = sorted(rest)


def plan_rows_by_size(
    plans: list[AccountPlan],
    sizes: dict[int, int],
    rng: random.Random,
    *,
    shares: dict[str, float],
    binned: float,
) -> None:
    """Each account's ids per type (``sizes[account] * shares[type]``, all accounts' ids
    shuffled together), ``binned`` of each type in the bin on its own entry (at least one;
    a binned company takes 0-3 of its activities along), and live contacts whose link to a
    binned company is hidden. For the snapshot benches (bench/backups.py, bench/nightly.py)."""
    together = {
        plan.account_id: [
            rng.choice(COMPANY_ACTIVITIES)
            for _ in range(max(1, round(sizes[plan.account_id] * shares["company"] * binned)))
        ]
        for plan in plans
    }
    for entity_type in TYPES:
        counts = {p.account_id: round(sizes[p.account_id] * shares[entity_type]) for p in plans}
        ids = allocate_ids(counts, rng)
        for plan in plans:
            plan.ids[entity_type] = list(ids[plan.account_id])
            count = max(1, round(len(plan.ids[entity_type]) * binned))
            split_binned(plan, entity_type, count, together[plan.account_id], rng=rng)
    for plan in plans:
        contacts = list(plan.live["contact"])
        rng.shuffle(contacts)
        for company_id in plan.binned["company"]:
            if rng.random() < HIDDEN_CONTACTS and contacts:
                plan.hidden[("contact", contacts.pop())] = company_id


def copy_plans(cursor, plans: list[AccountPlan], *, now: datetime, rng: random.Random) -> None:
    """Write the planned CRM rows, bin entries and hidden links by COPY, in one transaction
    (the rows and their entries name each other: deferred foreign keys), and move the id
    sequences past them."""
    from django.db import transaction

    from recyclebin.models import BinEntry, HiddenLink

    with transaction.atomic():
        for entity_type in TYPES:
            rows = record_rows(plans, entity_type, now=now, rng=rng)
            copy_rows(cursor, f"crm_{entity_type}", RECORD_COLUMNS[entity_type], rows)
        copy_rows(cursor, BinEntry._meta.db_table, ENTRY_COLUMNS, entry_rows(plans, now, rng))
        copy_rows(cursor, HiddenLink._meta.db_table, HIDDEN_LINK_COLUMNS, hidden_rows(plans))
        for table in [f"crm_{t}" for t in TYPES] + [BinEntry._meta.db_table]:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"  # noqa: S608
            )


def plan_entries(plans: list[AccountPlan], *, rng: random.Random) -> None:
    """Entry ids, newest deletions last, both accounts' deletions shuffled together."""
    targets = {}
    for plan in plans:
        own = [(entity_type, pk) for entity_type in TYPES for pk in plan.binned[entity_type]]
        rng.shuffle(own)
        targets[plan.account_id] = own
    ids = allocate_ids({account_id: len(own) for account_id, own in targets.items()}, rng)
    for plan in plans:
        for entry_id, (entity_type, pk) in zip(
            ids[plan.account_id], targets[plan.account_id], strict=True
        ):
            plan.entries.append((entry_id, entity_type, pk))
            plan.entry_of[(entity_type, pk)] = entry_id
            for activity_id in (
                plan.company_activities.get(pk, ()) if entity_type == "company" else ()
            ):
                plan.entry_of[("activity", activity_id)] = entry_id


def owners(plans: list[AccountPlan], entity_type: str) -> list[AccountPlan]:
    """The account plan of each id of the table, in id order."""
    owner: dict[int, AccountPlan] = {}
    for plan in plans:
        owner.update(dict.fromkeys(plan.ids[entity_type], plan))
    return [owner[pk] for pk in range(1, len(owner) + 1)]


# fmt: off
RECORD_COLUMNS = {
    "company": (
        "id", "account_id", "created_by_id", "created_at", "updated_at", "bin_entry_id",
        "title", "industry", "phone", "email", "website", "address", "comments",
    ),
    "contact": (
        "id", "account_id", "created_by_id", "created_at", "updated_at", "bin_entry_id",
        "first_name", "last_name", "email", "phone", "position", "company_id",
    ),
    "lead": (
        "id", "account_id", "created_by_id", "created_at", "updated_at", "bin_entry_id",
        "title", "status", "source", "first_name", "last_name", "email", "phone", "amount",
    ),
    "deal": (
        "id", "account_id", "created_by_id", "created_at", "updated_at", "bin_entry_id",
        "title", "stage", "amount", "currency", "company_id", "contact_id", "close_date",
    ),
    "activity": (
        "id", "account_id", "created_by_id", "created_at", "updated_at", "bin_entry_id",
        "subject", "type", "description", "due_at", "completed",
        "lead_id", "deal_id", "contact_id", "company_id",
    ),
}
ENTRY_COLUMNS = (
    "id", "account_id", "entity_type", "entity_id", "title", "deleted_by_id", "deleted_at",
    "purge_after", "item_count",
)
HIDDEN_LINK_COLUMNS = ("entry_id", "entity_type", "record_id", "field")
EVENT_COLUMNS = (
    "account_id", "occurred_at", "event_type", "entity_type", "entity_id", "entity_title",
    "actor_id", "actor_username", "changes", "details",
)
# fmt: on


def record_rows(
    plans: list[AccountPlan], entity_type: str, *, now: datetime, rng: random.Random
) -> Iterator[tuple]:
    """The table's rows in id order; each row's title is kept in its plan for the entries and
    the events. Created evenly over the three years before the first deletion."""
    make = {
        "company": company_row,
        "contact": contact_row,
        "lead": lead_row,
        "deal": deal_row,
        "activity": activity_row,
    }[entity_type]
    order = owners(plans, entity_type)
    end = now - timedelta(days=BIN_DAYS)
    start = end - timedelta(days=3 * 365)
    for pk, plan in enumerate(order, start=1):
        created_at = (start + (end - start) * pk / len(order)).isoformat()
        title, fields = make(plan, pk, rng)
        plan.titles[(entity_type, pk)] = title
        yield (
            pk,
            plan.account_id,
            rng.choice(plan.users),
            created_at,
            created_at,
            plan.entry_of.get((entity_type, pk)),
            *fields,
        )


def company_row(plan: AccountPlan, pk: int, rng: random.Random) -> tuple[str, tuple]:
    word = rng.choice(COMPANY_WORDS + LAST_NAMES[:60])
    industry = rng.choice(INDUSTRIES)
    domain = f"{ascii_slug(word)}-{ascii_slug(industry)}.{rng.choice(['com', 'de', 'eu'])}"
    title = f"{word} {industry} {rng.choice(LEGAL_FORMS)}"
    address = f"{rng.choice(LAST_NAMES)}straße {rng.randint(1, 200)}, {rng.randint(10000, 99999)}"
    return title, (
        title,
        industry,
        phone_number(rng),
        f"info@{domain}",
        f"https://www.{domain}",
        address,
        "",
    )


def _company_link(plan: AccountPlan, entity_type: str, pk: int, rng: random.Random, share: float):
    """A live company for ``share`` of the rows; now and then a binned one for a binned row
    (it was deleted after this one); none for a live row whose company is in the bin."""
    if (entity_type, pk) in plan.hidden:
        return None
    if rng.random() >= share:
        return None
    if (entity_type, pk) in plan.entry_of and rng.random() < 0.05:
        return rng.choice(plan.binned["company"])
    return rng.choice(plan.live["company"])


def contact_row(plan: AccountPlan, pk: int, rng: random.Random) -> tuple[str, tuple]:
    first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{ascii_slug(first_name)}.{ascii_slug(last_name)}@{rng.choice(MAIL_PROVIDERS)}"
    return f"{first_name} {last_name}", (
        first_name,
        last_name,
        email,
        phone_number(rng),
        rng.choice(POSITIONS) if rng.random() < 0.6 else "",
        _company_link(plan, "contact", pk, rng, 0.7),
    )


def lead_row(plan: AccountPlan, pk: int, rng: random.Random) -> tuple[str, tuple]:
    first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    title = f"{rng.choice(PRODUCTS)} for {rng.choice(COMPANY_WORDS)} {rng.choice(INDUSTRIES)}"
    amount = f"{rng.randint(5, 500) * 100}.00" if rng.random() < 0.6 else None
    return title, (
        title,
        rng.choice(LEAD_STATUSES),
        rng.choice(LEAD_SOURCES),
        first_name,
        last_name,
        f"{ascii_slug(first_name)}.{ascii_slug(last_name)}@{rng.choice(MAIL_PROVIDERS)}",
        phone_number(rng),
        amount,
    )


def deal_row(plan: AccountPlan, pk: int, rng: random.Random) -> tuple[str, tuple]:
    title = f"{rng.choice(COMPANY_WORDS)} {rng.choice(INDUSTRIES)}: {rng.choice(PRODUCTS)}"
    contact = rng.choice(plan.live["contact"]) if rng.random() < 0.4 else None
    close_date = (datetime(2026, 1, 1) + timedelta(days=rng.randint(0, 700))).date().isoformat()
    return title, (
        title,
        rng.choice(DEAL_STAGES),
        f"{rng.randint(10, 2000) * 50}.00",
        rng.choice(CURRENCIES),
        _company_link(plan, "deal", pk, rng, 0.6),
        contact,
        close_date if rng.random() < 0.7 else None,
    )


def activity_row(plan: AccountPlan, pk: int, rng: random.Random) -> tuple[str, tuple]:
    """On its binned company (deleted with it, same entry), or on a live lead, deal, contact or
    company."""
    parents: dict[str, int | None] = dict.fromkeys(("lead", "deal", "contact", "company"))
    if pk in plan.activity_company:
        parents["company"] = plan.activity_company[pk]
    else:
        parent = rng.choice(("lead", "deal", "deal", "contact", "contact", "company"))
        parents[parent] = rng.choice(plan.live[parent])
    activity_type = rng.choice(ACTIVITY_TYPES)
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    subject = rng.choice(SUBJECTS[activity_type]).format(name=name)
    due_at = datetime(2025, 1, 1, 9, tzinfo=UTC) + timedelta(hours=rng.randint(0, 24 * 700))
    return subject, (
        subject,
        activity_type,
        "Notes:\nAgreed to follow up next week." if rng.random() < 0.3 else "",
        due_at.isoformat() if rng.random() < 0.8 else None,
        "t" if rng.random() < 0.5 else "f",
        parents["lead"],
        parents["deal"],
        parents["contact"],
        parents["company"],
    )


def entry_rows(plans: list[AccountPlan], now: datetime, rng: random.Random) -> Iterator[tuple]:
    """Entries in id order, deleted evenly over the last BIN_DAYS days by any of the account's
    users; purge_after BIN_DAYS later."""
    rows = []
    for plan in plans:
        for entry_id, entity_type, pk in plan.entries:
            items = 1 + len(plan.company_activities.get(pk, ())) if entity_type == "company" else 1
            rows.append((entry_id, plan, entity_type, pk, items))
    rows.sort(key=lambda row: row[0])
    start = now - timedelta(days=BIN_DAYS)
    for entry_id, plan, entity_type, pk, items in rows:
        deleted_at = start + timedelta(days=BIN_DAYS) * (entry_id / (len(rows) + 1))
        yield (
            entry_id,
            plan.account_id,
            entity_type,
            pk,
            plan.titles[(entity_type, pk)][:255],
            plan.actor(rng),
            deleted_at.isoformat(),
            (deleted_at + timedelta(days=BIN_DAYS)).isoformat(),
            items,
        )


def hidden_rows(plans: list[AccountPlan]) -> Iterator[tuple]:
    for plan in plans:
        for (entity_type, pk), company_id in sorted(plan.hidden.items()):
            yield (plan.entry_of[("company", company_id)], entity_type, pk, "company")


LINK = object()  # in UPDATES: a company of the account, drawn for each event
UPDATES = {
    "company": [("phone", "+49 30 1234567", "+49 30 7654321"), ("industry", "Retail", "Foods")],
    "contact": [("position", "Buyer", "Head of Purchasing"), ("company", LINK, LINK)],
    "lead": [("status", "new", "in_progress"), ("status", "in_progress", "qualified")],
    "deal": [("stage", "proposal", "negotiation"), ("company", None, LINK)],
    "activity": [("completed", False, True), ("due_at", "2026-03-02T09:00:00+00:00", None)],
}


def event_rows(
    plans: list[AccountPlan],
    per_account: int,
    now: datetime,
    counted: dict[tuple[str, int], int],
    rng: random.Random,
) -> Iterator[tuple]:
    """Events of both accounts shuffled together, evenly over the last HISTORY_DAYS days (time
    grows with id), each about one of the account's records, by one of its users (purges half
    by the system). Counts in ``counted`` the events naming each of its records."""
    by_account = {plan.account_id: plan for plan in plans}
    pools = {plan.account_id: list(plan.titles.items()) for plan in plans}
    order = interleaved(list(by_account), per_account, rng)
    kinds = rng.choices(list(EVENT_MIX), weights=list(EVENT_MIX.values()), k=len(order))
    start = now - timedelta(days=HISTORY_DAYS)
    span = timedelta(days=HISTORY_DAYS)
    total = len(order)
    for number, (account_id, event_type) in enumerate(zip(order, kinds, strict=True)):
        plan = by_account[account_id]
        (entity_type, pk), title = rng.choice(pools[account_id])
        if (entity_type, pk) in counted:
            counted[(entity_type, pk)] += 1
        actor = plan.actor(rng)
        if event_type == "purge" and rng.random() < SYSTEM_PURGES:
            actor = None
        changes, details = "{}", "{}"
        if event_type == "update":
            name, *values = rng.choice(UPDATES[entity_type])
            values = [rng.choice(plan.live["company"]) if v is LINK else v for v in values]
            changes = json.dumps({name: values})
        elif event_type == "delete":
            details = json.dumps(
                {"bin_entry": rng.randint(1, 10**6), "item_count": 1, "unlinked": 0}
            )
        elif event_type in ("restore", "purge"):
            details = json.dumps({"bin_entries": [rng.randint(1, 10**6)]})
        yield (
            account_id,
            (start + span * (number / total)).isoformat(),
            event_type,
            entity_type,
            pk,
            title[:255],
            actor,
            plan.usernames[actor] if actor else "",
            changes,
            details,
        )


# --- Bulk restore and purge ----------------------------------------------------------------------


@dataclass
class Bulk:
    """One bulk operation, run BULK_RUNS times on other entries each time."""

    name: str
    seconds: list[float] = field(default_factory=list)
    items: list[int] = field(default_factory=list)  # rows the entries held
    queries: list[int] = field(default_factory=list)  # SQL statements sent (in process only)
    errors: int = 0


def bulk_batches(dataset: Dataset, rng: random.Random) -> list[list[int]]:
    """Disjoint sets of BULK_ENTRIES of the measured account's entries, of every type, drawn at
    random as a user ticking a thousand boxes over several pages might."""
    drawn = rng.sample(dataset.entry_ids, 4 * BULK_RUNS * BULK_ENTRIES)
    return [
        sorted(drawn[start : start + BULK_ENTRIES]) for start in range(0, len(drawn), BULK_ENTRIES)
    ]


def _items_held(entry_ids: list[int]) -> int:
    from django.db.models import Sum

    from recyclebin.models import BinEntry

    held = BinEntry.objects.filter(pk__in=entry_ids).aggregate(items=Sum("item_count"))["items"]
    return held or 0


def _entries_left(entry_ids: list[int]) -> int:
    from recyclebin.models import BinEntry

    return BinEntry.objects.filter(pk__in=entry_ids).count()


def service_bulk(
    name: str, dataset: Dataset, batches: Iterator[list[int]], *, restore: bool
) -> Bulk:
    """bin_restore or bin_purge called in this process as the account's admin, one call per run:
    the service's own time (its transaction included), without HTTP."""
    from django.db import connection

    from accounts.models import Account, User
    from recyclebin.services import bin_purge, bin_restore

    account = Account.objects.get(pk=dataset.account_id)
    admin = User.objects.get(username=dataset.admin_username)
    service = bin_restore if restore else bin_purge
    operation = Bulk(name)
    for _ in range(BULK_RUNS):
        entry_ids = next(batches)
        items = _items_held(entry_ids)
        queries = 0

        def count(execute, sql, params, many, context):
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            started = time.perf_counter()
            try:
                service(account=account, entry_ids=entry_ids, actor=admin)
            except Exception as error:  # reported, counted; the next run goes on
                operation.errors += 1
                print(f"   error: {name}: {error!r}", file=sys.stderr)
            seconds = time.perf_counter() - started
        if _entries_left(entry_ids):
            operation.errors += 1
            print(f"   error: {name}: entries left in the bin", file=sys.stderr)
        operation.seconds.append(seconds)
        operation.items.append(items)
        operation.queries.append(queries)
        step(f"   {name}: {seconds:.2f} s, {items:,} items, {queries} queries")
    return operation


def service_bulks(dataset: Dataset, batches: Iterator[list[int]]) -> list[Bulk]:
    step(f"services: bin_restore and bin_purge of {BULK_ENTRIES:,} entries, {BULK_RUNS} runs")
    return [
        service_bulk("bin_restore (service)", dataset, batches, restore=True),
        service_bulk("bin_purge (service)", dataset, batches, restore=False),
    ]


def api_bulk(name: str, client: ApiClient, url: str, batches: Iterator[list[int]]) -> Bulk:
    """POST {"ids": [...]} as the admin, timed from sending to the last byte of the answer."""
    operation = Bulk(name)
    for _ in range(BULK_RUNS):
        entry_ids = next(batches)
        items = _items_held(entry_ids)
        response = client.send("POST", url, {"ids": entry_ids})
        if not 200 <= response.status < 300 or _entries_left(entry_ids):
            operation.errors += 1
            print(
                f"   error: POST {url} -> {response.status} {response.body[:300]!r}",
                file=sys.stderr,
            )
        operation.seconds.append(response.elapsed_ms / 1000)
        operation.items.append(items)
        step(f"   {name}: {response.elapsed_ms / 1000:.2f} s, {items:,} items")
    return operation


# --- Reads ---------------------------------------------------------------------------------------


def read_calls(
    *,
    dataset: Dataset,
    deep_page: str,
    api: ApiClient,
    browser: BrowserClient,
    rng: random.Random,
) -> list[tuple[ApiClient, Call]]:
    records = list(dataset.records)
    employees = dataset.employee_ids

    def fixed(path: str):
        return lambda _: (path, None)

    def one_record(number: int) -> tuple[str, None]:
        entity_type, pk = rng.choice(records)
        return f"{HISTORY_URL}?{urlencode({'entity_type': entity_type, 'entity_id': pk})}", None

    def by_employee(number: int) -> tuple[str, None]:
        return f"{BIN_URL}?{urlencode({'deleted_by': employees[number % len(employees)]})}", None

    calls = [
        (api, Call("history, first page", "GET", 200, True, fixed(HISTORY_URL))),
        (
            api,
            Call(
                "history ?event_type=delete, first page",
                "GET",
                200,
                True,
                fixed(f"{HISTORY_URL}?event_type=delete"),
            ),
        ),
        (
            api,
            Call(
                f"history ?event_type=delete, page {DEEP_PAGES:,} (cursor)",
                "GET",
                200,
                True,
                fixed(deep_page),
            ),
        ),
        (api, Call("history of one record (entity_type, entity_id)", "GET", 200, True, one_record)),
        (api, Call("bin, first page", "GET", 200, True, fixed(BIN_URL))),
        (
            api,
            Call("bin ?entity_type=deal", "GET", 200, True, fixed(f"{BIN_URL}?entity_type=deal")),
        ),
        (
            api,
            Call(
                f"bin ?deleted_by=<employee> ({len(employees)} in turn)",
                "GET",
                200,
                True,
                by_employee,
            ),
        ),
        (
            browser,
            Call("bin page /recyclebin/ (HTML)", "GET", 200, True, fixed(BIN_PAGE), PAGE_GOAL_MS),
        ),
    ]

    def after_a_change(path: str):
        def request(number: int) -> tuple[str, None]:
            created = api.send("POST", COMPANIES_URL, {"title": f"Bench change {number}"})
            if created.status != 201:
                print(f"   error: POST {COMPANIES_URL} -> {created.status}", file=sys.stderr)
            return path, None

        return request

    def page_by_employee(number: int) -> tuple[str, None]:
        return f"{HISTORY_PAGE}?{urlencode({'actor': employees[number % len(employees)]})}", None

    if browser.send("GET", HISTORY_PAGE).status != 404:
        calls.append(
            (
                browser,
                Call(
                    "history page /history/ (HTML)",
                    "GET",
                    200,
                    True,
                    fixed(HISTORY_PAGE),
                    PAGE_GOAL_MS,
                ),
            )
        )
        # Filtered as an admin looks for one person's burst (with "Undo these N changes…").
        calls.append(
            (
                browser,
                Call(
                    f"history page ?actor=<employee> ({len(employees)} in turn)",
                    "GET",
                    200,
                    True,
                    page_by_employee,
                    PAGE_GOAL_MS,
                ),
            )
        )
        # The pages are kept whole while the account's history stays the same (core.page_cache):
        # the calls above read them kept but for the first. These change the account (a
        # company created through the API, not timed) before every request: the page is
        # worked out anew, as on a busy account's first view after a change.
        calls += [
            (
                browser,
                Call(
                    f"{name} right after a change (worked out anew)",
                    "GET",
                    200,
                    True,
                    after_a_change(path),
                    PAGE_GOAL_MS,
                ),
            )
            for name, path in (("history page", HISTORY_PAGE), ("bin page", BIN_PAGE))
        ]
    else:
        step(f"no {HISTORY_PAGE} page (404): not measured")
    return calls


def measure_calls(calls: list[tuple[ApiClient, Call]], requests: int) -> list[Result]:
    """Warm-up requests of every call, then the measured ones, call after call."""
    step(f"warm up: {WARMUP_REQUESTS} requests per call")
    warmups = [measure(client, call, WARMUP_REQUESTS) for client, call in calls]
    spread_noted()
    step(f"measure: {requests} requests per call, one at a time")
    results = [measure(client, call, requests) for client, call in calls]
    return [
        Result(result.call, result.timings_ms, result.errors + warmup.errors)
        for result, warmup in zip(results, warmups, strict=True)
    ]


# --- Report --------------------------------------------------------------------------------------


def bulk_table(operations: list[Bulk]) -> list[str]:
    runs = " | ".join(f"run {number} s" for number in range(1, BULK_RUNS + 1))
    lines = [
        f"| operation | entries | items | queries | {runs} | median s | goal | ok? |",
        "|---|---:|---:|---:|" + "---:|" * BULK_RUNS + "---:|---|---|",
    ]
    for operation in operations:
        median = statistics.median(operation.seconds)
        ok = "yes" if max(operation.seconds) < BULK_GOAL_S and not operation.errors else "**no**"
        queries = "/".join(str(count) for count in operation.queries) or "-"
        lines.append(
            f"| {operation.name} | {BULK_ENTRIES:,} | "
            + "/".join(f"{items:,}" for items in operation.items)
            + f" | {queries} | "
            + " | ".join(f"{seconds:.2f}" for seconds in operation.seconds)
            + f" | {median:.2f} | each < {BULK_GOAL_S:.0f} s | {ok} |"
        )
    return lines


def report(
    results: list[Result],
    bulk: list[Bulk],
    *,
    dataset: Dataset,
    errors: int,
    connections: int,
) -> str:
    lines = []
    if results:
        lines += results_table(results, goal_ms=LIST_GOAL_MS) + [""]
    lines += bulk_table(bulk)
    named = sorted(dataset.records.values())
    rows = ", ".join(f"{table} {count:,}" for table, count in dataset.table_rows.items())
    lines += [
        "",
        f"Data: 2 accounts x {dataset.events_per_account:,} history events and "
        f"{dataset.entries_per_account:,} recycle bin entries, rows of both interleaved; rows per "
        f"table: {rows}; seeded in {dataset.seconds:.0f} s. Page size {PAGE_SIZE}; the deep page "
        f"holds deletions {DEEP_PAGES * PAGE_SIZE:,}-{(DEEP_PAGES + 1) * PAGE_SIZE:,}; the "
        f"history of one record: drawn at random from {len(named)} of the account's, named by "
        f"{named[0]} to {named[-1]} events (median {statistics.median(named):.0f}). Bulk runs: "
        f"{BULK_ENTRIES:,} entries of all types drawn at random, other entries each run; "
        "items = rows they held; queries = SQL statements the service sent.",
        f"{machine_line(dataset.postgres_version)} "
        f"HTTP connections opened: {connections}. Errors: {errors}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # main's cleanup has stopped gunicorn and dropped the database
        sys.exit(130)
