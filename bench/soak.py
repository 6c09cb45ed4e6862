"""Soak: N concurrent chats for a while on PostgreSQL + Redis, with disconnects and cancels.

    python -m bench.soak [--minutes 10] [--chats 50]      (make soak)

Prints RSS, open database connections, running turns/asyncio tasks over time and the
errors, then checks that nothing was lost: every accepted user message has a finished
execution and, unless it failed or was cancelled, a reply. Writes bench/SOAK.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"


def sh(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True,
                          text=True).stdout


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pg_connections(db: str) -> int:
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc",
         f"select count(*) from pg_stat_activity where datname = '{db}'"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    return int(out or 0)


class Soak:
    def __init__(self, base: str, key: str, agent_id: str) -> None:
        self.base, self.key, self.agent_id = base, key, agent_id
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []

    async def _new_session(self, client: httpx.AsyncClient) -> str:
        response = await client.post("/api/v1/chat/sessions",
                                     json={"agent_id": self.agent_id, "title": "soak"})
        return str(response.json()["data"]["id"])

    async def chat(self, client: httpx.AsyncClient, deadline: float,
                   turns_per_session: int) -> None:
        """Conversations of `turns_per_session` actions, one after another (one endless
        session per chat would make every turn carry a longer history than the last)."""
        session = await self._new_session(client)
        actions = 0
        while time.monotonic() < deadline:
            if turns_per_session and actions >= turns_per_session:
                session, actions = await self._new_session(client), 0
            actions += 1
            action = random.choices(["stream", "disconnect", "cancel", "rest"],
                                    [60, 15, 10, 15])[0]
            try:
                await getattr(self, action)(client, session)
                self.counts[action] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                self.errors.append(f"{action}: {type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(random.random() * 0.2)

    async def _post_stream(self, client: httpx.AsyncClient, session: str,
                           stop_after: int | None, cancel: bool) -> None:
        words = " ".join(f"w{i}" for i in range(random.randint(5, 40)))
        url = f"/api/v1/chat/sessions/{session}/messages/stream"
        async with client.stream("POST", url, json={"content": words}) as response:
            if response.status_code == 409:
                self.counts["busy"] += 1
                await asyncio.sleep(0.3)
                return
            if response.status_code != 200:
                raise RuntimeError(f"stream status {response.status_code}")
            seen, execution = 0, None
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                seen += 1
                if event["type"] == "execution":
                    execution = event["execution_id"]
                if cancel and seen == 4 and execution:
                    await client.post(f"/api/v1/executions/{execution}/cancel")
                if stop_after is not None and seen >= stop_after:
                    return  # the client goes away; the turn goes on
                if event["type"] in ("done", "error"):
                    return
            raise RuntimeError("stream ended without a terminal event")

    async def stream(self, client: httpx.AsyncClient, session: str) -> None:
        await self._post_stream(client, session, None, cancel=False)

    async def disconnect(self, client: httpx.AsyncClient, session: str) -> None:
        await self._post_stream(client, session, random.randint(2, 6), cancel=False)

    async def cancel(self, client: httpx.AsyncClient, session: str) -> None:
        await self._post_stream(client, session, None, cancel=True)

    async def rest(self, client: httpx.AsyncClient, session: str) -> None:
        response = await client.post(f"/api/v1/chat/sessions/{session}/messages",
                                     json={"content": "a short question"})
        if response.status_code == 409:
            self.counts["busy"] += 1
            await asyncio.sleep(0.3)
        elif response.status_code != 201:
            raise RuntimeError(f"send status {response.status_code}: {response.text[:200]}")


async def sample(base: str, pid: int, db: str, deadline: float, rows: list[dict[str, Any]],
                 started: float, every: float) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while time.monotonic() < deadline:
            process = (await client.get("/healthz?verbose=1")).json().get("process", {})
            rows.append({"t": int(time.monotonic() - started), "rss_mb": round(rss_mb(pid), 1),
                         "db_conns": pg_connections(db), **process})
            await asyncio.sleep(every)


def verify(env: dict[str, str]) -> dict[str, int]:
    script = (
        "import json, django; django.setup()\n"
        "from chat.models import Message\n"
        "from executions.models import Execution\n"
        "users = Message.objects.filter(role='user')\n"
        "ex = {e.id: e.status for e in Execution.objects.all()}\n"
        "replied = set(Message.objects.filter(role='assistant')"
        ".values_list('execution_id', flat=True))\n"
        "lost = [m.id for m in users if ex.get(m.execution_id) not in "
        "('completed', 'failed', 'cancelled') or (ex.get(m.execution_id) == 'completed' "
        "and m.execution_id not in replied)]\n"
        "print(json.dumps({'user_messages': users.count(), 'lost': len(lost), "
        "'statuses': dict(__import__('collections').Counter(ex.values()))}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--turns-per-session", type=int, default=20,
                        help="actions per conversation before the chat starts a new session "
                             "(0: one session per chat for the whole run)")
    args = parser.parse_args()
    db = f"soak_{secrets.token_hex(4)}"
    env = {**os.environ, "DATABASE_URL": f"{PG}/{db}", "REDIS_URL": "redis://127.0.0.1:6379/0",
           "REDIS_PREFIX": db, "PROMPTRAILS_LOCAL_MODEL_DELAY": "0.01",
           "DJANGO_SETTINGS_MODULE": "promptrails.settings",
           # production settings: DEBUG=1 keeps every query in memory per DB thread (9,000
           # each), which a soak would otherwise measure as growth
           "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
           "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "0",
           "PROMPTRAILS_RATE_LIMIT_KEY_PER_MINUTE": "0",
           "PROMPTRAILS_RATE_LIMIT_WORKSPACE_PER_MINUTE": "0", "PYTHONPATH": str(ROOT)}
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", db], check=True)
    sh(sys.executable, "manage.py", "migrate", "-v0", env=env)
    boot = json.loads(sh(sys.executable, "manage.py", "bootstrap", "--workspace", "Soak",
                         "--json", env=env))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "promptrails.asgi:application",
                               "--port", str(port), "--lifespan", "off", "--no-access-log"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(ROOT / "var" / f"{db}.log", "w"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        soak = Soak(base, boot["api_key"], boot["agent_id"])
        started = time.monotonic()
        deadline = started + args.minutes * 60
        rows: list[dict[str, Any]] = []
        limits = httpx.Limits(max_connections=args.chats * 2)
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": boot["api_key"]},
                                     timeout=60, limits=limits) as client:
            await asyncio.gather(
                sample(base, server.pid, db, deadline + 15, rows, started,
                       max(args.minutes * 6, 5)),
                *(soak.chat(client, deadline, args.turns_per_session)
                  for _ in range(args.chats)),
            )
        result = verify(env)
    finally:
        server.terminate()
        server.wait(10)
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", db],
                       check=False)
    table = ["| t (s) | RSS MB | Python blocks (k) | DB conns | running turns | asyncio tasks |",
             "|---|---|---|---|---|---|"]
    table += [f"| {r['t']} | {r['rss_mb']} | {r.get('python_blocks', 0) // 1000} | "
              f"{r['db_conns']} | {r.get('runs', '?')} | {r.get('tasks', '?')} |" for r in rows]
    summary = (f"{args.chats} chats for {args.minutes} min on PostgreSQL + Redis: "
               f"actions {dict(soak.counts)}, errors {len(soak.errors)}, "
               f"user messages {result['user_messages']}, lost {result['lost']}, "
               f"execution statuses {result['statuses']}")
    report = "\n".join([f"# Soak ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
                        f"Command: `python -m bench.soak --minutes {args.minutes} "
                        f"--chats {args.chats} --turns-per-session {args.turns_per_session}`",
                        "", summary, "", *table, "",
                        *[f"- error: {e}" for e in soak.errors[:20]], ""])
    print(report)
    (ROOT / "bench" / "SOAK.md").write_text(report)
    if soak.errors or result["lost"]:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
