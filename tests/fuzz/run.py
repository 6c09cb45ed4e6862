"""Fuzz the HTTP API with schemathesis against its own OpenAPI document (issue 9).

    .venv/bin/python -m tests.fuzz.run [--max-examples N] [--budget SECONDS] [schemathesis args]

Starts the app (uvicorn on a free port) on a throwaway SQLite database in a temporary
PROMPTRAILS_DATA_DIR, migrates, bootstraps a workspace (API key, demo agent on the local
model), creates a few objects so path ids can resolve, then runs every operation of
/api/v1/openapi.json with a bounded number of examples each. Fails (exit code != 0) on any
5xx, undocumented status code or content type, or response not matching its schema.
Independent of the pytest suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server did not start:\n{log.read_text(errors='replace')}")


def seed(url: str, key: str, agent_id: str) -> dict[str, list[str]]:
    """Objects for the path parameters: one of each kind, plus a finished execution."""
    client = httpx.Client(base_url=f"{url}/api/v1", headers={"X-API-Key": key}, timeout=60)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body)
        response.raise_for_status()
        return dict(response.json()["data"])

    agent = client.get(f"/agents/{agent_id}").json()["data"]
    prompt_id = agent["current_version"]["config"]["prompt_id"]
    prompt = client.get(f"/prompts/{prompt_id}").json()["data"]
    session = post("/chat/sessions", {"agent_id": agent_id, "title": "fuzz"})
    sent = post(f"/chat/sessions/{session['id']}/messages", {"content": "hello"})
    executed = post(f"/agents/{agent_id}/execute", {"input": {"message": "hi"}})
    credential = post("/credentials", {"name": "fuzz", "type": "openai", "value": "sk-fuzz-1234"})
    models = client.get("/llm-models").json()["data"]
    tools = client.get("/mcp-tools").json()["data"]
    spans = client.get("/traces").json()["data"]
    return {
        "agent_id": [agent_id],
        "prompt_id": [prompt_id],
        "version_id": [agent["current_version_id"], prompt["current_version_id"]],
        "session_id": [session["id"]],
        "execution_id": [sent["execution_id"], executed["id"]],
        "credential_id": [credential["id"]],
        "model_pk": [m["id"] for m in models[:3]],
        "tool_id": [t["id"] for t in tools[:3]],
        "trace_id": sorted({s["trace_id"] for s in spans})[:3],
    }


def config(ids: dict[str, list[str]], probability: float) -> str:
    """schemathesis.toml: path ids drawn from the seeded objects most of the time."""
    lines = []
    for name, values in ids.items():
        if values:
            lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name, values in ids.items():
        if values:
            lines.append(f'"path.{name}" = {{ dictionary = "{name}", '
                         f"probability = {probability} }}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--budget", type=float, default=420, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, report)")
    args, extra = parser.parse_known_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="promptrails-fuzz-"))
    env = {**os.environ, "PROMPTRAILS_DATA_DIR": str(tmp), "DEBUG": "1",
           "PROMPTRAILS_LOCAL_MODEL_DELAY": "0.001",
           # the fuzzer is one client sending many requests: keep it under the limits
           "PROMPTRAILS_RATE_LIMIT_KEY_PER_MINUTE": "1000000",
           "PROMPTRAILS_RATE_LIMIT_WORKSPACE_PER_MINUTE": "1000000"}
    for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    started = time.monotonic()
    manage(env, "migrate", "--noinput")
    boot = json.loads(manage(env, "bootstrap", "--json").strip().splitlines()[-1])

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "promptrails.asgi:application", "--host",
             "127.0.0.1", "--port", str(port), "--lifespan", "off", "--no-access-log"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    code = 1
    try:
        wait_healthy(url, server, log)
        ids = seed(url, boot["api_key"], boot["agent_id"])
        config_path = tmp / "schemathesis.toml"
        config_path.write_text(config(ids, probability=0.75))
        command = [
            str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config_path),
            "run", f"{url}/api/v1/openapi.json",
            "--header", f"X-API-Key: {boot['api_key']}",
            "--checks", CHECKS,
            "--max-examples", str(args.max_examples),
            "--workers", "2",
            "--request-timeout", "30",
            "--suppress-health-check", "all",
            "--report", "junit", "--report-dir", str(tmp / "report"),
            *(["--seed", str(args.seed)] if args.seed is not None else []),
            *extra,
        ]
        remaining = max(30.0, args.budget - (time.monotonic() - started))
        print("fuzz:", " ".join(c if "X-API-Key" not in c else "X-API-Key: ***"
                                for c in command[1:]), flush=True)
        try:
            code = subprocess.run(command, cwd=tmp, timeout=remaining, check=False).returncode
        except subprocess.TimeoutExpired:
            print(f"fuzz: over the {args.budget:.0f}s budget", file=sys.stderr)
            code = 1
        errors = [line for line in log.read_text(errors="replace").splitlines()
                  if "Traceback" in line or "ERROR" in line]
        if errors:
            print("fuzz: the server logged errors:\n" + "\n".join(errors[:20]), file=sys.stderr)
            code = code or 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        print(f"fuzz: {'passed' if code == 0 else 'FAILED'} in "
              f"{time.monotonic() - started:.0f}s (server log: {log})", flush=True)
        if code == 0 and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
