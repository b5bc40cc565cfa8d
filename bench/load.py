"""Load: 50 users for 2 minutes against the production stack on this machine, while the worker
takes a snapshot of one account and rolls another back through support. ``make load`` runs it.

The stack: gunicorn (config/gunicorn.conf.py, production settings, plain HTTP on loopback),
PostgreSQL, Redis and a real Celery worker (prefork, 2 processes, as deployed). Several accounts
of realistic size; the one rolled back is larger and has more staff, so that some of its users
write during its maintenance. Every account has an admin and employees, each with an API token;
admins also browse the pages with a session. Locust (headless) runs bench/locustfile.py: CRUD
on contacts, deletes, restores from the bin, the history filtered to deletions and bin browsing.

During the run, through the same gunicorn:
- the worker takes the nightly snapshot of one account (the task, sent as beat sends it);
- the admin of another account (where an import overwrote 100,000 contacts after its
  snapshot) files a restore request; support (logged in with the second factor, a TOTP code)
  proposes that snapshot, the admin looks at the preview and confirms, support approves, and the
  worker runs the rollback. Meanwhile a probe checks that a write of that account answers 503
  ``maintenance`` with ``Retry-After``; afterwards no contact may be left with the bad import.

Goal: zero errors outside the account under rollback (its writes get 503 with Retry-After, and
records the rollback took away answer 404; nothing else fails). Prints p50/p95/p99 per
endpoint; exits 1 on any unexpected error, or when the snapshot or the rollback did not happen
as described, or no user of the rolled-back account met its maintenance.
"""

import argparse
import csv
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import (
    PASSWORD,
    REPO,
    ApiClient,
    collectstatic,
    copy_rows,
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
# The large account rolled back has more staff: with 50 users, 16 of them work in it, so that
# some write during its maintenance (2-3 s).
ROLLBACK_EMPLOYEES = 7
SUPPORT_USERNAME = "load-support"
REQUESTS_URL = "/api/v1/support/requests/"
TASK_TIMEOUT = 300  # seconds: the snapshot and the rollback each finish within this
BAD_IMPORT = "Imported by mistake"  # the position the bad import wrote
# Loaded with COPY (the rolled-back account is large); the other columns are NULL.
COMPANY_COLUMNS = (
    *("account_id", "created_at", "updated_at", "title"),
    *("industry", "phone", "email", "website", "address", "comments"),
)
CONTACT_COLUMNS = (
    *("account_id", "created_at", "updated_at", "first_name", "last_name"),
    *("email", "phone", "position", "company_id"),
)


class Unexpected(Exception):
    """Something of the scenario outside the users' load did not go as it must."""


def main() -> int:
    return load_run(arguments(__doc__.split("\n")[0]).parse_args())


def arguments(description: str, **defaults) -> argparse.ArgumentParser:
    """The load's options; ``defaults`` overrides some (bench/soak.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--run-time", type=int, default=120, help="seconds")
    parser.add_argument("--contacts", type=int, default=5000, help="per account")
    parser.add_argument(
        "--rollback-contacts",
        type=int,
        default=250_000,
        help="of the account rolled back (its maintenance lasts longer with more)",
    )
    parser.add_argument(
        "--bad-import",
        type=int,
        default=100_000,
        help="contacts of the account rolled back overwritten after its snapshot",
    )
    parser.add_argument("--database-url", default="postgres://root@127.0.0.1:5432/crm_bench_load")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--keep", action="store_true")
    parser.set_defaults(**defaults)
    return parser


def load_run(
    args: argparse.Namespace,
    *,
    locustfile: str = "locustfile.py",
    user_classes: tuple[str, ...] = (),
    after=None,
) -> int:
    """The whole run: the stack up, the accounts loaded, locust, the snapshot and the rollback;
    then ``after(env, code)`` (while the database still exists) may judge more."""
    with tempfile.TemporaryDirectory(prefix="crm-load-") as var_dir:
        var = Path(var_dir)
        env = production_environment(database_url=args.database_url, var_dir=var_dir)
        # Redis: broker and cache of this run only (flushed first); no mail leaves the machine.
        env |= {"REDIS_URL": args.redis_url, "EMAIL_URL": "dummymail://"}
        _redis_flush(args.redis_url)
        with fresh_database(args.database_url, keep=args.keep):
            migrate(env)
            collectstatic(env)
            django_setup(env)
            config = _load_accounts(args, var)
            snapshot_id = _snapshot_before(config["rollback_account"])
            _bad_import(config["rollback_account"], args.bad_import)
            with (
                _celery_worker(env, var),
                gunicorn_server(
                    env, access_log=var / "access.log", output_log=var / "gunicorn.log"
                ) as port,
            ):
                code = _run(
                    args,
                    env,
                    port,
                    config,
                    snapshot_id,
                    var,
                    locustfile=locustfile,
                    user_classes=user_classes,
                )
            return after(env, code) if after is not None else code


def _redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


# --- Set-up ----------------------------------------------------------------------------------


def _load_accounts(args, var: Path) -> dict:
    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from accounts.services import account_create, user_create
    from crm.models import Company, Contact

    rng = random.Random(7)  # noqa: S311 - data, not security
    members, samples, accounts = [], {}, []
    for number in range(1, ACCOUNTS + 1):
        contacts = args.rollback_contacts if number == 1 else args.contacts
        step(f"account {number}: {contacts:,} contacts, {contacts // 10:,} companies")
        account = account_create(
            name=f"Load {number}",
            plan="professional",
            admin_username=f"load{number}-admin",
            admin_password=PASSWORD,
            check_password=False,
        )
        accounts.append(account.pk)
        users = [account.users.get(role=User.Role.ADMIN)]
        for employee in range(ROLLBACK_EMPLOYEES if number == 1 else EMPLOYEES):
            users.append(
                user_create(
                    username=f"load{number}-employee{employee}",
                    password=PASSWORD,
                    account=account,
                    role=User.Role.EMPLOYEE,
                    check_password=False,
                )
            )
        now = datetime.now(UTC).isoformat()
        with connection.cursor() as cursor:
            copy_rows(
                cursor,
                Company._meta.db_table,
                COMPANY_COLUMNS,
                (
                    (account.pk, now, now, f"{rng.choice(LAST_NAMES)} {n} GmbH", *[""] * 6)
                    for n in range(contacts // 10)
                ),
            )
            companies = list(Company.objects.filter(account=account).values_list("pk", flat=True))
            copy_rows(
                cursor,
                Contact._meta.db_table,
                CONTACT_COLUMNS,
                (
                    (
                        account.pk,
                        now,
                        now,
                        rng.choice(FIRST_NAMES),
                        rng.choice(LAST_NAMES),
                        "",
                        "",
                        "",
                        rng.choice(companies) if rng.random() < 0.7 else None,
                    )
                    for _ in range(contacts)
                ),
            )
        made = list(Contact.objects.filter(account=account).values_list("pk", flat=True))
        samples[str(account.pk)] = rng.sample(made, 200)
        for user in users:
            members.append(
                {
                    "account": account.pk,
                    "role": user.role,
                    "username": user.username,
                    "token": Token.objects.create(user=user).key,
                }
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    # Support staff, with the authenticator app they set up at their first login.
    support = user_create(
        username=SUPPORT_USERNAME,
        password=PASSWORD,
        account=None,
        is_support=True,
        check_password=False,
    )
    TOTPDevice.objects.create(user=support, name="Authenticator app", confirmed=True)
    return {
        "members": members,
        "contacts": samples,
        "password": PASSWORD,
        "rollback_account": accounts[0],
        "rollback_admin": "load1-admin",
        "snapshot_account": accounts[1],
        "can_restore": True,
        "rollback_flag": str(var / "rollback-started"),
    }


def _snapshot_before(account_id: int) -> int:
    """The snapshot the account is rolled back to (as last night's would be)."""
    from accounts.models import Account
    from backups.services import snapshot_take

    step("snapshot of the account to roll back, before the load")
    snapshot = snapshot_take(account=Account.objects.get(pk=account_id), kind="manual")
    if snapshot.status != "succeeded":
        raise SystemExit(f"the snapshot failed: {snapshot.error}")
    return snapshot.pk


def _bad_import(account_id: int, count: int) -> None:
    """What the rollback undoes: an import overwrote the position of ``count`` contacts."""
    from django.db import connection

    step(f"a bad import overwrites {count:,} contacts of the account to roll back")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crm_contact SET position = %s, updated_at = now() WHERE id IN "
            "(SELECT id FROM crm_contact WHERE account_id = %s ORDER BY id LIMIT %s)",
            [BAD_IMPORT, account_id, count],
        )
        cursor.execute("VACUUM (ANALYZE) crm_contact")


class _celery_worker:
    """``celery worker`` as deployed (prefork, 2 processes), logging to worker.log."""

    def __init__(self, env: dict, var: Path) -> None:
        self.env, self.log = env, var / "worker.log"

    def __enter__(self):
        step("start a Celery worker (prefork, 2 processes)")
        self.out = self.log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while " ready." not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit(f"the worker did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        return self.process

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.out.close()


# --- What happens during the load -------------------------------------------------------------


class Events:
    """The snapshot and the rollback, in a thread beside locust; what they did goes to
    ``timeline``, what went wrong to ``problems``."""

    def __init__(self, args, port: int, config: dict, snapshot_id: int) -> None:
        self.args, self.port, self.config, self.snapshot_id = args, port, config, snapshot_id
        self.timeline: list[str] = []
        self.problems: list[str] = []
        self.request: dict = {}
        self.maintenance_seconds = 0.0
        self.probes = 0  # writes sent by the probe (each answered 503)

    def run(self) -> None:
        from django.db import connection

        started = time.monotonic()
        try:
            time.sleep(self.args.run_time * 0.2)
            self._snapshot_by_worker()
            time.sleep(max(0.0, self.args.run_time * 0.4 - (time.monotonic() - started)))
            self._rollback_through_support()
        except Unexpected as error:
            self.problems.append(str(error))
        except Exception as error:  # a broken scenario must fail the run, not hang it
            self.problems.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    def _snapshot_by_worker(self) -> None:
        """The nightly snapshot task of one account, sent as beat sends it, run by the worker."""
        from backups.models import Snapshot
        from backups.tasks import snapshot_nightly

        account = self.config["snapshot_account"]
        started = time.monotonic()
        snapshot_nightly.delay(account)
        while time.monotonic() - started < TASK_TIMEOUT:
            done = Snapshot.objects.filter(account_id=account, kind="nightly").first()
            if done is not None and done.status in ("succeeded", "failed"):
                if done.status != "succeeded":
                    raise Unexpected(f"the nightly snapshot of account {account}: {done.error}")
                self.timeline.append(
                    f"snapshot #{done.pk} of account {account} (nightly task, by the worker): "
                    f"done {time.monotonic() - started:.1f} s after it was sent, "
                    f"{sum(done.counts.values()):,} rows"
                )
                return
            time.sleep(0.5)
        raise Unexpected(f"the snapshot of account {account} did not finish in {TASK_TIMEOUT} s")

    def _rollback_through_support(self) -> None:
        """File, propose, preview, confirm and approve through the API, as the admin and
        support do; then the worker runs the restore while the account is in maintenance."""
        account = self.config["rollback_account"]
        admin, support = ApiClient(self.port), ApiClient(self.port)
        admin.login(self.config["rollback_admin"], PASSWORD)
        support.login(SUPPORT_USERNAME, PASSWORD, otp=_totp_code(SUPPORT_USERNAME))
        started = time.monotonic()
        lost_at = datetime.now(UTC) - timedelta(seconds=1)
        filed = _expect(
            admin,
            "POST",
            REQUESTS_URL,
            {
                "lost_at": lost_at.isoformat(),
                "kind": "full",
                "message": "An import went wrong; please roll the account back to last night.",
            },
            201,
        )
        url = f"{REQUESTS_URL}{filed['id']}/"
        _expect(support, "POST", f"{url}propose/", {"snapshot": self.snapshot_id}, 200)
        preview = _expect(admin, "GET", f"{url}preview/", None, 200)
        _expect(admin, "POST", f"{url}confirm/", None, 200)
        Path(self.config["rollback_flag"]).touch()
        queued = _expect(support, "POST", f"{url}approve/", None, 200)
        if queued["status"] not in ("queued", "running", "completed"):
            # (The worker may have claimed it before the answer was written.)
            raise Unexpected(f"approved, the request is {queued['status']}")
        changes = sum(sum(numbers.values()) for numbers in preview.get("changes", {}).values())
        self.timeline.append(
            f"restore request #{filed['id']} of account {account}: filed by the admin, proposed "
            f"by support (second factor given), preview seen ({changes:,} changes), confirmed, "
            f"approved: {time.monotonic() - started:.1f} s through the API"
        )
        approved = time.monotonic()
        self._maintenance_watch(account, admin, support, url)
        self.request = _expect(support, "GET", url, None, 200)
        if self.request["status"] != "completed":
            raise Unexpected(
                f"the restore request ended {self.request['status']}: {self.request['error']}"
            )
        outcome = self.request["outcome"] or {}
        changed = Counter()
        for counts in (outcome.get("counts") or {}).values():
            changed.update(counts)
        from crm.models import Contact

        left = Contact.objects.filter(account_id=account, position=BAD_IMPORT).count()
        if left:
            raise Unexpected(f"rolled back, {left:,} contacts still have the bad import")
        self.timeline.append(
            f"rollback of account {account} (full, the worker's restore_request_run task): "
            f"completed {time.monotonic() - approved:.1f} s after the approval, "
            f"{self.maintenance_seconds:.1f} s in maintenance; rows deleted "
            f"{changed['deleted']:,}, updated {changed['updated']:,}, inserted "
            f"{changed['inserted']:,}; undo snapshot #{outcome.get('pre_restore_snapshot_id')}; "
            f"no contact left with the bad import"
        )

    def _maintenance_watch(self, account_id: int, admin, support, url: str) -> None:
        """Until the request ends: when the account enters maintenance, a write must answer
        503 maintenance with Retry-After; how long the maintenance lasts is measured."""
        from accounts.models import Account

        deadline = time.monotonic() + TASK_TIMEOUT
        entered = left = probed = None
        status = "queued"
        polled = 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            maintenance = Account.objects.filter(pk=account_id).values_list(
                "maintenance", flat=True
            )[0]
            if maintenance and entered is None:
                entered = now
            if maintenance and probed is None:
                probed = self._probe(admin)
                self.probes += 1
            if entered is not None and not maintenance and left is None:
                left = now
            if now - polled > 0.5:
                polled = now
                status = _expect(support, "GET", url, None, 200)["status"]
            if status in ("completed", "failed") and not maintenance:
                break
            time.sleep(0.05)
        else:
            raise Unexpected(f"the restore request was still {status} after {TASK_TIMEOUT} s")
        if entered is None:
            raise Unexpected("the account under rollback was never seen in maintenance")
        self.maintenance_seconds = (left or time.monotonic()) - entered
        self.timeline.append(probed)

    def _probe(self, admin) -> str:
        response = admin.send("POST", "/api/v1/contacts/", {"first_name": "Probe"})
        body = response.json() if response.body.startswith(b"{") else {}
        retry_after = response.headers.get("Retry-After")
        if response.status != 503 or body.get("code") != "maintenance" or not retry_after:
            raise Unexpected(
                f"a write during the maintenance answered {response.status} "
                f"(Retry-After {retry_after!r}): {response.body[:300]!r}"
            )
        return (
            f"probe during the maintenance: POST /api/v1/contacts/ -> 503 maintenance, "
            f"Retry-After: {retry_after}"
        )


def _expect(client: ApiClient, method: str, path: str, payload: dict | None, status: int):
    response = client.send(method, path, payload)
    if response.status != status:
        raise Unexpected(
            f"{method} {path}: {response.status}, not {status}: {response.body[:300]!r}"
        )
    return response.json()


def _totp_code(username: str) -> str:
    """What the support user's authenticator app shows now (as the tests compute it)."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__username=username, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


# --- The run and its report -------------------------------------------------------------------


def _run(
    args,
    env,
    port: int,
    config: dict,
    snapshot_id: int,
    var: Path,
    *,
    locustfile: str = "locustfile.py",
    user_classes: tuple[str, ...] = (),
) -> int:
    config_path, report_path = var / "load.json", var / "report.json"
    config_path.write_text(json.dumps(config))
    events = Events(args, port, config, snapshot_id)
    thread = threading.Thread(target=events.run, daemon=True)
    step(f"locust: {args.users} users for {args.run_time} s against 127.0.0.1:{port}")
    thread.start()
    prefix = var / "stats"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "bench" / locustfile),
            *user_classes,
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
        stdout=(var / "locust.log").open("w"),
        stderr=subprocess.STDOUT,
        check=True,
    )
    thread.join(timeout=TASK_TIMEOUT)
    if thread.is_alive():
        events.problems.append("the snapshot and rollback were still running after the load")
    return _print(prefix, report_path, events, var, args)


def _print(prefix: Path, report_path: Path, events: Events, var: Path, args) -> int:
    with open(f"{prefix}_stats.csv") as stats_file:
        rows = list(csv.DictReader(stats_file))
    failures = []
    failures_path = Path(f"{prefix}_failures.csv")
    if failures_path.exists():
        with failures_path.open() as failures_file:
            failures = list(csv.DictReader(failures_file))
    expected = Counter(json.loads(report_path.read_text()) if report_path.exists() else {})
    served = _access_log_statuses(var / "access.log")

    print()
    print(
        f"Load: {args.users} users, {args.run_time} s, gunicorn (2 workers x 4 threads) + "
        "PostgreSQL + Redis + Celery worker"
    )
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
    for line in events.timeline:
        print(f"- {line}")
    for line in _worker_tasks(var / "worker.log"):
        print(f"- worker log: {line}")
    for what, count in sorted(expected.items()):
        print(f"- expected, not errors: {count:,} x {what}")
    print(
        "- gunicorn's access log: "
        + ", ".join(f"{count:,} x {code}" for code, count in sorted(served.items()))
    )
    unexpected = sum(int(f["Occurrences"]) for f in failures)
    for failure in failures:
        print(
            f"- ERROR {failure['Occurrences']} x {failure['Method']} {failure['Name']}: "
            f"{failure['Error'][:300]}"
        )
    problems = list(events.problems)
    maintenance_503 = expected["503 maintenance, account under rollback"]
    if not problems and maintenance_503 == 0:
        problems.append(
            f"no user of the account under rollback wrote during its "
            f"{events.maintenance_seconds:.1f} s of maintenance (raise --rollback-contacts)"
        )
    server_errors = sum(n for code, n in served.items() if code >= 500 and code != 503)
    if server_errors:
        problems.append(f"gunicorn answered {server_errors} requests with a 5xx other than 503")
    if served.get(503, 0) != maintenance_503 + events.probes:
        problems.append(
            f"gunicorn answered {served.get(503, 0)} x 503, the users and the probe counted "
            f"{maintenance_503 + events.probes}"
        )
    for line in _gunicorn_warnings(var / "gunicorn.log"):
        problems.append(f"gunicorn: {line}")
    for problem in problems:
        print(f"- PROBLEM: {problem}")
    print(f"- unexpected errors: {unexpected + len(problems)}")
    return 1 if unexpected or problems else 0


def _access_log_statuses(path: Path) -> Counter:
    """Status code -> how many requests gunicorn answered with it (its default log format)."""
    statuses: Counter = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            found = re.search(r'" (\d{3}) ', line)
            if found:
                statuses[int(found.group(1))] += 1
    return statuses


def _worker_tasks(path: Path) -> list[str]:
    """The worker's own lines about the snapshot and restore tasks it ran."""
    lines = []
    for line in path.read_text().splitlines() if path.exists() else []:
        if "succeeded in" in line or "raised unexpected" in line:
            lines.append(re.sub(r"^\[[^\]]*\]\s*", "", line).strip()[:200])
    return lines


def _gunicorn_warnings(path: Path) -> list[str]:
    """gunicorn's own warnings: worker timeouts, crashes and the like."""
    if not path.exists():
        return []
    return [
        line[:300]
        for line in path.read_text().splitlines()
        if re.search(r"\[(WARNING|ERROR|CRITICAL)\]", line)
    ]


if __name__ == "__main__":
    sys.exit(main())
