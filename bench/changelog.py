"""The change log on PostgreSQL (issue 16): undoing one user's burst of edits, against the psql
reload baseline of the same account, and what the history costs per change.

Two accounts in the same tables (bench/_baseline.py, as bench/backups.py): the measured one with
--rows CRM rows (1,000,000) and --events history events (1,000,000: field edits spread over the
last week), a second one with a tenth of the rows. In ONE run: the psql reload baseline of the
measured account; a burst in which one employee changes the amount of --burst deals (10,000),
written as the product writes it (the rows and their ``update`` events, set-based); then the
product's revert of exactly that burst (``changelog.revert``: the selection by the history's
filters, the preview, the apply with its ``revert`` events), timed in this process; then a
snapshot (the window), a moment, the same burst again (1% drift), and the restore of the whole
account to that moment with its preview (``backups.moment``). Each must put every amount back
and leave the second account untouched. How to run it: README.md beside this file.
"""

import argparse
import contextlib
import random
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from _baseline import Run, checksum, environment, raw_copy, reload, seed, vacuum
from _common import django_setup, fresh_database, migrate, step

# This file is named like the Django app it measures: imports of ``changelog`` must find the app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/crm_bench_changelog"
SEED = 1
BURST = 10_000
REVERT_GOAL = 0.05  # x the reload baseline (issue 16)


def main() -> int:
    args = parse_args()
    run = Run(args)
    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(fresh_database(args.database_url, keep=args.keep))
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="crm-bench-")))
        run.work = work
        (work / "var").mkdir()
        run.env = environment(args.database_url, work / "var")
        # The whole burst in this process, as a request under the threshold would run it.
        run.env["REVERT_JOB_THRESHOLD"] = str(10**9)
        migrate(run.env)
        django_setup(run.env)
        run.db = psycopg2.connect(args.database_url)
        run.db.autocommit = True
        cleanup.callback(run.db.close)
        seed(run, random.Random(SEED))
        history_seed(run)
        vacuum(run)
        measure(run)
    print()
    print(report(run))
    return 1 if run.correctness_failures else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="CRM rows (1,000,000)")
    parser.add_argument("--events", type=int, help="history events (default: --rows)")
    parser.add_argument("--burst", type=int, default=BURST, help=f"deals edited ({BURST:,})")
    parser.add_argument("--quick", action="store_true", help="100,000 rows and events")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"the database to DROP and create (default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--profile", action="store_true", help="print where the apply spends")
    args = parser.parse_args()
    if args.quick:
        args.rows = 100_000
    args.events = args.events or args.rows
    if args.burst > args.rows // 20:
        parser.error("--burst must be at most a twentieth of --rows (the deals are a tenth)")
    return args


def history_seed(run: Run) -> None:
    """--events field edits of the measured account's contacts over the last seven days, in
    time order (as the product appends them), by its users."""
    step(f"seed {run.args.events:,} history events")
    started = time.perf_counter()
    a = int(run.big.id)
    with run.db.cursor() as cursor:
        cursor.execute(
            "INSERT INTO history_event (account_id, occurred_at, event_type, entity_type, "  # noqa: S608 - ints
            "entity_id, entity_title, actor_id, actor_username, changes, details) "
            "SELECT %(a)s, now() - interval '7 days' + g * (interval '7 days' / %(n)s), 'update', "
            "'contact', c.id, c.last_name, u.id, u.username, "
            "jsonb_build_object('phone', jsonb_build_array('+49 30 ' || g, '+49 30 ' || g + 1)), "
            "'{}'::jsonb FROM generate_series(1, %(n)s) g "
            "JOIN (SELECT id, last_name, row_number() OVER (ORDER BY id) AS rn "
            "      FROM crm_contact WHERE account_id = %(a)s) c "
            "  ON c.rn = 1 + g %% (SELECT count(*) FROM crm_contact WHERE account_id = %(a)s) "
            "JOIN (SELECT id, username, row_number() OVER (ORDER BY id) - 1 AS rn "
            "      FROM accounts_user WHERE account_id = %(a)s) u "
            "  ON u.rn = g %% (SELECT count(*) FROM accounts_user WHERE account_id = %(a)s)",
            {"a": a, "n": run.args.events},
        )
    step(f"history seeded in {time.perf_counter() - started:.1f} s")


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def amounts(run: Run) -> str:
    """md5 of the measured account's deals' (id, amount), in id order."""
    with run.db.cursor() as cursor:
        cursor.execute(
            "SELECT md5(string_agg(id || ':' || coalesce(amount::text, ''), ',' ORDER BY id)) "
            "FROM crm_deal WHERE account_id = %s",
            [run.big.id],
        )
        return cursor.fetchone()[0]


def burst(run: Run, employee_id: int, username: str) -> float:
    """One employee sets the amount of --burst live deals to 1.00: the rows and their
    ``update`` events (the old value and the new, as crm.services writes them), in one
    transaction, set-based."""
    started = time.perf_counter()
    with run.db, run.db.cursor() as cursor:
        cursor.execute(
            "WITH chosen AS (SELECT id, title, amount FROM crm_deal "  # noqa: S608 - ints
            "  WHERE account_id = %(a)s AND bin_entry_id IS NULL "
            "  ORDER BY md5(id::text) LIMIT %(n)s), "
            "changed AS (UPDATE crm_deal d SET amount = 1.00, updated_at = now() FROM chosen "
            "  WHERE d.id = chosen.id RETURNING d.id) "
            "INSERT INTO history_event (account_id, occurred_at, event_type, entity_type, "
            "entity_id, entity_title, actor_id, actor_username, changes, details) "
            "SELECT %(a)s, now(), 'update', 'deal', c.id, c.title, %(u)s, %(name)s, "
            "jsonb_build_object('amount', jsonb_build_array(c.amount::text, '1.00')), '{}' "
            "FROM chosen c JOIN changed USING (id) ORDER BY c.id",
            {"a": run.big.id, "n": run.args.burst, "u": employee_id, "name": username},
        )
    return time.perf_counter() - started


def history_bytes(run: Run) -> dict[str, float]:
    with run.db.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('history_event'), pg_relation_size('history_event'), "
            "count(*) FROM history_event"
        )
        total, heap, count = cursor.fetchone()
        cursor.execute(
            "SELECT event_type, avg(pg_column_size(e.*)) FROM history_event e "
            "WHERE event_type IN ('update', 'revert') AND entity_type = 'deal' GROUP BY 1"
        )
        rows = dict(cursor.fetchall())
    return {
        "events": count,
        "total_per_event": total / count,
        "heap_per_event": heap / count,
        "update_row": float(rows.get("update", 0)),
        "revert_row": float(rows.get("revert", 0)),
    }


def measure(run: Run) -> None:
    from accounts.models import Account, User
    from changelog import revert
    from history.models import Event

    fig = run.figures
    big = run.big
    step(f"{big.name}: raw COPY and the reload baseline")
    raw_copy(run, big)
    fig["reload"] = reload(run, big)
    vacuum(run)
    small_before = checksum(run, run.small)

    account = Account.objects.get(pk=big.id)
    employee = User.objects.filter(account=account, role=User.Role.EMPLOYEE).order_by("pk")[0]
    admin = User.objects.filter(account=account, role=User.Role.ADMIN).get()
    before = amounts(run)
    first = (Event.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    step(f"{big.name}: {employee.username} changes {run.args.burst:,} deals' amounts")
    fig["burst"] = burst(run, employee.pk, employee.username)
    vacuum(run)

    step("revert: select, preview, apply")
    started = time.perf_counter()
    selection = revert.revert_selection(
        account=account,
        actor=admin,
        filters={"actor": employee.pk, "event_type": "update", "entity_type": "deal"},
    )
    selection = [pk for pk in selection if pk >= first]
    fig["select"] = time.perf_counter() - started
    started = time.perf_counter()
    preview = revert.revert_preview(account=account, actor=admin, event_ids=selection).summary()
    fig["preview"] = time.perf_counter() - started
    started = time.perf_counter()
    if run.args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
    applied = revert.revert_apply(account=account, actor=admin, event_ids=selection).summary()
    fig["apply"] = time.perf_counter() - started
    if run.args.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    fig["records"] = applied["records"]
    run.check("the preview counts every record of the burst", preview["records"] == run.args.burst)
    run.check("every amount is back", amounts(run) == before)
    run.check("the other account is untouched", checksum(run, run.small) == small_before)
    fig["bytes"] = history_bytes(run)

    step("point in time: a snapshot (the window), the moment, 1% drift, preview, restore")
    from backups import moment
    from backups.services import snapshot_take

    started = time.perf_counter()
    snapshot_take(account=account, kind="manual")
    fig["snapshot"] = time.perf_counter() - started
    vacuum(run)
    at = timezone_now()
    at_amounts = amounts(run)
    burst(run, employee.pk, employee.username)  # 1% of the rows, with their events
    vacuum(run)
    started = time.perf_counter()
    preview = moment.moment_preview(account=account, at=at, kind="full", entity_types=None)
    fig["pit_preview"] = time.perf_counter() - started
    started = time.perf_counter()
    outcome = moment.moment_restore(account=account, at=at, kind="full", actor=admin)
    fig["pit_restore"] = time.perf_counter() - started
    run.check("the restore to the moment puts every amount back", amounts(run) == at_amounts)
    run.check("its preview counts what it did", preview["changes"] == outcome.counts)
    run.check(
        "the other account is untouched (point in time)", checksum(run, run.small) == small_before
    )


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def report(run: Run) -> str:
    fig = run.figures
    reload_s = fig["reload"]
    revert_s = fig["select"] + fig["apply"]
    ratio = revert_s / reload_s
    bytes_ = fig["bytes"]
    lines = [
        f"PostgreSQL {run.postgres_version}; measured account: {run.big.rows:,} CRM rows, "
        f"{run.args.events:,} history events; second account {run.small.rows:,} rows.",
        "",
        "| what | time | baseline | ratio | goal |",
        "|---|---|---|---|---|",
        f"| reload of the account (psql DELETE + \\copy FROM) | {seconds(reload_s)} | | 1.00x | |",
        f"| the burst: {run.args.burst:,} deals changed, with their events (SQL) | "
        f"{seconds(fig['burst'])} | | | |",
        f"| revert of the burst: selection {seconds(fig['select'])} + apply "
        f"{seconds(fig['apply'])} ({fig['records']:,} records, as many revert events) | "
        f"{seconds(revert_s)} | reload {seconds(reload_s)} | {ratio:.3f}x | <= {REVERT_GOAL}x "
        f"{'met' if ratio <= REVERT_GOAL else 'MISSED'} |",
        f"| its preview (every record planned) | {seconds(fig['preview'])} | reload "
        f"{seconds(reload_s)} | {fig['preview'] / reload_s:.3f}x | |",
        f"| point-in-time full restore after 1% drift ({run.args.burst:,} deals changed after "
        f"the moment), safety snapshot included | {seconds(fig['pit_restore'])} | reload "
        f"{seconds(reload_s)} | {fig['pit_restore'] / reload_s:.3f}x | <= 0.10x "
        f"{'met' if fig['pit_restore'] / reload_s <= 0.10 else 'MISSED'} |",
        f"| its preview | {seconds(fig['pit_preview'])} | reload {seconds(reload_s)} | "
        f"{fig['pit_preview'] / reload_s:.3f}x | <= 0.10x "
        f"{'met' if fig['pit_preview'] / reload_s <= 0.10 else 'MISSED'} |",
        f"| (the account's snapshot, for scale) | {seconds(fig['snapshot'])} | reload "
        f"{seconds(reload_s)} | {fig['snapshot'] / reload_s:.3f}x | |",
        "",
        f"History: {bytes_['events']:,} events, {bytes_['total_per_event']:.0f} bytes each on "
        f"disk with the indexes ({bytes_['heap_per_event']:.0f} in the table); an `update` of "
        f"one amount is a {bytes_['update_row']:.0f}-byte row, its `revert` "
        f"{bytes_['revert_row']:.0f}.",
        "Create and update API p95: bench/crm_api.py (docs/benchmarks.md).",
        "",
        "Checks: " + "; ".join(f"{what}: {'ok' if ok else 'FAILED'}" for what, ok in run.checks),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
