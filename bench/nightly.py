"""The nightly snapshots at scale: the real fan-out over Redis to real Celery workers.

10,000 small accounts of 200 CRM rows each and 10 large ones of 100,000 (--small, --large,
--large-rows scale it down), all accounts' rows shuffled together in the same tables as in a
live multi-tenant database, loaded with COPY into a throwaway PostgreSQL database. Then four
nights, each started by the beat task itself (``nightly_snapshots``), run by a worker with
``--concurrency`` 1, then 2:

1. night 1, one worker process: every account's first snapshot;
2. night 1 again (snapshots deleted), two worker processes: the speed-up;
3. night 2, nothing changed, the fan-out sent twice (two beats): no account gets a second
   snapshot that day, and the unchanged accounts store no new file (content-addressed);
4. night 3, 10% of the accounts changed: only they store a new file.

"Next night" is made by moving every snapshot one day back (day, taken_at, expires_at), as the
clock would. Every night is checked: one nightly snapshot per account, none failed. The small
accounts come first in the queue (lower ids), so "small accounts per second" is measured up to
the moment the last of them is done. How to run it and the latest results: docs/benchmarks.md.
"""

import argparse
import contextlib
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from _common import REPO, django_setup, fresh_database, migrate, step
from bin_history import (
    TYPES,
    AccountPlan,
    copy_plans,
    plan_entries,
    plan_rows_by_size,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/crm_bench_nightly"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
SEED = 1
SHARES = {"company": 0.10, "contact": 0.30, "lead": 0.20, "deal": 0.10, "activity": 0.30}
BINNED = 0.02  # of each type's rows, in the recycle bin (one entry each; companies' activities)
CHANGED_ACCOUNTS = 0.10
GOAL_PER_WORKER = 50  # small accounts per second per worker process
NIGHT_TIMEOUT = 3 * 3600


def main() -> int:
    args = parse_args()
    rng = random.Random(SEED)
    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(fresh_database(args.database_url, keep=args.keep))
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="crm-nightly-")))
        env = environment(args, work / "var")
        migrate(env)
        django_setup(env)
        db = psycopg2.connect(args.database_url)
        db.autocommit = True
        cleanup.callback(db.close)
        run = Run(args=args, env=env, db=db, snapshots=work / "var" / "snapshots")
        seed(run, rng)
        if args.profile:
            profile(run, args.profile)
            return 0
        nights(run, rng)
        drills(run)
    print()
    print(report(run))
    return 1 if run.failures else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="small accounts (10,000)")
    parser.add_argument("--small-rows", type=int, default=200, help="CRM rows of each (200)")
    parser.add_argument("--large", type=int, default=10, help="large accounts (10)")
    parser.add_argument("--large-rows", type=int, default=100_000, help="rows of each (100,000)")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"the database to DROP and create (default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help=f"the broker (default {DEFAULT_REDIS_URL})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="instead of the nights: N small accounts' nightly snapshots in this process, "
        "under cProfile (where a small snapshot's time goes)",
    )
    args = parser.parse_args()
    if args.small < 10 or args.small_rows < 20:
        parser.error("--small must be at least 10 and --small-rows at least 20")
    return args


def environment(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    """The production settings, snapshots in a private folder of the run's temporary directory,
    Redis as the broker."""
    var_dir.mkdir(parents=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CRM_VAR_DIR": str(var_dir),
        "SNAPSHOT_STORAGE": "local",
    }


@dataclass
class Night:
    name: str
    workers: int
    accounts: int
    fanout_s: float = 0.0
    wall_s: float = 0.0
    small_s: float = 0.0
    new_files: int = 0
    stored_bytes: int = 0  # bytes of the files this night added
    row_bytes: int = 0  # what the night's rows say (each its file's size): without sharing
    shared: int = 0
    worker_cpu_s: float = 0.0  # user + system of the worker and its pool processes
    load: float = 0.0  # the machine's 1-minute load average at the end (shared machine)

    @property
    def per_second(self) -> float:
        return self.accounts / self.wall_s

    def small_per_worker(self, small: int) -> float:
        return small / self.small_s / self.workers


@dataclass
class Run:
    args: argparse.Namespace
    env: dict
    db: object
    snapshots: Path
    small_ids: list[int] = field(default_factory=list)
    large_ids: list[int] = field(default_factory=list)
    nights: list[Night] = field(default_factory=list)
    drills: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seed_s: float = 0.0
    postgres_version: str = ""

    def check(self, what: str, ok: bool) -> None:
        if not ok:
            self.failures.append(what)
            print(f"   FAILURE: {what}", file=sys.stderr, flush=True)


# --- Data ----------------------------------------------------------------------------------------


class _BinnedTitles(dict):
    """plan.titles keeping only what the bin entries need (not 3 million titles in memory)."""

    def __init__(self, plan: AccountPlan) -> None:
        super().__init__()
        self.plan = plan

    def __setitem__(self, key, value) -> None:
        if key in self.plan.entry_of:
            super().__setitem__(key, value)


def seed(run: Run, rng: random.Random) -> None:
    """Accounts and one admin each by bulk_create (small first: lower ids, first in the
    queue), their CRM rows, bin entries and hidden links by COPY, then VACUUM (ANALYZE)."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from accounts.models import Account, User

    args = run.args
    total = args.small * args.small_rows + args.large * args.large_rows
    step(
        f"seed {args.small:,} accounts of {args.small_rows} rows and {args.large} of "
        f"{args.large_rows:,} ({total:,} CRM rows), interleaved"
    )
    started = time.perf_counter()
    password = make_password(None)
    sizes: dict[int, int] = {}
    accounts = Account.objects.bulk_create(
        [Account(name=f"Small {n:05d}", plan="professional") for n in range(args.small)]
        + [Account(name=f"Large {n:02d}", plan="professional") for n in range(args.large)],
        batch_size=2000,
    )
    users = User.objects.bulk_create(
        [
            User(username=f"admin-{a.pk}", password=password, account=a, role=User.Role.ADMIN)
            for a in accounts
        ],
        batch_size=2000,
    )
    plans = []
    for number, (account, user) in enumerate(zip(accounts, users, strict=True)):
        plan = AccountPlan(account_id=account.pk, users=[user.pk, user.pk], usernames={})
        plan.titles = _BinnedTitles(plan)
        plans.append(plan)
        sizes[account.pk] = args.small_rows if number < args.small else args.large_rows
        (run.small_ids if number < args.small else run.large_ids).append(account.pk)
    plan_rows_by_size(plans, sizes, rng, shares=SHARES, binned=BINNED)
    plan_entries(plans, rng=rng)
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        copy_plans(cursor, plans, now=now, rng=rng)
    del plans
    with run.db.cursor() as cursor:
        for table in [f"crm_{t}" for t in TYPES] + ["recyclebin_binentry", "recyclebin_hiddenlink"]:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("SHOW server_version")
        (run.postgres_version,) = cursor.fetchone()
    run.seed_s = time.perf_counter() - started
    step(f"seeded in {run.seed_s:.1f} s")


def profile(run: Run, count: int) -> None:
    import cProfile
    import pstats

    from accounts.models import Account
    from backups import services

    accounts = list(Account.objects.filter(pk__in=run.small_ids[: count * 2]).order_by("pk"))
    for account in accounts[:count]:  # warm up: connections, caches, imports
        services.snapshot_take(account=account, kind="nightly")
    measured = accounts[count:]
    started, cpu = time.perf_counter(), time.process_time()
    profiler = cProfile.Profile()
    profiler.enable()
    for account in measured:
        services.snapshot_take(account=account, kind="nightly")
    profiler.disable()
    wall = (time.perf_counter() - started) / len(measured) * 1000
    cpu = (time.process_time() - cpu) / len(measured) * 1000
    step(f"{len(measured)} snapshots (profiled): {wall:.1f} ms wall, {cpu:.1f} ms CPU each")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


# --- Nights --------------------------------------------------------------------------------------


def nights(run: Run, rng: random.Random) -> None:
    accounts = len(run.small_ids) + len(run.large_ids)
    night(run, Night("night 1: every account's first snapshot", 1, accounts))
    forget_snapshots(run)
    night(run, Night("night 1 again (snapshots deleted)", 2, accounts))
    next_day(run)
    night(run, Night("night 2: nothing changed, fan-out sent twice", 2, accounts), beats=2)
    next_day(run)
    changed = change_accounts(run, rng)
    night(run, Night(f"night 3: {changed:,} accounts changed (10%)", 2, accounts))
    expected_new = changed
    run.check(
        f"night 3 stores a file for each changed account ({expected_new}), "
        f"not {run.nights[-1].new_files}",
        run.nights[-1].new_files == expected_new,
    )


def night(run: Run, result: Night, *, beats: int = 1) -> None:
    """Start the worker(s), send the fan-out, wait until every account has tonight's snapshot."""
    from backups.tasks import nightly_snapshots
    from config.celery import app

    step(f"{result.name}: {result.workers} worker process(es)")
    app.control.purge()
    files_before = stored_files(run)
    cpu_before = children_cpu()
    with worker(run, result.workers):
        started = time.perf_counter()
        for _ in range(beats):
            nightly_snapshots()
        result.fanout_s = (time.perf_counter() - started) / beats
        small_done = None
        deadline = time.monotonic() + NIGHT_TIMEOUT
        while time.monotonic() < deadline:
            small, done, failed = progress(run)
            now = time.perf_counter()
            if small_done is None and small >= len(run.small_ids):
                small_done = now
            if done + failed >= result.accounts:
                break
            time.sleep(0.1)
        result.wall_s = time.perf_counter() - started
        result.small_s = (small_done or time.perf_counter()) - started
        if beats > 1:
            time.sleep(3)  # let the second beat's duplicates reach the workers and do nothing
        result.load = os.getloadavg()[0]
    result.worker_cpu_s = children_cpu() - cpu_before
    _small, done, failed = progress(run)
    run.check(f"{result.name}: {done} of {result.accounts} accounts done", done == result.accounts)
    run.check(f"{result.name}: {failed} failed snapshots", failed == 0)
    with run.db.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT account_id), count(*) FILTER (WHERE file_shared), "
            "coalesce(sum(size_bytes), 0)::bigint FROM backups_snapshot "
            "WHERE kind = 'nightly' AND day = current_date AND status = 'succeeded'"
        )
        rows, distinct, result.shared, result.row_bytes = cursor.fetchone()
    run.check(f"{result.name}: one snapshot per account ({rows} for {distinct})", rows == distinct)
    files_after = stored_files(run)
    added = set(files_after) - set(files_before)
    result.new_files = len(added)
    result.stored_bytes = sum(files_after[name] for name in added)
    run.nights.append(result)
    step(
        f"{result.wall_s:.1f} s, {result.per_second:.1f} snapshots/s, small accounts "
        f"{result.small_per_worker(len(run.small_ids)):.1f}/s per worker; fan-out "
        f"{result.fanout_s:.2f} s; {result.new_files:,} new files, {result.shared:,} shared"
    )


def drills(run: Run) -> None:
    """After the last night: the drills of every snapshot kept (the nights' snapshots, shared
    files included), sent by the beat task itself (``drills_sweep``, again whenever the queue
    are still due after a while), run by two worker processes; timed until none is due."""
    from backups.tasks import drills_sweep
    from config.celery import app

    step("drills of every kept snapshot: 2 worker processes")
    app.control.purge()
    with run.db.cursor() as cursor:
        cursor.execute("UPDATE backups_snapshot SET drill_started_at = NULL")
    cpu_before = children_cpu()
    with worker(run, 2):
        started = time.perf_counter()
        sent = drills_sweep()
        deadline = time.monotonic() + NIGHT_TIMEOUT
        swept = time.monotonic()
        while time.monotonic() < deadline:
            counts = drill_counts(run)
            if not counts.get("pending"):
                break
            if time.monotonic() - swept > 20:
                # What beat does every few minutes (each drill is claimed: a queued one sent
                # again is skipped by whichever runs second).
                drills_sweep()
                swept = time.monotonic()
            time.sleep(0.5)
        wall = time.perf_counter() - started
    counts = drill_counts(run)
    with run.db.cursor() as cursor:
        cursor.execute(
            "SELECT drill_level, count(*) FROM backups_snapshot WHERE drill_status = 'passed' "
            "GROUP BY drill_level"
        )
        levels = dict(cursor.fetchall())
    run.drills = {
        "sent": sent,
        "wall_s": wall,
        "counts": counts,
        "levels": levels,
        "cpu_s": children_cpu() - cpu_before,
    }
    done = counts.get("passed", 0)
    run.check(f"drills: {counts.get('failed', 0)} failed", not counts.get("failed"))
    run.check(f"drills: {counts.get('pending', 0)} still pending", not counts.get("pending"))
    run.check(f"drills within the hour ({wall:.0f} s)", wall < 3600)
    step(f"{done:,} drills in {wall:.1f} s ({done / wall:.1f}/s); levels {levels}")


def drill_counts(run: Run) -> dict[str, int]:
    with run.db.cursor() as cursor:
        cursor.execute(
            "SELECT drill_status, count(*) FROM backups_snapshot WHERE status = 'succeeded' "
            "GROUP BY drill_status"
        )
        return dict(cursor.fetchall())


def progress(run: Run) -> tuple[int, int, int]:
    """Tonight: small accounts done, accounts done, failed snapshots (no later success)."""
    with run.db.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE account_id <= %s AND status = 'succeeded'), "
            "count(*) FILTER (WHERE status = 'succeeded'), "
            "count(*) FILTER (WHERE status = 'failed') "
            "FROM backups_snapshot WHERE kind = 'nightly' AND day = current_date",
            [max(run.small_ids)],
        )
        return cursor.fetchone()


@contextlib.contextmanager
def worker(run: Run, processes: int):
    """A Celery worker with ``processes`` pool processes (prefork), stopped on the way out;
    its output goes to worker.log in the run's folder."""
    log = (run.snapshots.parent / "worker.log").open("a")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--concurrency={processes}",
            "--pool=prefork",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench-nightly-{os.getpid()}@%h",
        ],
        cwd=REPO,
        env=run.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    time.sleep(3)  # ready before the clock starts: a night is measured, not a worker start
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def children_cpu() -> float:
    """CPU seconds of the finished child processes (a stopped worker counts its pool's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stored_files(run: Run) -> dict[str, int]:
    if not run.snapshots.exists():
        return {}
    return {
        str(path.relative_to(run.snapshots)): path.stat().st_size
        for path in run.snapshots.rglob("*")
        if path.is_file()
    }


def forget_snapshots(run: Run) -> None:
    """Back to no snapshots at all (rows and files), for the same night with two workers."""
    import shutil

    with run.db.cursor() as cursor:
        cursor.execute("DELETE FROM backups_snapshot")
    shutil.rmtree(run.snapshots, ignore_errors=True)


def next_day(run: Run) -> None:
    """The clock moves on a day: every snapshot so far was taken a day earlier."""
    with run.db.cursor() as cursor:
        cursor.execute("SELECT DISTINCT day FROM backups_snapshot ORDER BY day")
        for (day,) in cursor.fetchall():  # oldest first: one nightly per account and day
            cursor.execute(
                "UPDATE backups_snapshot SET day = day - 1, "
                "taken_at = taken_at - interval '1 day', "
                "expires_at = expires_at - interval '1 day' WHERE day = %s",
                [day],
            )


def change_accounts(run: Run, rng: random.Random) -> int:
    """CHANGED_ACCOUNTS of the accounts (small and large alike) get one contact's phone
    changed."""
    everyone = run.small_ids + run.large_ids
    chosen = sorted(rng.sample(everyone, round(len(everyone) * CHANGED_ACCOUNTS)))
    with run.db.cursor() as cursor:
        cursor.execute(
            "UPDATE crm_contact c SET phone = c.phone || '0', updated_at = now() "
            "FROM (SELECT min(id) AS id FROM crm_contact WHERE account_id = ANY(%s) "
            "GROUP BY account_id) first WHERE c.id = first.id",
            [chosen],
        )
        run.check(
            f"{cursor.rowcount} of {len(chosen)} accounts changed", cursor.rowcount == len(chosen)
        )
    return len(chosen)


# --- Report --------------------------------------------------------------------------------------


def megabytes(value: int) -> str:
    return f"{value / 1e6:,.1f} MB"


def report(run: Run) -> str:
    args = run.args
    small = len(run.small_ids)
    lines = [
        f"## Nightly snapshots: {small:,} accounts x {args.small_rows} rows + "
        f"{args.large} x {args.large_rows:,} rows",
        "",
        f"Machine: {len(os.sched_getaffinity(0))} CPUs (nproc), PostgreSQL "
        f"{run.postgres_version}, Python {sys.version.split()[0]}; Redis broker; seeded in "
        f"{run.seed_s:.0f} s.",
        "",
        "| night | worker processes | accounts | fan-out | wall time | snapshots/s "
        "| small accounts/s per worker | worker CPU ms per snapshot | load | new files "
        "| storage added | without sharing |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in run.nights:
        lines.append(
            f"| {result.name} | {result.workers} | {result.accounts:,} | {result.fanout_s:.1f} s "
            f"| {result.wall_s:.1f} s | {result.per_second:.1f} "
            f"| {result.small_per_worker(small):.1f} "
            f"| {result.worker_cpu_s / result.accounts * 1000:.1f} | {result.load:.1f} "
            f"| {result.new_files:,} "
            f"| {megabytes(result.stored_bytes)} | {megabytes(result.row_bytes)} |"
        )
    one, two = run.nights[0], run.nights[1]
    lines += [
        "",
        f"Speed-up with the second worker process: {one.wall_s / two.wall_s:.2f}x on the whole "
        f"night, {one.small_s / two.small_s:.2f}x on the small accounts. Goal: at least "
        f"{GOAL_PER_WORKER} small accounts per second per worker: "
        + ", ".join(f"{r.small_per_worker(small):.1f} with {r.workers}" for r in run.nights[:2])
        + ".",
        "",
    ]
    if run.drills:
        d = run.drills
        done = d["counts"].get("passed", 0)
        lines += [
            "",
            f"Drills of every kept snapshot ({done:,}, {d['levels'].get('full', 0):,} of them "
            f"full: the pre_restore ones and each account's nightly one day a week), 2 worker "
            f"processes, sent by the beat task: {d['wall_s']:.1f} s ({done / d['wall_s']:.1f} "
            f"drills/s, {d['cpu_s'] / max(done, 1) * 1000:.1f} ms worker CPU each); failed "
            f"{d['counts'].get('failed', 0)}, still pending {d['counts'].get('pending', 0)}. "
            "Goal: every snapshot drilled within the hour after the nightly finishes.",
        ]
    lines += [
        "",
        "Checks: " + ("all passed" if not run.failures else "; ".join(run.failures)),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
