"""Model providers: ``get_provider(name)`` and ``check_credentials(spec)``."""

from __future__ import annotations

from ..types import ModelSpec
from .anthropic import AnthropicProvider
from .anthropic import check_credentials as _anthropic_check
from .base import Provider
from .local import LocalProvider
from .openai import OpenAIProvider
from .openai import check_credentials as _openai_check

_PROVIDERS: dict[str, Provider] = {
    "openai": OpenAIProvider(),
    "anthropic": AnthropicProvider(),
    "local": LocalProvider(),
}

PROVIDER_NAMES = tuple(_PROVIDERS)


def get_provider(name: str) -> Provider:
    try:
        return _PROVIDERS[name]
    except KeyError:
        raise ValueError(
            f"unknown provider {name!r} (expected one of {', '.join(PROVIDER_NAMES)})"
        ) from None


async def check_credentials(spec: ModelSpec) -> tuple[bool, str | None]:
    """Cheap real call proving the credentials work: ``(ok, error message)``."""
    if spec.provider == "openai":
        return await _openai_check(spec)
    if spec.provider == "anthropic":
        return await _anthropic_check(spec)
    if spec.provider == "local":
        return True, None
    return False, f"unknown provider {spec.provider!r}"


__all__ = ["PROVIDER_NAMES", "Provider", "check_credentials", "get_provider"]
