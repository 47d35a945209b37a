"""`okrbot serve` as an operator runs it: the URL to open, one log line per surface, JSON logs
without secrets, and a graceful stop (a request in flight during SIGTERM still gets its answer)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_serve import free_port

PLATFORM_VARIABLES = (
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET",
    "SLACK_STATE_SECRET", "MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID",
    "MICROSOFT_APP_TYPE", "OKRBOT_WEBCHAT", "OKRBOT_WEBCHAT_PUBLIC", "DATABASE_URL", "PORT",
)  # fmt: skip


class Served:
    """One ``okrbot serve`` subprocess on a free loopback port and its own SQLite file."""

    def __init__(
        self,
        tmp_path: Path,
        *args: str,
        env: dict[str, str] | None = None,
        program: tuple[str, ...] = ("-m", "adapters.cli"),
    ) -> None:
        self.port = free_port()
        self.db_url = f"sqlite:///{tmp_path / 'okrbot.db'}"
        self.env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
        self.env.update({"OKRBOT_DATABASE_URL": self.db_url, **(env or {})})
        self.url = f"http://127.0.0.1:{self.port}"
        # files, not pipes: a chatty server must never block on a full pipe nobody reads yet
        self.out, self.err = tmp_path / f"serve-{self.port}.out", tmp_path / f"serve-{self.port}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, *program, "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
                env=self.env, cwd=tmp_path, stdout=out, stderr=err, text=True,
            )  # fmt: skip

    def wait_healthy(self, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"okrbot serve exited with {self.process.returncode}: {self.err.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"okrbot serve did not answer /healthz in {seconds:.0f} s")

    def okrbot(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another okrbot command on the same database (``okrbot send digests``, say)."""
        return subprocess.run([sys.executable, "-m", "adapters.cli", *args], env=self.env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, then the exit code, standard output and standard error."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode, self.out.read_text(), self.err.read_text()


def test_serve_prints_the_url_logs_each_surface_and_stops_cleanly(tmp_path):
    served = Served(tmp_path)
    try:
        served.wait_healthy()
    finally:
        code, out, err = served.stop()
    assert code == 0
    assert f"open http://127.0.0.1:{served.port}/ in your browser" in out
    for surface in ("slack: off", "teams: on", "webchat: on at GET / (no Slack or Teams credentials are set)"):
        assert surface in err


def test_webchat_is_off_with_platform_credentials_unless_asked(tmp_path):
    secrets = {"SLACK_BOT_TOKEN": "xoxb-test-token-1234", "SLACK_SIGNING_SECRET": "signing-secret-5678"}
    off = Served(tmp_path, env={**secrets, "OKRBOT_SLACK_API_URL": "http://127.0.0.1:9/"})
    try:
        off.wait_healthy()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{off.url}/", timeout=5)
        assert refused.value.code == 404
    finally:
        _code, out, err = off.stop()
    assert "webchat: off (Slack or Teams is configured" in err
    assert "open http" not in out
    on = Served(tmp_path, "--webchat", env=secrets)
    try:
        on.wait_healthy()
        with urllib.request.urlopen(f"{on.url}/", timeout=5) as page:
            assert "okrbot" in page.read().decode()
    finally:
        _code, _out, err = on.stop()
    assert "webchat: on at GET / (OKRBOT_WEBCHAT=on)" in err


def metrics_once(tmp_path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Start okrbot serve, ask for /metrics once, stop it: exit code, standard output and error."""
    served = Served(tmp_path, *args, env=env)
    try:
        served.wait_healthy()
        urllib.request.urlopen(f"{served.url}/metrics", timeout=5).read()
    except BaseException:
        served.stop()
        raise
    return served.stop()


def test_json_logs_are_one_object_a_line_and_never_hold_a_secret(tmp_path):
    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-very-secret-bot-token",
        "SLACK_SIGNING_SECRET": "very-secret-signing-secret",
        "MICROSOFT_APP_PASSWORD": "very-secret-app-password",
        "OKRBOT_SLACK_API_URL": "http://127.0.0.1:9/",
    }
    code, _out, err = metrics_once(tmp_path, "--log-format", "json", env={**secrets, "OKRBOT_LOG_LEVEL": "DEBUG"})
    assert code == 0
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["message"].startswith("slack: on") for line in lines)
    for secret in ("xoxb-very-secret-bot-token", "very-secret-signing-secret", "very-secret-app-password"):
        assert secret not in err


def test_a_line_per_request_only_when_asked(tmp_path):
    """OKRBOT_ACCESS_LOG: off by default (/metrics counts every request), a line each when true."""
    lines = {}
    for setting in ("", "true"):
        code, _out, err = metrics_once(tmp_path, env={"OKRBOT_ACCESS_LOG": setting} if setting else {})
        assert code == 0
        lines[setting] = [line for line in err.splitlines() if '"GET /metrics HTTP/1.1" 200' in line]
    assert lines[""] == [] and len(lines["true"]) == 1


SLOW_SERVE = """
import asyncio, sys
from aiohttp import web
import adapters.server as server

build_app = server.build_app


def with_a_slow_route(settings):
    app = build_app(settings)

    async def slow(request):
        await asyncio.sleep(float(request.query.get("seconds", "2")))
        return await server.healthz(request)  # the database is still open while a request is in flight

    app.router.add_get("/test/slow", slow)
    return app


server.build_app = with_a_slow_route
from adapters.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_request_in_flight_during_sigterm_completes(tmp_path):
    """The real ``okrbot serve`` (run_app, its signal handling, the shutdown order) with one slow
    route the test adds from outside: SIGTERM while it runs, and its answer still arrives."""
    (tmp_path / "slow_serve.py").write_text(SLOW_SERVE)
    root = str(Path(__file__).resolve().parents[1])
    served = Served(tmp_path, env={"PYTHONPATH": root}, program=(str(tmp_path / "slow_serve.py"),))
    answers: list[tuple[int, str]] = []
    try:
        served.wait_healthy()
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
        sock.sendall(f"GET /test/slow?seconds=2 HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n\r\n".encode())
        time.sleep(0.5)  # the handler is asleep
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # shutting down: no new connections, the one in flight is waited for
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", served.port), timeout=2).close()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        answers.append((int(answer.split(b" ", 2)[1]), answer.decode(errors="replace")))
        served.process.wait(timeout=30)  # then the scheduler stops and the database closes
    finally:
        code, _out, err = served.stop()
    assert answers[0][0] == 200, answers
    assert '"database": "ok"' in answers[0][1]
    assert code == 0, err
