"""A real ASGI server (uvicorn in a subprocess) on the test database, for live tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(settings_dict: dict[str, Any]) -> str:
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def kill(self) -> None:
        """Die like a crashed process: no cleanup at all."""
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def running(self, name: str = "live server") -> LiveServer:
        """This server, failing the test (with its log) if the process died."""
        if self.process.poll() is not None:
            pytest.fail(f"the {name} died:\n{self.log()}")
        return self

    def busy(self) -> int:
        """Runs and follow-ups (summaries, memory) still working in the server; 0 once it
        is idle or gone."""
        if self.process.poll() is not None:
            return 0
        try:
            body = httpx.get(f"{self.url}/healthz?verbose=1", timeout=10).json()
        except (httpx.HTTPError, ValueError):
            return 1
        return int(body["process"]["busy"])


# Every server started by this test process that may still run (see
# tests/fixtures/live.py's teardown hook: tests wait for them to be idle before the flush).
STARTED: list[LiveServer] = []


def start_server(db_settings: dict[str, Any], tmp_dir: Path, ready_status: int = 200,
                 **env: str) -> LiveServer:
    """Serve the app; ready once /healthz answers `ready_status` (503 for a server started
    with a part down on purpose)."""
    port = free_port()
    log_path = tmp_dir / f"server-{port}.log"
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url(db_settings),
        "PROMPTRAILS_LOCAL_MODEL_DELAY": "0.002",
        "DEBUG": "1",
        # every test server signs in from 127.0.0.1 and, with Redis, counts in one bucket;
        # the limiter's own live tests set their limit
        "PROMPTRAILS_RATE_LIMIT_LOGIN_PER_MINUTE": "10000",
        # a server that outlives its test must not sweep what later tests set up (stale runs,
        # overdue approvals) before they look: tests that need server sweeps start servers
        # with `sweeping_servers`, which stops them at the end of the test
        "PROMPTRAILS_SWEEPS": "0",
        **env,
    }
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "promptrails.asgi:application",
             "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
             "--no-access-log"],
            cwd=ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path,
                        env=env)
    STARTED[:] = [s for s in STARTED if s.process.poll() is None] + [server]

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            return httpx.get(f"{server.url}/healthz", timeout=10).status_code == ready_status
        except httpx.HTTPError:
            return False

    try:
        # a cold start imports Django, the provider SDKs and OpenTelemetry: seconds when the
        # machine is idle, well over 30 s on a shared one with other suites running
        wait_for(ready, 90, 0.1, what=f"{server.url}/healthz to answer {ready_status}")
    except AssertionError:
        server.stop()
        raise RuntimeError(f"server did not start:\n{server.log()}") from None
    return server
