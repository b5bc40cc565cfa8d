"""config/gunicorn.conf.py, the web process's settings (Dockerfile, docker compose, benches):
an idle kept-alive connection stays open longer than a proxy's idle timeout, so the proxy closes
it first and a request it sends on it is never dropped. With gunicorn's default (2 s) a POST
sent on a connection idle for about that long got no answer (bench/load.py found it)."""

import gc
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "gunicorn.conf.py"

APP = """
def application(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("201 Created", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""


def _settings() -> dict:
    values: dict = {}
    # Compiled under its own name, as gunicorn loads it (and so coverage counts its lines).
    exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), values)  # noqa: S102 - our own file
    return values


def test_keepalive_outlasts_a_proxys_idle_timeout():
    settings = _settings()
    assert settings["worker_class"] == "gthread"  # the sync worker ignores keep-alive
    assert settings["keepalive"] > 60  # nginx's upstream keepalive_timeout, an AWS ALB


def test_the_image_runs_gunicorn_with_it():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert '"-c", "config/gunicorn.conf.py"' in dockerfile


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(connection: socket.socket) -> bytes:
    connection.sendall(
        b"POST /contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    answer = b""
    while b"\r\n\r\nok" not in answer:
        chunk = connection.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


@pytest.fixture
def server(tmp_path):
    (tmp_path / "tiny_app.py").write_text(APP)
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(CONFIG),
            "--chdir",
            str(tmp_path),
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
            "--access-logfile=/dev/null",
            "tiny_app:application",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_post_on_a_connection_idle_past_the_old_default_is_answered(server):
    with socket.create_connection(("127.0.0.1", server), 10) as connection:
        assert _post(connection).startswith(b"HTTP/1.1 201")
        time.sleep(4)  # twice gunicorn's default keep-alive, plus its 1 s check interval
        connection.setblocking(False)
        try:
            closed = connection.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            closed = False  # nothing to read: still open
        connection.setblocking(True)
        assert not closed, "gunicorn closed the idle connection"
        assert _post(connection).startswith(b"HTTP/1.1 201")


def test_a_worker_freezes_what_the_application_made_at_start():
    gc.unfreeze()
    try:
        _settings()["post_worker_init"](worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
