"""The change log's property tests at bench size, on SQLite and on PostgreSQL (issue 16, Proof).

``make test`` runs them at a modest size with fixed seeds. This runs the same tests with many
seeds, more steps and 20 or more moments per seed: random creates, edits, relinks, deletes,
bin restores (one and many), purges, reverts of small and big selections by several users,
over simulated days with a snapshot each night and now and then support's rollback or
recover of one of them; then, per moment, everything after it reverted (the revert's check)
and a restore to it (the moment's check), each compared with a dump of the account taken at
that moment, the bin included, and the other account unchanged. A failing seed is printed
with the command that reruns it alone.

    .venv/bin/python bench/property.py                       # seeds 1-40, 300 steps, 20 moments
    .venv/bin/python bench/property.py --seeds 1-200 --databases sqlite
"""

import argparse
import os
import re
import subprocess
import sys
import time

from _common import REPO, step

TESTS = {
    "revert": "changelog/tests/test_revert_property.py",
    "moment": "backups/tests/test_moment.py",
}
# The moment module's rules tests (one each) come along; the property ones are these.
SELECT = "moment_back or change_only"
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/crm_bench_property"


def main() -> int:
    args = parse_args()
    env_base = {
        **os.environ,
        "CRM_PROPERTY_SEEDS": args.seeds,
        "CRM_PROPERTY_STEPS": str(args.steps),
        "CRM_PROPERTY_MOMENTS": str(args.moments),
    }
    rows = []
    failed = []
    for database in args.databases.split(","):
        env = dict(env_base)
        env.pop("DATABASE_URL", None)
        if database == "postgresql":
            # pytest-django makes (and drops) test_<name> beside it.
            env["DATABASE_URL"] = args.database_url
        for name, path in TESTS.items():
            step(
                f"{name} on {database}: seeds {args.seeds}, {args.steps} steps, "
                f"{args.moments} moments"
            )
            command = [sys.executable, "-m", "pytest", path, "-k", SELECT, "-q", "--no-cov"]
            started = time.monotonic()
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
            elapsed = time.monotonic() - started
            summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
            passed = _count(summary, "passed")
            failures = re.findall(r"^FAILED (\S+)", done.stdout, re.MULTILINE)
            rows.append((name, database, passed, len(failures), elapsed))
            for test in failures:
                failed.append((database, test))
            if done.returncode not in (0, 1):  # 1: tests failed (listed); else pytest broke
                print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
                failed.append((database, f"{path}: pytest exited {done.returncode}"))
    print()
    print(f"Seeds {args.seeds}, {args.steps} steps, {args.moments} moments per seed.")
    print()
    print("| check | database | passed | failed | time |")
    print("|---|---|---:|---:|---:|")
    for name, database, passed, failures, elapsed in rows:
        print(f"| {name} | {database} | {passed} | {failures} | {elapsed:.0f} s |")
    for database, test in failed:
        seed = re.search(r"\[(\d+)\]", test)
        rerun = f"CRM_PROPERTY_SEEDS={seed.group(1)} " if seed else ""
        url = f"DATABASE_URL={args.database_url} " if database == "postgresql" else ""
        print(f"FAILED on {database}: {test}\n  rerun: {url}{rerun}"
              f"CRM_PROPERTY_STEPS={args.steps} CRM_PROPERTY_MOMENTS={args.moments} "
              f".venv/bin/pytest --no-cov '{test.split('[')[0]}'")  # fmt: skip
    return 1 if failed else 0


def _count(summary: str, word: str) -> int:
    found = re.search(rf"(\d+) {word}", summary)
    return int(found.group(1)) if found else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-40", help='"1-40" (default) or "4,9,16"')
    parser.add_argument("--steps", type=int, default=300, help="changes per seed (300)")
    parser.add_argument(
        "--moments", type=int, default=20, help="moments dumped and gone back to per seed (20)"
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="sqlite, postgresql or both (default sqlite,postgresql)",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"PostgreSQL: the tests run in test_<its name> (default {DEFAULT_DATABASE_URL})",
    )
    args = parser.parse_args()
    if args.steps < args.moments + 10:
        parser.error("--steps must be at least --moments + 10")
    if not set(args.databases.split(",")) <= {"sqlite", "postgresql"}:
        parser.error("--databases: sqlite, postgresql or both")
    return args


if __name__ == "__main__":
    sys.exit(main())
