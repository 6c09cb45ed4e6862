"""Token estimation and history fitting.

Heuristic (no tokenizer dependency): ``estimate_tokens(text) = ceil(len(text) / 4)``;
each message additionally costs :data:`MESSAGE_OVERHEAD` tokens (role / framing), and
an assistant message's tool calls cost the estimate of their JSON encoding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from .types import Message, ModelSpec

MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """Rough token count: one token per 4 characters, rounded up."""
    return math.ceil(len(text) / 4) if text else 0


def message_tokens(message: Message) -> int:
    """Estimated tokens of one message including per-message overhead."""
    tokens = MESSAGE_OVERHEAD + estimate_tokens(message.content)
    for call in message.tool_calls:
        tokens += estimate_tokens(call.name) + estimate_tokens(
            json.dumps(call.arguments, ensure_ascii=False)
        )
    return tokens


def fit_history(newest_first: Iterable[Message], budget_tokens: int) -> list[Message]:
    """Take messages newest-first while they fit in ``budget_tokens``.

    The iterable is consumed lazily and abandoned as soon as a message does not fit
    (so at most ``len(result) + 1`` items are pulled). Returns oldest-first, with any
    leading ``tool`` messages dropped (their assistant tool-call message was cut off).
    """
    taken: list[Message] = []
    used = 0
    for message in newest_first:
        cost = message_tokens(message)
        if used + cost > budget_tokens:
            break
        taken.append(message)
        used += cost
    taken.reverse()
    start = 0
    while start < len(taken) and taken[start].role == "tool":
        start += 1
    return taken[start:]


def history_budget(spec: ModelSpec, max_tokens: int | None, system: str, user_message: str) -> int:
    """Tokens left for history: window - output reserve - system - new message."""
    reserve = max_tokens if max_tokens is not None else spec.max_output_tokens
    budget = (
        spec.context_window
        - reserve
        - (estimate_tokens(system) + MESSAGE_OVERHEAD)
        - message_tokens(Message(role="user", content=user_message))
    )
    return max(0, budget)
