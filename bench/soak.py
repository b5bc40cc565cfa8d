"""Soak: 20 users for 10 minutes of mixed, colliding work against gunicorn + PostgreSQL + Redis
+ a Celery worker, then ``manage.py check_integrity`` on what they left (issue 15).

The stack and the accounts are bench/load.py's (production settings, a real worker, a snapshot
and a rollback through the support flow during the run). The users are bench/soakfile.py's: the
load's mix plus edits, deletes, restores, bulk restores and purges of one small set of records
that every user of an account works on at once, and now and then an empty bin. Figures:
operations done (requests answered), errors (answers that are neither a success nor an
ordinary lost race), invariant breaches after the run (goal 0). Exit 1 if any.

    .venv/bin/python bench/soak.py                      # 20 users, 600 s
    .venv/bin/python bench/soak.py --users 10 --run-time 60   # a quick look
"""

import subprocess
import sys

from _common import REPO
from load import arguments, load_run


def main() -> int:
    args = arguments(
        __doc__.split("\n")[0],
        users=20,
        run_time=600,
        contacts=2000,
        database_url="postgres://root@127.0.0.1:5432/crm_bench_soak",
        redis_url="redis://127.0.0.1:6379/5",
    ).parse_args()
    return load_run(args, locustfile="soakfile.py", user_classes=("SoakUser",), after=_integrity)


def _integrity(env: dict, code: int) -> int:
    checked = subprocess.run(
        [sys.executable, "manage.py", "check_integrity"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in checked.stdout.splitlines() if line.strip()]
    breaches = [line for line in lines if not line.startswith("No problem")]
    print()
    print("check_integrity after the soak:")
    for line in lines:
        print(f"  {line}")
    print(f"Invariant breaches: {len(breaches)} (goal 0)")
    if checked.returncode not in (0, 1):
        print(checked.stderr)
        return 1
    return 1 if code or breaches else 0


if __name__ == "__main__":
    sys.exit(main())
