"""Say clearly whether PostgreSQL and Redis answer (make test and .ci/run need both).

Usage: python bin/check_services.py [postgres-url] [redis-url]; exits 1 naming what is missing.
"""

import os
import sys

POSTGRES_URL = os.environ.get("CHECK_POSTGRES_URL", "postgres://root@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CHECK_REDIS_URL", "redis://127.0.0.1:6379/0")


def check_postgres(url: str) -> str | None:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.Error as error:
        return f"PostgreSQL does not answer at {url}: {str(error).strip()}"
    return None


def check_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis does not answer at {url}: {error}"
    return None


def main() -> int:
    problems = [p for p in (check_postgres(POSTGRES_URL), check_redis(REDIS_URL)) if p]
    for problem in problems:
        print(f"MISSING: {problem}", file=sys.stderr)
    if not problems:
        print("PostgreSQL and Redis answer.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
