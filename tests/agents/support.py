"""Agents API test helpers."""

from __future__ import annotations

from typing import Any


def version_body(prompt_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"config": {"type": "agent", "prompt_id": prompt_id},
                            "model_config": {"model_id": "echo"}}
    body.update(extra)
    return body
