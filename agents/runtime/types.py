"""Frozen value types shared by the model runtime.

Pure Python: no Django imports. Everything the loop consumes or produces is a
frozen dataclass, except :class:`RunState`, which the loop mutates as it goes so the
runner can read partial progress when the run is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Key used in ToolCall.arguments when a model produced arguments that are not valid
# JSON. The loop feeds an error result back to the model instead of running the tool.
INVALID_ARGUMENTS_KEY = "__invalid_json__"


@dataclass(frozen=True)
class ModelSpec:
    provider: str  # "openai" | "anthropic" | "local"
    model_id: str
    api_key: str | None = None
    base_url: str | None = None
    input_price: float = 0.0  # USD per 1M tokens
    output_price: float = 0.0  # USD per 1M tokens
    cached_input_price: float | None = None  # USD per 1M tokens
    context_window: int = 128_000
    max_output_tokens: int = 4096
    supports_tools: bool = True


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant | tool
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema


@dataclass(frozen=True)
class ModelRequest:
    model: ModelSpec
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    timeout: float = 60.0


# --- provider chunks -------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0  # includes cached / cache-creation input tokens
    completion_tokens: int = 0  # includes reasoning tokens
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_creation_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cache_creation_tokens=self.cache_creation_tokens + other.cache_creation_tokens,
        )


@dataclass(frozen=True)
class Finish:
    reason: str


ProviderChunk = TextDelta | ThinkingDelta | ToolCall | Usage | Finish


# --- agent run -------------------------------------------------------------------


@dataclass(frozen=True)
class RunBudget:
    max_tool_calls: int = 10
    max_total_tokens: int | None = None
    max_cost: float | None = None


@dataclass(frozen=True)
class AgentRun:
    model: ModelSpec
    system: str
    history: tuple[Message, ...]
    user_message: str
    fallback: ModelSpec | None = None
    # built-in tool names, or runtime.tools.Tool objects (e.g. an MCP server's tools)
    tools: tuple[Any, ...] = ()
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    budget: RunBudget = field(default_factory=RunBudget)
    timeout: float = 60.0
    max_retries: int = 2
    retry_base_delay: float = 0.5
    # names of tools a person must approve: a call to one parks the run (RunResult.parked)
    approval_required: frozenset[str] = frozenset()
    # a parked run continued after the decision (messages come from here, not history)
    resume: Resume | None = None


@dataclass(frozen=True)
class Parked:
    """Where a run stopped to wait for a person: the conversation so far (ending with the
    assistant message that made the calls and the results of the calls already run) and
    the calls not run yet, the first of which needs approval."""

    messages: tuple[Message, ...]
    pending: tuple[ToolCall, ...]
    tool_calls_used: int


@dataclass(frozen=True)
class Resume:
    """A parked run continued: ``approved`` decides the first pending call (run, or
    answered "denied by a reviewer: <reason>"); the state is what the run had so far."""

    parked: Parked
    approved: bool
    reason: str
    content: str
    usage: Usage
    cost: float
    model_id: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_runs: tuple[ToolRun, ...] = ()
    llm_calls: tuple[LlmCall, ...] = ()


# --- loop events (turned into SSE events by the streaming layer) -------------------


@dataclass(frozen=True)
class ContentEvent:
    content: str


@dataclass(frozen=True)
class ThinkingEvent:
    content: str


@dataclass(frozen=True)
class ToolStartEvent:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolEndEvent:
    id: str
    name: str
    summary: str
    result: str
    error: str | None
    duration_ms: int


RunEvent = ContentEvent | ThinkingEvent | ToolStartEvent | ToolEndEvent


# --- trace records -----------------------------------------------------------------


@dataclass(frozen=True)
class LlmCall:
    """One logical model call (per round and per model tried; retries are folded in)."""

    provider: str
    model_id: str
    usage: Usage
    cost: float
    ttft_ms: int | None
    duration_ms: int
    finish_reason: str | None
    attempts: int
    fallback: bool
    error: str | None
    started_at: float  # time.time()


@dataclass(frozen=True)
class ToolRun:
    id: str
    name: str
    arguments: dict[str, Any]
    result: str
    error: str | None
    duration_ms: int
    started_at: float  # time.time()
    kind: str = "builtin"  # the tool's kind: "builtin" | "mcp"
    attributes: dict[str, Any] = field(default_factory=dict, compare=False)  # for the trace


@dataclass(frozen=True)
class RunResult:
    """How one run ended: the one shape the loop returns, the runner stores and the
    starter's hooks get. ``execution_id`` and ``duration_ms`` are the runner's to fill in
    (the loop knows no execution)."""

    status: str  # completed | failed | cancelled | parked (then ``parked`` says where)
    content: str
    usage: Usage
    cost: float
    model_id: str
    error: str | None = None
    incomplete: bool = False
    tool_calls: tuple[ToolCall, ...] = ()
    tool_runs: tuple[ToolRun, ...] = ()
    llm_calls: tuple[LlmCall, ...] = ()
    parked: Parked | None = None
    execution_id: str = ""
    duration_ms: int = 0

    def token_usage(self) -> dict[str, int]:
        usage = {
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "total_tokens": self.usage.total_tokens,
        }
        if self.usage.cached_tokens:
            usage["cached_tokens"] = self.usage.cached_tokens
        if self.usage.reasoning_tokens:
            usage["reasoning_tokens"] = self.usage.reasoning_tokens
        return usage


@dataclass
class RunState:
    """The progress of a run while it runs, kept up to date by the loop: the runner reads
    it when the run is cancelled (:meth:`result` makes the frozen :class:`RunResult`)."""

    content: str = ""
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    model_id: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_runs: list[ToolRun] = field(default_factory=list)
    llm_calls: list[LlmCall] = field(default_factory=list)
    first_token_at: float | None = None

    def result(self, status: str, error: str | None = None,
               incomplete: bool = False) -> RunResult:
        return RunResult(
            status=status, content=self.content, usage=self.usage, cost=self.cost,
            model_id=self.model_id, error=error, incomplete=incomplete,
            tool_calls=tuple(self.tool_calls), tool_runs=tuple(self.tool_runs),
            llm_calls=tuple(self.llm_calls),
        )


# --- errors --------------------------------------------------------------------------


class ProviderError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.message!r}, status_code={self.status_code!r}, "
            f"retryable={self.retryable!r}, retry_after={self.retry_after!r})"
        )
