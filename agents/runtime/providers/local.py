"""Offline deterministic model ("echo") for development, demos and tests.

The reply proves the model received the history: ``Turn N.`` (number of user turns),
``Earlier you said: "…".`` (previous user message, if any), then ``You said: "…"``.
When ``calculator`` is offered and the last user message contains an arithmetic
expression, the first round calls it (no text before the call); likewise
``current_time`` when the message mentions time/clock/date (timezone: an IANA name
found in the message, else UTC). Once tool results are back it answers from them.

Any attached tool (an MCP server's too) can be called deterministically with a message
whose first line is ``/tool <name> {json arguments}`` (arguments optional, default
``{}``): the first round calls exactly that tool, the next answers with its result
(``The <name> tool returned: …``). An unknown name gets a reply listing the tools
offered; arguments that are not a JSON object are passed on as invalid (the loop
answers with an error result, and so does this model).

With the ``remember``/``recall`` tools offered (agent memory), "remember that …" saves
what follows and "what do you remember?" recalls (the first round calls the tool). A
summarizer request (``runtime/summarize.py``) gets a deterministic extractive summary:
the previous summary's lines plus one line per new user message, the first lines and the
newest ones kept when it grows long.

Streams word by word, sleeping ``PROMPTRAILS_LOCAL_MODEL_DELAY`` seconds per word
(default 0.02).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncGenerator
from typing import Any
from zoneinfo import available_timezones

from ..context_window import estimate_tokens, message_tokens
from ..summarize import SUMMARIZER_MARKER, parse_summarizer_input
from ..types import (
    INVALID_ARGUMENTS_KEY,
    Finish,
    Message,
    ModelRequest,
    ProviderChunk,
    TextDelta,
    ToolCall,
    Usage,
)

DEFAULT_DELAY = 0.02
_EXPRESSION = re.compile(r"[-+(]*\d[\d.\s()+\-*/%]*")
_TIME_WORDS = re.compile(r"\b(time|clock|date|day|hour)\b", re.IGNORECASE)
_TOOL_COMMAND = re.compile(r"\A\s*/tool\s+(\S+)[ \t]*(.*)\Z", re.DOTALL)
_REMEMBER = re.compile(r"\bremember that\s+(.+)", re.IGNORECASE | re.DOTALL)
_RECALL = re.compile(r"\bwhat do you (?:remember|know about me)\b", re.IGNORECASE)
SUMMARY_HEAD_LINES = 8
SUMMARY_TAIL_LINES = 24
_ZONE = re.compile(r"\b[A-Z][A-Za-z_]+(?:/[A-Za-z_\-]+)+\b|\bUTC\b")


def _delay() -> float:
    try:
        return max(0.0, float(os.environ.get("PROMPTRAILS_LOCAL_MODEL_DELAY", DEFAULT_DELAY)))
    except ValueError:
        return DEFAULT_DELAY


def find_expression(text: str) -> str | None:
    """Longest substring that looks like arithmetic with at least one operator."""
    best: str | None = None
    for match in _EXPRESSION.finditer(text):
        candidate = match.group(0).strip().rstrip(".")
        # Trim unbalanced trailing/leading parens and dangling operators.
        while candidate and candidate[-1] in "+-*/%(":
            candidate = candidate[:-1].rstrip()
        while candidate.count(")") > candidate.count("(") and candidate.endswith(")"):
            candidate = candidate[:-1]
        if not re.search(r"\d\s*(\*\*|//|[-+*/%])\s*[-+(]*\d", candidate):
            continue
        if candidate.count("(") != candidate.count(")"):
            continue
        if best is None or len(candidate) > len(best):
            best = candidate
    return best


def find_timezone(text: str) -> str:
    zones = available_timezones()
    for match in _ZONE.finditer(text):
        if match.group(0) in zones:
            return match.group(0)
    return "UTC"


def tool_command(text: str) -> tuple[str, dict[str, Any]] | None:
    """``(name, arguments)`` of a ``/tool <name> {json}`` message, else None."""
    match = _TOOL_COMMAND.match(text)
    if match is None:
        return None
    name, raw = match.group(1), match.group(2).strip()
    if not raw:
        return name, {}
    try:
        arguments = json.loads(raw)
    except ValueError:
        return name, {INVALID_ARGUMENTS_KEY: raw}
    if not isinstance(arguments, dict):
        return name, {INVALID_ARGUMENTS_KEY: raw}
    return name, arguments


def _quote(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def extractive_summary(request: ModelRequest) -> str:
    """The previous summary's lines plus one per new user message (quoted); when longer
    than head + tail lines, the oldest ones after the head are dropped."""
    last = request.messages[-1].content if request.messages else ""
    previous, new = parse_summarizer_input(last)
    lines = [line for line in previous.split("\n") if line.strip()]
    for line in new:
        role, _, text = line.partition(": ")
        if role == "user" and text.strip():
            lines.append(f'- The user said: "{_quote(text, 160)}"')
    if len(lines) > SUMMARY_HEAD_LINES + SUMMARY_TAIL_LINES:
        lines = lines[:SUMMARY_HEAD_LINES] + lines[-SUMMARY_TAIL_LINES:]
    return "\n".join(lines) or "- Nothing of note was said."


def plan_reply(request: ModelRequest) -> tuple[list[ToolCall], str]:
    """Deterministically decide tool calls (first round) or the reply text."""
    if request.system.startswith(SUMMARIZER_MARKER):
        return [], extractive_summary(request)
    messages = request.messages
    user_indexes = [i for i, m in enumerate(messages) if m.role == "user"]
    turn = len(user_indexes)
    last_user = messages[user_indexes[-1]].content if user_indexes else ""
    after_user = messages[user_indexes[-1] + 1 :] if user_indexes else messages
    tool_results = [m for m in after_user if m.role == "tool"]
    tool_names = {t.name for t in request.tools}

    prefix = f"Turn {turn}."
    if len(user_indexes) >= 2:
        prefix += f' Earlier you said: "{_quote(messages[user_indexes[-2]].content)}".'

    if tool_results:
        calls = {c.id: c for m in after_user if m.role == "assistant" for c in m.tool_calls}
        sentences = [_result_sentence(result, calls.get(result.tool_call_id or ""))
                     for result in tool_results]
        return [], f"{prefix} " + " ".join(sentences)

    command = tool_command(last_user)
    if command is not None:
        name, arguments = command
        if name in tool_names:
            return [ToolCall(id=f"call_local_{turn}_0", name=name, arguments=arguments)], ""
        offered = ", ".join(sorted(tool_names)) or "none"
        return [], f"{prefix} There is no tool named {name!r} here (tools: {offered})."

    calls_out = _calls_for(last_user, tool_names, turn)
    if calls_out:
        return calls_out, ""
    return [], f'{prefix} You said: "{_quote(last_user)}"'


def _result_sentence(result: Message, call: ToolCall | None) -> str:
    """How the reply tells one tool result."""
    name = result.name or (call.name if call else "tool")
    args = call.arguments if call else {}
    if result.content.startswith("Error"):
        return f"The {name} tool failed: {result.content}"
    if name == "calculator":
        return f"The calculator says {args.get('expression', '?')} = {result.content}."
    if name == "remember":
        return f"I will remember that. ({result.content})"
    if name == "recall":
        return f"Here is what I remember:\n{result.content}"
    if name == "current_time":
        zone = args.get("timezone") or "UTC"
        return f"The current time in {zone} is {result.content}."
    return f"The {name} tool returned: {result.content}"


def _calls_for(text: str, tool_names: set[str], turn: int) -> list[ToolCall]:
    """The tool calls a message asks for in plain words (remember, recall, arithmetic,
    the time), among the tools offered."""
    if "remember" in tool_names and (match := _REMEMBER.search(text)):
        fact = match.group(1).strip()
        return [ToolCall(id=f"call_local_{turn}_0", name="remember",
                         arguments={"content": fact})]
    if "recall" in tool_names and _RECALL.search(text):
        return [ToolCall(id=f"call_local_{turn}_0", name="recall", arguments={})]
    calls: list[ToolCall] = []
    if "calculator" in tool_names:
        expression = find_expression(text)
        if expression:
            calls.append(ToolCall(id=f"call_local_{turn}_{len(calls)}", name="calculator",
                                  arguments={"expression": expression}))
    if "current_time" in tool_names and _TIME_WORDS.search(text):
        calls.append(ToolCall(id=f"call_local_{turn}_{len(calls)}", name="current_time",
                              arguments={"timezone": find_timezone(text)}))
    return calls


def _prompt_tokens(request: ModelRequest) -> int:
    return estimate_tokens(request.system) + sum(message_tokens(m) for m in request.messages)


def _words(text: str) -> list[str]:
    parts = re.findall(r"\S+\s*", text)
    return parts or ([text] if text else [])


class LocalProvider:
    name = "local"

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ProviderChunk, None]:
        delay = _delay()
        calls, text = plan_reply(request)
        if request.max_tokens is not None and text:
            words = _words(text)[: max(1, request.max_tokens)]
            text = "".join(words)
        completion = 0
        for call in calls:
            if delay:
                await asyncio.sleep(delay)
            completion += message_tokens(Message(role="assistant", content="", tool_calls=(call,)))
            yield call
        for word in _words(text):
            if delay:
                await asyncio.sleep(delay)
            yield TextDelta(word)
        completion += estimate_tokens(text)
        yield Usage(prompt_tokens=_prompt_tokens(request), completion_tokens=completion)
        yield Finish("tool_calls" if calls else "stop")
