"""Load: 50 users for 2 minutes against the production stack on this machine, while one account
takes a snapshot and another is rolled back. ``make load`` runs it.

The stack: gunicorn (production settings, plain HTTP on loopback), PostgreSQL, Redis and a real
Celery worker. Several accounts of realistic size; every account has an admin and employees,
each with an API token; admins also browse the pages with a session. Locust (headless) runs
bench/locustfile.py: CRUD on contacts, deletes, restores from the bin, the history filtered to
deletions and bin browsing. During the run the worker takes a snapshot of one account, and a
rollback of another account to its snapshot runs through the restore engine.

Goal: zero errors outside the account under rollback (its writes get 503 with Retry-After, and
records the rollback took away answer 404; nothing else fails). Prints p50/p95/p99 per
endpoint; exits 1 on any unexpected error.
"""

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import (
    PASSWORD,
    REPO,
    collectstatic,
    django_setup,
    fresh_database,
    gunicorn_server,
    migrate,
    production_environment,
    step,
)
from _words import FIRST_NAMES, LAST_NAMES

ACCOUNTS = 6  # account 1 is rolled back, account 2 takes a snapshot
EMPLOYEES = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--run-time", type=int, default=120, help="seconds")
    parser.add_argument("--contacts", type=int, default=5000, help="per account")
    parser.add_argument("--database-url", default="postgres://root@127.0.0.1:5432/crm_bench_load")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="crm-load-") as var_dir:
        env = production_environment(database_url=args.database_url, var_dir=var_dir)
        env["REDIS_URL"] = args.redis_url
        with fresh_database(args.database_url, keep=args.keep):
            migrate(env)
            collectstatic(env)
            django_setup(env)
            config = _load_accounts(args.contacts, Path(var_dir))
            snapshot_id = _snapshot_before(config["rollback_account"])
            with _celery_worker(env, Path(var_dir)), gunicorn_server(env) as port:
                return _run(args, env, port, config, snapshot_id, Path(var_dir))


def _load_accounts(contacts: int, var_dir: Path) -> dict:
    from rest_framework.authtoken.models import Token

    from accounts.models import Account, User
    from accounts.services import account_create, user_create
    from crm.models import Company, Contact

    step(f"create {ACCOUNTS} accounts with {contacts:,} contacts each")
    rng = random.Random(7)  # noqa: S311 - data, not security
    members, samples = [], {}
    for number in range(1, ACCOUNTS + 1):
        account = account_create(
            name=f"Load {number}",
            plan="professional",
            admin_username=f"load{number}-admin",
            admin_password=PASSWORD,
            check_password=False,
        )
        users = [account.users.get(role=User.Role.ADMIN)]
        for employee in range(EMPLOYEES):
            users.append(
                user_create(
                    username=f"load{number}-employee{employee}",
                    password=PASSWORD,
                    account=account,
                    role=User.Role.EMPLOYEE,
                    check_password=False,
                )
            )
        companies = Company.objects.bulk_create(
            Company(account=account, title=f"{rng.choice(LAST_NAMES)} {suffix} GmbH")
            for suffix in range(contacts // 10)
        )
        made = Contact.objects.bulk_create(
            (
                Contact(
                    account=account,
                    first_name=rng.choice(FIRST_NAMES),
                    last_name=rng.choice(LAST_NAMES),
                    company=rng.choice(companies) if rng.random() < 0.7 else None,
                )
                for _ in range(contacts)
            ),
            batch_size=2000,
        )
        samples[str(account.pk)] = [c.pk for c in rng.sample(made, 200)]
        for user in users:
            members.append(
                {
                    "account": account.pk,
                    "role": user.role,
                    "username": user.username,
                    "token": Token.objects.create(user=user).key,
                }
            )
    accounts = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    return {
        "members": members,
        "contacts": samples,
        "password": PASSWORD,
        "rollback_account": accounts[0],
        "snapshot_account": accounts[1],
        "can_restore": True,
        "rollback_flag": str(var_dir / "rollback-started"),
    }


def _snapshot_before(account_id: int) -> int:
    from accounts.models import Account
    from backups.services import snapshot_take

    step("snapshot of the account to roll back, before the load")
    snapshot = snapshot_take(account=Account.objects.get(pk=account_id), kind="manual")
    if snapshot.status != "succeeded":
        raise SystemExit(f"the snapshot failed: {snapshot.error}")
    return snapshot.pk


class _celery_worker:
    def __init__(self, env: dict, var_dir: Path) -> None:
        self.env, self.log = env, var_dir / "worker.log"

    def __enter__(self):
        step("start a Celery worker")
        self.out = self.log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        return self.process

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.out.close()


def _events(args, env, config, snapshot_id: int, var_dir: Path, timeline: list) -> None:
    """During the run: a snapshot by the worker, then a rollback to the earlier snapshot."""
    from backups.models import Snapshot
    from backups.tasks import snapshot_nightly

    time.sleep(args.run_time * 0.25)
    started = time.monotonic()
    snapshot_nightly.delay(config["snapshot_account"])
    while time.monotonic() - started < 120:
        done = Snapshot.objects.filter(
            account_id=config["snapshot_account"], kind="nightly", status="succeeded"
        ).first()
        if done:
            timeline.append(
                f"snapshot of account {config['snapshot_account']} by the worker: "
                f"{time.monotonic() - started:.1f} s, {sum(done.counts.values()):,} rows"
            )
            break
        time.sleep(0.5)
    else:
        timeline.append("snapshot: not finished within 120 s")

    time.sleep(max(0.0, args.run_time * 0.5 - (time.monotonic() - started)))
    Path(config["rollback_flag"]).touch()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "restore_snapshot", str(snapshot_id), "--kind", "full"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    timeline.append(
        f"rollback of account {config['rollback_account']} (full, restore engine): "
        f"{time.monotonic() - started:.1f} s, exit {result.returncode}"
    )
    if result.returncode:
        timeline.append(result.stderr[-2000:])


def _run(args, env, port: int, config: dict, snapshot_id: int, var_dir: Path) -> int:
    config_path, report_path = var_dir / "load.json", var_dir / "report.json"
    config_path.write_text(json.dumps(config))
    timeline: list[str] = []
    events = threading.Thread(
        target=_events, args=(args, env, config, snapshot_id, var_dir, timeline), daemon=True
    )
    step(f"locust: {args.users} users for {args.run_time} s against 127.0.0.1:{port}")
    events.start()
    prefix = var_dir / "stats"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "bench" / "locustfile.py"),
            "--headless",
            "--users",
            str(args.users),
            "--spawn-rate",
            str(max(1, args.users // 5)),
            "--run-time",
            f"{args.run_time}s",
            "--host",
            f"http://127.0.0.1:{port}",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ],
        cwd=REPO,
        env={**env, "LOAD_CONFIG": str(config_path), "LOAD_REPORT": str(report_path)},
        stdout=(var_dir / "locust.log").open("w"),
        stderr=subprocess.STDOUT,
        check=True,
    )
    events.join(timeout=180)
    return _print(prefix, report_path, timeline, args)


def _print(prefix: Path, report_path: Path, timeline: list[str], args) -> int:
    with open(f"{prefix}_stats.csv") as stats_file:
        rows = list(csv.DictReader(stats_file))
    failures = []
    failures_path = Path(f"{prefix}_failures.csv")
    if failures_path.exists():
        with failures_path.open() as failures_file:
            failures = list(csv.DictReader(failures_file))
    expected = json.loads(report_path.read_text()) if report_path.exists() else {}

    print()
    print(f"Load: {args.users} users, {args.run_time} s, gunicorn + PostgreSQL + Redis + worker")
    print()
    print("| endpoint | requests | errors | p50 ms | p95 ms | p99 ms | req/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "**all**"
        print(
            f"| {name} | {int(row['Request Count']):,} | {row['Failure Count']} | "
            f"{row['50%']} | {row['95%']} | {row['99%']} | {float(row['Requests/s']):.1f} |"
        )
    print()
    for line in timeline:
        print(f"- {line}")
    for what, count in sorted(expected.items()):
        print(f"- expected, not errors: {count:,} x {what}")
    unexpected = sum(int(f["Occurrences"]) for f in failures)
    for failure in failures:
        print(
            f"- ERROR {failure['Occurrences']} x {failure['Method']} {failure['Name']}: "
            f"{failure['Error'][:300]}"
        )
    print(f"- unexpected errors: {unexpected}")
    rollback_done = any(line.startswith("rollback") and "exit 0" in line for line in timeline)
    if not rollback_done:
        print("- the rollback did not complete")
    return 1 if unexpected or not rollback_done else 0


if __name__ == "__main__":
    sys.exit(main())
