"""Processes of a benchmark run: the fake model, the server under test, the LiteLLM peer.

Every process is started here, remembered by pid and stopped by pid (its process group).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = ROOT / ".venv" / "bin"
LITELLM_BIN = BENCH / ".venv-litellm" / "bin"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"

_started: list[subprocess.Popen[Any]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
           log: Path | None = None) -> subprocess.Popen[Any]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    _started.append(proc)
    return proc


def stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def stop_all() -> None:
    for proc in reversed(_started):
        stop(proc)


def wait_http(url: str, proc: subprocess.Popen[Any], timeout: float = 90.0,
              ok: tuple[int, ...] = (200,)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code in ok:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


# --- the fake model ---------------------------------------------------------------------

@dataclass
class FakeModel:
    proc: subprocess.Popen[Any]
    url: str  # …/v1


def start_fake(*, tokens: int, ttft_ms: float, itl_ms: float, procs: int, log: Path) -> FakeModel:
    port = free_port()
    proc = _spawn([str(VENV_BIN / "python"), "-m", "bench.fake_model", "--port", str(port),
                   "--tokens", str(tokens), "--ttft-ms", str(ttft_ms), "--itl-ms", str(itl_ms),
                   "--procs", str(procs)], cwd=ROOT, log=log)
    url = f"http://127.0.0.1:{port}/v1"
    wait_http(f"{url}/models", proc, timeout=20)
    return FakeModel(proc, url)


# --- the server under test --------------------------------------------------------------

@dataclass
class Server:
    db: str
    app_dir: Path
    env: dict[str, str]
    setup: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[Any] | None = None
    base: str = ""
    pg_name: str | None = None
    data_dir: str | None = None

    @property
    def ws_base(self) -> str:
        return self.base.replace("http://", "ws://")

    @property
    def key(self) -> str:
        return str(self.setup["api_key"])


def postgres_reachable() -> bool:
    try:
        subprocess.run(["psql", PG_ADMIN + "/postgres", "-Atc", "select 1"], check=True,
                       capture_output=True, timeout=10)
        import redis

        redis.Redis.from_url(REDIS, socket_timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - unreachable, for whatever reason
        return False


def _psql(sql: str) -> None:
    subprocess.run(["psql", PG_ADMIN + "/postgres", "-Atc", sql], check=True,
                   capture_output=True, timeout=60)


def prepare_server(db: str, app_dir: Path, fake_url: str, setup_params: dict[str, Any],
                   log: Path) -> Server:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "REDIS_", "PROMPTRAILS_", "DJANGO_"))}
    env.update({
        "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # plain HTTP on loopback, no TLS proxy in front; and no limits on the load itself
        "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
        "PROMPTRAILS_RATE_LIMIT_KEY_PER_MINUTE": "0",
        "PROMPTRAILS_RATE_LIMIT_WORKSPACE_PER_MINUTE": "0",
        "PROMPTRAILS_MAX_CONCURRENT_TURNS": "0",
        # the fake model listens on loopback, which the outbound policy refuses unless allowed
        "PROMPTRAILS_OUTBOUND_ALLOW": "127.0.0.1",
    })
    server = Server(db=db, app_dir=app_dir, env=env)
    if db == "postgres":
        server.pg_name = f"bench_{secrets.token_hex(4)}"
        _psql(f"CREATE DATABASE {server.pg_name}")
        env["DATABASE_URL"] = f"{PG_ADMIN}/{server.pg_name}"
        env["REDIS_URL"] = REDIS
        env["REDIS_PREFIX"] = f"bench{secrets.token_hex(4)}"
        env["DB_POOL_MAX"] = os.environ.get("BENCH_DB_POOL_MAX", "40")
    else:
        server.data_dir = tempfile.mkdtemp(prefix="promptrails-bench-")
        env["PROMPTRAILS_DATA_DIR"] = server.data_dir
    result = subprocess.run(
        [str(VENV_BIN / "python"), str(BENCH / "app_setup.py"), json.dumps(setup_params)],
        cwd=app_dir, env=env, capture_output=True, text=True, timeout=600,
    )
    with open(log, "a") as fh:
        fh.write(result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"setup failed ({db}):\n{result.stderr[-3000:]}")
    server.setup = json.loads(result.stdout.strip().splitlines()[-1])
    return server


def start_server(server: Server, log: Path) -> None:
    port = free_port()
    server.proc = _spawn([str(VENV_BIN / "uvicorn"), "promptrails.asgi:application",
                          "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
                          "--no-access-log", "--backlog", "4096", "--timeout-keep-alive", "60"],
                         cwd=server.app_dir, env=server.env, log=log)
    server.base = f"http://127.0.0.1:{port}"
    wait_http(f"{server.base}/healthz", server.proc, timeout=90)


def drop_server(server: Server) -> None:
    stop(server.proc)
    if server.pg_name:
        with contextlib.suppress(Exception):
            _psql(f"DROP DATABASE IF EXISTS {server.pg_name} WITH (FORCE)")
    if server.env.get("REDIS_PREFIX"):
        with contextlib.suppress(Exception):
            import redis

            r = redis.Redis.from_url(REDIS)
            keys = list(r.scan_iter(f"{server.env['REDIS_PREFIX']}*", count=1000))
            if keys:
                r.delete(*keys)
    if server.data_dir:
        import shutil

        shutil.rmtree(server.data_dir, ignore_errors=True)


# --- process accounting -----------------------------------------------------------------

def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the LiteLLM peer -------------------------------------------------------------------

@dataclass
class Peer:
    proc: subprocess.Popen[Any]
    url: str  # …/v1
    version: str


def litellm_version() -> str | None:
    python = LITELLM_BIN / "python"
    if not python.exists():
        return None
    result = subprocess.run([str(python), "-c",
                             "import importlib.metadata as m; print(m.version('litellm'))"],
                            capture_output=True, text=True, timeout=60)
    return result.stdout.strip() if result.returncode == 0 else None


def start_litellm(fake_url: str, log: Path, workdir: Path) -> Peer:
    version = litellm_version()
    if version is None:
        raise RuntimeError(f"LiteLLM is not installed in {LITELLM_BIN.parent} "
                           "(python -m venv bench/.venv-litellm && "
                           "bench/.venv-litellm/bin/pip install 'litellm[proxy]')")
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: bench-model\n"
        "    litellm_params:\n"
        "      model: openai/bench-model\n"
        f"      api_base: {fake_url}\n"
        "      api_key: x\n"
        "  - model_name: bench-model-t20\n"
        "    litellm_params:\n"
        "      model: openai/bench-model-t20\n"
        f"      api_base: {fake_url}\n"
        "      api_key: x\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_"))}
    env.update({"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "DISABLE_SCHEMA_UPDATE": "True",
                "LITELLM_MASTER_KEY": "sk-bench"})  # the load driver sends this key
    proc = _spawn([str(LITELLM_BIN / "litellm"), "--config", str(config), "--host", "127.0.0.1",
                   "--port", str(port), "--num_workers", "1"], cwd=workdir, env=env, log=log)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, timeout=180)
    return Peer(proc, f"http://127.0.0.1:{port}/v1", version)


# --- py-spy -----------------------------------------------------------------------------

def pyspy_start(pid: int, out: Path, log: Path) -> subprocess.Popen[Any] | None:
    binary = VENV_BIN / "py-spy"
    if not binary.exists():
        return None
    return _spawn([str(binary), "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(out),
                   "--nonblocking"], cwd=ROOT, log=log)


def pyspy_stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        stop(proc)


def fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


