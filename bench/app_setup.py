"""Server-side setup for a benchmark run, run as a subprocess with the server's environment.

    python -m bench.app_setup '{"fake_url": ..., "sessions": N, "history": [10, 10000],
                                "short_sessions": 50, "long_sessions": 15}'

Migrates, bootstraps a workspace + API key, registers the fake model (LLM model rows:
``bench-model`` streams the default reply, ``bench-hist-t10`` replies 10 tokens with an 8k
window, ``bench-model-t20`` replies 20 tokens, ``bench-model-t1000`` 1,000 tokens), creates
a prompt, four agents with current versions, N empty sessions, ``short_sessions`` (default
10) sessions of the 20-token agent, ``long_sessions`` (default 0) of the 1,000-token agent
and one session per history size with that many prior messages (bulk SQL). Prints one JSON
object.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _django() -> None:
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptrails.settings")
    import django

    django.setup()


def _insert_history(session: Any, n: int, tag: int) -> None:
    """n alternating user/assistant messages, ids sorting before any real KSUID."""
    from django.db import connection
    from django.utils import timezone

    from chat.models import Message

    table = Message._meta.db_table
    columns = ["id", "session_id", "role", "content", "metadata", "model", "token_count",
               "prompt_tokens", "completion_tokens", "cost", "created_at"]
    text = "lorem ipsum dolor sit amet, consectetur adipiscing elit"
    now = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                "SELECT %s || lpad(i::text, 24, '0'), %s, "
                "CASE WHEN i %% 2 = 0 THEN 'user' ELSE 'assistant' END, i::text || ' ' || %s, "
                "'{}'::jsonb, '', 0, 0, 0, 0, %s FROM generate_series(0, %s) AS i",
                [f"0{tag:02d}", session.id, text, now, n - 1],
            )
        else:  # one statement: a recursive CTE is ~10x faster than executemany
            cursor.execute(
                "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %s) "
                f"INSERT INTO {table} ({', '.join(columns)}) "
                "SELECT printf('0%%02d%%024d', %s, i), %s, "
                "CASE WHEN i %% 2 = 0 THEN 'user' ELSE 'assistant' END, i || ' ' || %s, "
                "'{}', '', 0, 0, 0, 0, %s FROM s",
                [n - 1, tag, session.id, text, now],
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")


SHORT_MODEL = "bench-model-t20"  # 20-token replies: the 1-stream rows measure time to first token
LONG_MODEL = "bench-model-t1000"  # long replies: the server's CPU per streamed token


def main() -> None:
    params = json.loads(sys.argv[1])
    _django()
    from django.core.management import call_command
    from django.db import transaction

    from agents.models import LLMModel
    from agents.services import (
        agent_create,
        agent_version_create,
        builtin_tools_ensure,
        prompt_create,
    )
    from chat.models import Session
    from promptrails.services import api_key_create, workspace_get_or_create

    call_command("migrate", interactive=False, verbosity=0)
    fake = params["fake_url"]
    with transaction.atomic():
        workspace, _ = workspace_get_or_create(name="Bench")
        _, api_key = api_key_create(workspace=workspace, name="bench")
        builtin_tools_ensure(workspace=workspace)
        LLMModel.objects.update_or_create(
            provider="openai", model_id="bench-model",
            defaults={"display_name": "bench", "base_url": fake, "max_tokens": 128_000})
        LLMModel.objects.update_or_create(
            provider="openai", model_id="bench-hist-t10",
            defaults={"display_name": "bench history", "base_url": fake, "max_tokens": 8_000})
        for model_id, name in ((SHORT_MODEL, "short"), (LONG_MODEL, "long")):
            LLMModel.objects.update_or_create(
                provider="openai", model_id=model_id,
                defaults={"display_name": f"bench {name}", "base_url": fake,
                          "max_tokens": 128_000})
        prompt = prompt_create(workspace=workspace, name="bench", initial_version={
            "system_prompt": "You are a benchmark assistant. Answer briefly."})
        agents = {}
        for name, model, max_tokens in (("stream", "bench-model", 1024),
                                        ("history", "bench-hist-t10", 1024),
                                        ("short", SHORT_MODEL, 1024),
                                        ("long", LONG_MODEL, 4096)):
            agent = agent_create(workspace=workspace, name=f"bench-{name}")
            agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.id},
                                 set_current=True,
                                 model_config={"model_id": model, "max_tokens": max_tokens})
            agents[name] = agent
        sessions = Session.objects.bulk_create(
            [Session(workspace=workspace, agent=agents["stream"], title=f"bench {i}")
             for i in range(params.get("sessions", 0))], batch_size=500)
        short = Session.objects.bulk_create(
            [Session(workspace=workspace, agent=agents["short"], title=f"short {i}")
             for i in range(params.get("short_sessions", 10))], batch_size=500)
        long = Session.objects.bulk_create(
            [Session(workspace=workspace, agent=agents["long"], title=f"long {i}")
             for i in range(params.get("long_sessions", 0))], batch_size=500)
        history = {}
        for n in params.get("history", []):
            session = Session.objects.create(workspace=workspace, agent=agents["history"],
                                             title=f"history {n}")
            history[str(n)] = session.id
    for tag, (n, session_id) in enumerate(history.items()):
        _insert_history(Session.objects.get(pk=session_id), int(n), tag)
    print(json.dumps({"api_key": api_key, "workspace_id": workspace.id,
                      "agents": {k: a.id for k, a in agents.items()},
                      "sessions": [s.id for s in sessions], "history": history,
                      "short": [s.id for s in short], "long": [s.id for s in long]}))


if __name__ == "__main__":
    main()
