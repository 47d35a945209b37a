"""`okrbot serve` started as a user starts it: it migrates its SQLite file and answers /healthz."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, attempts: int = 100) -> dict:
    for _ in range(attempts):  # bounded: 100 tries of 0.1 s
        if process.poll() is not None:
            pytest.fail(f"okrbot serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return {"status": response.status, "body": response.read().decode()}
        except OSError:
            time.sleep(0.1)
    pytest.fail("okrbot serve did not answer /healthz in 10 s")


def test_serve_migrates_sqlite_and_answers_healthz(tmp_path):
    db_file = tmp_path / "serve.db"
    port = free_port()
    env = {**os.environ, "OKRBOT_DATABASE_URL": f"sqlite:///{db_file}", "OKRBOT_PORT": str(port)}
    env.pop("SLACK_SIGNING_SECRET", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--host", "127.0.0.1"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        health = wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert health["status"] == 200
        assert '"database": "ok"' in health["body"]
        tables = {
            row[0] for row in sqlite3.connect(db_file).execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert {"workspace", "objective", "key_result", "check_in", "alembic_version"} <= tables
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert process.returncode == 0
