"""gunicorn's settings for the web process, wherever it runs: the Dockerfile (so docker compose),
a supervisor from docs/deployment.md, and the benches (bench/_common.py). The bind address is
given on the command line. Each setting can be changed through the environment.

    gunicorn -c config/gunicorn.conf.py --bind 0.0.0.0:8000 config.wsgi:application
"""

import gc
import os

# Threads: a request waiting on PostgreSQL does not hold a whole process, and the gthread worker
# keeps connections alive between requests (the sync worker cannot).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# How long an idle kept-alive connection stays open. gunicorn's default (2 s) is shorter than the
# idle time of any client that reuses connections: a proxy or load balancer in front (60 s for
# nginx's upstream keepalive_timeout and for an AWS load balancer) or an API client. When gunicorn
# closes an idle connection at the moment the client sends its next request on it, that request
# is lost: no answer at all (a 502 from a proxy). A client may resend a GET, never a POST, so
# POSTs failed (bench/load.py found it: 1 in 7,500 requests; docs/benchmarks.md, "Load"). The
# side that closes must be the client: keep this longer than the proxy's idle timeout.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))

# A request running longer than this gets its worker restarted; restores and snapshots run in
# the Celery worker, never in a request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30

# One line per request on stdout (the container's log); GUNICORN_ACCESS_LOG="" turns it off.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def post_worker_init(worker) -> None:
    """The worker has loaded the application: what it made (Django's apps, models, settings:
    about 140,000 objects) stays for the process's life. Frozen, the garbage collector stops
    walking them; a full collection took about 90 ms, once every hundred page requests or so
    (bench/bin_history.py's slowest requests)."""
    gc.freeze()
