"""Cost computation from token usage and per-1M-token prices."""

from __future__ import annotations

from .types import ModelSpec, Usage


def cost_for(usage: Usage, spec: ModelSpec) -> float:
    """USD cost of ``usage`` on ``spec``.

    ``(prompt - cached) * input + cached * (cached_input_price or input)
    + completion * output``, prices per 1M tokens, rounded to 8 decimals.
    ``prompt_tokens`` includes cached tokens (OpenAI semantics; the Anthropic provider
    normalises to that). Cache-creation tokens are billed at the plain input price.
    """
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    uncached = usage.prompt_tokens - cached
    cached_price = spec.input_price
    if spec.cached_input_price is not None:
        cached_price = spec.cached_input_price
    total = (
        uncached * spec.input_price
        + cached * cached_price
        + usage.completion_tokens * spec.output_price
    ) / 1_000_000
    return round(total, 8)
