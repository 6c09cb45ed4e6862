"""Rolling summaries: fold the messages that fell out of the window into the last summary.

One model call per fold; its input is the previous summary plus only the messages folded
now (never the whole history), its output is clipped to :data:`SUMMARY_MAX_TOKENS`-ish, so
both the cost of a fold and the size of what later turns send stay bounded. Pure runtime:
no Django; the chat app decides what to fold and stores the result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .context_window import estimate_tokens
from .pricing import cost_for
from .types import Finish, Message, ModelRequest, ModelSpec, TextDelta, Usage

# The first line of the summarizer's system prompt; the offline model recognizes it and
# answers with a deterministic extractive summary (providers/local.py).
SUMMARIZER_MARKER = "You maintain the running summary of a conversation."
SUMMARIZER_SYSTEM = (
    f"{SUMMARIZER_MARKER}\n"
    "You get the summary so far (possibly empty) and the messages that came after it. "
    "Write the updated summary: keep every fact, name, number, decision and open question "
    "that may matter later; drop small talk. Plain text, third person, as short as "
    "possible. Answer with the summary only."
)
PREVIOUS_HEADER = "Summary so far:"
NEW_HEADER = "New messages:"
SUMMARY_MAX_TOKENS = 1024


def summary_max_tokens(spec: ModelSpec) -> int:
    """How long a summary may grow: 1/8 of the model's window, at most 1024 tokens."""
    return max(64, min(SUMMARY_MAX_TOKENS, spec.context_window // 8))


def transcript(messages: list[Message]) -> str:
    """The folded messages as `role: text` lines (tool calls and results shortened)."""
    lines = []
    for message in messages:
        if message.role == "tool":
            lines.append(f"tool {message.name or ''}: {message.content[:500]}")
        elif message.tool_calls and not message.content:
            names = ", ".join(c.name for c in message.tool_calls)
            lines.append(f"assistant called: {names}")
        else:
            lines.append(f"{message.role}: {message.content}")
    return "\n".join(lines)


def summarizer_input(previous: str, messages: list[Message]) -> str:
    return f"{PREVIOUS_HEADER}\n{previous or '(none)'}\n\n{NEW_HEADER}\n{transcript(messages)}"


def parse_summarizer_input(text: str) -> tuple[str, list[str]]:
    """(previous summary, new message lines) of a summarizer request (the offline model)."""
    head, _, new = text.partition(f"\n\n{NEW_HEADER}\n")
    previous = head.removeprefix(f"{PREVIOUS_HEADER}\n")
    return ("" if previous == "(none)" else previous), [x for x in new.split("\n") if x]


@dataclass(frozen=True)
class SummaryResult:
    content: str
    usage: Usage
    cost: float
    model_id: str
    provider: str
    started_at: float  # time.time()
    duration_ms: int


def clip_summary(text: str, max_tokens: int) -> str:
    """A summary never outgrows its share of the window, whatever the model answered."""
    text = text.strip()
    limit = max_tokens * 4
    if estimate_tokens(text) <= max_tokens:
        return text
    return text[: limit - 1].rstrip() + "…"


async def summarize(*, model: ModelSpec, previous: str, messages: list[Message],
                    request_timeout: float = 60.0) -> SummaryResult:
    """One summarizer call; raises on any provider error (the caller records it)."""
    limit = summary_max_tokens(model)
    request = ModelRequest(
        model=model, system=SUMMARIZER_SYSTEM,
        messages=(Message(role="user", content=summarizer_input(previous, messages)),),
        temperature=0.0, max_tokens=limit, timeout=request_timeout,
    )
    from .providers import get_provider  # providers.local imports this module

    started, clock = time.time(), time.monotonic()
    parts: list[str] = []
    usage = Usage()
    async for chunk in get_provider(model.provider).stream(request):
        if isinstance(chunk, TextDelta):
            parts.append(chunk.text)
        elif isinstance(chunk, Usage):
            usage = usage + chunk
        elif isinstance(chunk, Finish):
            break
    content = clip_summary("".join(parts), limit)
    if not content:
        raise ValueError("the summarizer returned an empty summary")
    return SummaryResult(content=content, usage=usage, cost=cost_for(usage, model),
                         model_id=model.model_id, provider=model.provider, started_at=started,
                         duration_ms=int((time.monotonic() - clock) * 1000))
