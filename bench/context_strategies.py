"""Context strategies side by side: `python -m bench.context_strategies [--turns 2000]`.

One long conversation per strategy (``window``, then ``summary``), run in this process on
the real turn path (turn_start → runner → provider client → rolling-summary follow-up) with
an embedded SQLite database in a temporary directory and the fake OpenAI server of
tests/fakes as the model (chat turns get a short reply; summarizer calls a short summary).
Each user message is ~35 tokens; the model's context window is --window tokens (200 of
them for the reply). Prompt tokens are what the fake bills for a request (its JSON body
length / 4, as tests/fakes/server.py estimates). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

FILLER = " ".join(f"w{i}" for i in range(24))


def _p95(values: list[int]) -> float:
    ordered = sorted(values)
    rank = 0.95 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _setup(strategy: str, base_url: str, window: int) -> tuple[Any, str]:
    from agents.models import LLMModel
    from chat import services as chat_services
    from tests.chat.support import fake_openai_agent
    from tests.helpers import make_tenant

    tenant = make_tenant(f"Bench {strategy}")
    agent = fake_openai_agent(workspace=tenant.workspace, base_url=base_url,
                              name=f"Bench {strategy}")
    LLMModel.objects.filter(model_id="fake-gpt").update(max_tokens=window,
                                                        max_output_tokens=200)
    version = agent.versions.get(is_current=True)
    version.config = {**version.config, "context": {"strategy": strategy}}
    version.save(update_fields=["config"])
    tenant.workspace.config_revision += 1
    tenant.workspace.save(update_fields=["config_revision"])
    session = chat_services.session_create(workspace=tenant.workspace, agent_id=agent.id,
                                           title="", metadata={}, user_id=None)
    return tenant.workspace, session.id


async def _run(strategy: str, fake: Any, turns: int, window: int) -> dict[str, Any]:
    from agents.runtime.summarize import SUMMARIZER_MARKER
    from chat import services as chat_services
    from chat import summaries
    from executions import runner
    from promptrails.db import run_db
    from tests.fakes.server import FakeReply, estimate_prompt_tokens

    def is_summarizer(body: Any) -> bool:
        first = (body.get("messages") or [{}])[0]
        return first.get("role") == "system" and str(first.get("content", "")).startswith(
            SUMMARIZER_MARKER)

    summarized = [0]

    def next_reply(body: Any) -> FakeReply:
        if is_summarizer(body):
            summarized[0] += 1
            return FakeReply(text=f"Summary {summarized[0]}: the user sent numbered notes.")
        return FakeReply(text="Noted, thank you.")

    fake.reset()
    fake.next_reply = next_reply
    workspace, session_id = await run_db(_setup, strategy, fake.base_url, window)
    started = time.monotonic()
    for i in range(turns):
        turn = await run_db(chat_services.turn_start, workspace=workspace,
                            session_id=session_id, content=f"message {i}: {FILLER}")
        assert turn.spec is not None
        local = runner.start(turn.spec)
        await asyncio.wait_for(local.done.wait(), 60)
        await summaries.wait_idle()
        if local.finished is None or local.finished.status != "completed":
            raise RuntimeError(f"turn {i} of {strategy} did not complete")
    wall = time.monotonic() - started
    bodies = [r.json for r in fake.chat_requests()]
    chat = [estimate_prompt_tokens(b) for b in bodies if not is_summarizer(b)]
    folds = [estimate_prompt_tokens(b) for b in bodies if is_summarizer(b)]
    assert len(chat) == turns, (len(chat), turns)
    return {"strategy": strategy, "turns": turns, "mean": statistics.fmean(chat),
            "p95": _p95(chat), "last": chat[-1], "max": max(chat),
            "calls": len(folds), "fold_tokens": sum(folds), "chat_tokens": sum(chat),
            "wall": wall}


def _table(rows: list[dict[str, Any]], window: int) -> str:
    lines = [
        "| strategy | turns | prompt tokens/turn mean | p95 | last | max | summarizer calls "
        "(per turn) | summarizer prompt tokens/turn | all prompt tokens/turn | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per_turn = r["calls"] / r["turns"]
        lines.append(
            f"| {r['strategy']} | {r['turns']:,} | {r['mean']:,.0f} | {r['p95']:,.0f} | "
            f"{r['last']:,} | {r['max']:,} | {r['calls']:,} ({per_turn:.3f}) | "
            f"{r['fold_tokens'] / r['turns']:,.0f} | "
            f"{(r['chat_tokens'] + r['fold_tokens']) / r['turns']:,.0f} | {r['wall']:.0f} |")
    lines.append("")
    lines.append(f"Context window {window:,} tokens (200 for the reply); ~35-token user "
                 "messages, 3-token replies.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--window", type=int, default=4000, help="context window, tokens")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="bench-context-")
    os.environ["PROMPTRAILS_DATA_DIR"] = data_dir
    os.environ["PROMPTRAILS_OUTBOUND_ALLOW"] = "127.0.0.1"  # the fake model's address
    for name in ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptrails.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from tests.fakes.openai_server import FakeOpenAIServer

    call_command("migrate", verbosity=0)
    fake = FakeOpenAIServer()
    fake.start()
    try:
        rows = [asyncio.run(_run(s, fake, args.turns, args.window))
                for s in ("window", "summary")]
    finally:
        fake.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"`python -m bench.context_strategies --turns {args.turns} --window {args.window}`")
    print()
    print(_table(rows, args.window))


if __name__ == "__main__":
    main()
