"""What the restore-shaped benchmarks share (bench/backups.py, bench/changelog.py): two accounts
seeded in the same tables, their rows interleaved as in a live multi-tenant database, and the
psql baselines every ratio is taken against: a raw ``\\copy TO`` of one account's rows (a
snapshot's baseline) and a one-transaction DELETE + ``\\copy FROM`` reload of them (a
restore's baseline), with row checksums to prove what a restore put back."""

import argparse
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _common import step
from bin_history import AccountPlan, copy_plans, plan_entries, plan_rows_by_size

SHARES = {"company": 0.10, "contact": 0.30, "lead": 0.20, "deal": 0.10, "activity": 0.30}
BINNED = 0.01  # of each type's rows, in the recycle bin (one entry each; companies' activities)


@dataclass
class Account:
    id: int
    name: str
    rows: int  # CRM rows
    snapshot_rows: int = 0  # rows in the snapshot (bin entries and hidden links included)
    checksum: dict = field(default_factory=dict)
    raw_bytes: int = 0


@dataclass
class Run:
    args: argparse.Namespace
    work: Path = Path()
    env: dict = field(default_factory=dict)
    db: object = None
    big: Account | None = None
    small: Account | None = None
    figures: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)  # (what, ok)
    correctness_failures: int = 0
    postgres_version: str = ""
    table_rows: dict = field(default_factory=dict)

    def check(self, what: str, ok: bool) -> None:
        self.checks.append((what, ok))
        if not ok:
            self.correctness_failures += 1
            print(f"   CORRECTNESS FAILURE: {what}", file=sys.stderr, flush=True)


def seed(run: Run, rng: random.Random) -> None:
    """Two accounts made by the product's services, their rows by COPY (ids chosen here, both
    accounts' rows shuffled together in every table), then VACUUM (ANALYZE)."""
    from django.db import connection

    from accounts.models import User
    from accounts.services import account_create, user_create

    big_rows, small_rows = run.args.rows, run.args.rows // 10
    step(f"seed 2 accounts: {big_rows:,} and {small_rows:,} CRM rows, interleaved")
    started = time.perf_counter()
    plans, sizes = [], {}
    for letter, rows in (("A", big_rows), ("B", small_rows)):
        account = account_create(
            name=f"Bench {letter}",
            plan="professional",
            admin_username=f"bench-{letter.lower()}-admin",
            admin_password="bench-password",  # noqa: S106 - a throwaway database
            check_password=False,
        )
        users = [account.users.get()]
        users += [
            user_create(
                username=f"bench-{letter.lower()}-employee-{number}",
                password="bench-password",  # noqa: S106
                account=account,
                role=User.Role.EMPLOYEE,
                check_password=False,
            )
            for number in (1, 2)
        ]
        plans.append(
            AccountPlan(
                account_id=account.id,
                users=[u.id for u in users],
                usernames={u.id: u.username for u in users},
            )
        )
        sizes[account.id] = rows
        setattr(run, "big" if letter == "A" else "small", Account(account.id, account.name, rows))
    plan_rows_by_size(plans, sizes, rng, shares=SHARES, binned=BINNED)
    plan_entries(plans, rng=rng)
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        copy_plans(cursor, plans, now=now, rng=rng)
    del plans
    vacuum(run)
    with run.db.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (run.postgres_version,) = cursor.fetchone()
        for table in tables():
            cursor.execute(f"SELECT count(*) FROM {table.name}")  # noqa: S608 - model names
            (run.table_rows[table.name],) = cursor.fetchone()
    for account in (run.big, run.small):
        account.checksum = checksum(run, account)
        account.snapshot_rows = sum(rows for rows, _digest in account.checksum.values())
    step(f"seeded in {time.perf_counter() - started:.1f} s")


def tables():
    from backups.snapshot_format import TABLES

    return TABLES


def account_rows_sql(table, account_id: int, columns: str | None = None) -> str:
    """The account's rows of ``table`` by id, as the snapshot selects them."""
    columns = columns or ", ".join(f"t.{c}" for c in table.columns)
    if table.via_entry:
        return (
            f"SELECT {columns} FROM {table.name} t JOIN recyclebin_binentry e "  # noqa: S608
            f"ON e.id = t.entry_id WHERE e.account_id = {int(account_id)} ORDER BY t.id"
        )
    return (
        f"SELECT {columns} FROM {table.name} t "  # noqa: S608
        f"WHERE t.account_id = {int(account_id)} ORDER BY t.id"
    )


def checksum(run: Run, account: Account) -> dict[str, tuple[int, str]]:
    """Rows and the md5 of the rows' text, in id order, per table."""
    result = {}
    with run.db.cursor() as cursor:
        for table in tables():
            query = account_rows_sql(table, account.id, "t.id, md5(t::text) AS h")
            cursor.execute(
                f"SELECT count(*), md5(string_agg(h, '' ORDER BY id)) FROM ({query}) r"  # noqa: S608
            )
            rows, digest = cursor.fetchone()
            result[table.name] = (rows, digest or "")
    return result


def vacuum(run: Run) -> None:
    """VACUUM (ANALYZE) and a CHECKPOINT between steps (not timed), as autovacuum would in time:
    every measurement starts from the same kind of state. The history too: loaded by COPY and
    never analyzed, its statistics said an account held 838 of its 1,000,000 events, and the
    revert's reads walked all of them (a selection's 10,000 events by id: 0.3 s, 0.06 s with
    the statistics autovacuum keeps)."""
    with run.db.cursor() as cursor:
        for table in [*(table.name for table in tables()), "history_event"]:
            cursor.execute(f"VACUUM (ANALYZE) {table}")  # noqa: S608 - model names
        cursor.execute("CHECKPOINT")


def delete_statements(a: int) -> list[str]:
    statements = []
    for table in reversed(tables()):
        if table.via_entry:
            statements.append(
                f"DELETE FROM {table.name} t USING recyclebin_binentry e "  # noqa: S608
                f"WHERE e.id = t.entry_id AND e.account_id = {a}"
            )
        else:
            statements.append(f"DELETE FROM {table.name} WHERE account_id = {a}")  # noqa: S608
    return statements


def psql(run: Run, script: str) -> float:
    """Run ``script`` with the psql CLI; the wall time of the whole psql process."""
    path = run.work / "script.sql"
    path.write_text(script)
    started = time.perf_counter()
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", run.args.database_url, "-f", path],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def raw_files(run: Run, account: Account) -> dict[str, Path]:
    return {t.name: run.work / f"raw-{account.id}-{t.name}.copy" for t in tables()}


def raw_copy(run: Run, account: Account) -> float:
    """The baseline of a snapshot: psql \\copy of the account's rows of the seven tables, the
    same SELECT as the snapshot's, in one REPEATABLE READ transaction, to plain files."""
    files = raw_files(run, account)
    lines = ["BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;"]
    lines += [f"\\copy ({account_rows_sql(t, account.id)}) TO '{files[t.name]}'" for t in tables()]
    lines.append("COMMIT;")
    seconds = psql(run, "\n".join(lines) + "\n")
    account.raw_bytes = sum(path.stat().st_size for path in files.values())
    return seconds


def reload(run: Run, account: Account) -> float:
    """The baseline of a restore: one transaction, foreign keys deferred, DELETE the account's
    rows of every table (children first), then \\copy FROM the raw files (parents first)."""
    files = raw_files(run, account)
    lines = ["BEGIN;", "SET CONSTRAINTS ALL DEFERRED;"]
    lines += [f"{statement};" for statement in delete_statements(account.id)]
    lines += [f"\\copy {t.name} ({', '.join(t.columns)}) FROM '{files[t.name]}'" for t in tables()]
    lines.append("COMMIT;")
    return psql(run, "\n".join(lines) + "\n")


def environment(database_url: str, var_dir: Path) -> dict[str, str]:
    """The production settings, snapshots in a private folder of the run's temporary directory."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "CRM_VAR_DIR": str(var_dir),
        "SNAPSHOT_STORAGE": "local",
    }
