"""Text and JSON that every supported database can store.

PostgreSQL refuses the NUL character (U+0000) in ``text`` and ``jsonb``, ``\\u0000`` in
``jsonb``, unpaired surrogates (U+D800–U+DFFF: not encodable as UTF-8) and non-finite
numbers in ``jsonb`` (``NaN``, ``Infinity``; JSON has neither). Input that carries them is
refused at the edges (:func:`json_problems`, :func:`text_problem`); what a model or a
tool produced is cleaned instead (:func:`storable_text`, :func:`storable_value`).

Pure Python (no Django): the model runtime uses it too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")

NUL_MESSAGE = "Must not contain the NUL character (U+0000)."
SURROGATE_MESSAGE = "Must not contain unpaired surrogates (U+D800 to U+DFFF)."
NON_FINITE_MESSAGE = "Must be a finite number (no NaN or Infinity; at most about 1.8e308)."


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if NUL in text:
        return NUL_MESSAGE
    if _has_surrogate(text):
        return SURROGATE_MESSAGE
    return None


def storable_text(text: str) -> str:
    """``text`` without NUL characters and with each unpaired surrogate replaced by U+FFFD
    (the same object when there is nothing to clean)."""
    if NUL in text:
        text = text.replace(NUL, "")
    if _has_surrogate(text):
        text = _SURROGATE.sub(REPLACEMENT, text)
    return text


def storable_value(value: Any) -> Any:
    """A JSON-like value with every string (keys too) cleaned by :func:`storable_text` and
    every non-finite float replaced by None. Unchanged parts are returned as they are."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        cleaned = {storable_text(k) if isinstance(k, str) else k: storable_value(v)
                   for k, v in value.items()}
        return value if _same(cleaned, value) else cleaned
    if isinstance(value, list | tuple):
        items = [storable_value(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


def _same(cleaned: dict[Any, Any], value: dict[Any, Any]) -> bool:
    if len(cleaned) != len(value):
        return False  # two keys cleaned to the same one
    return all(a is b and cleaned[a] is value[b]
               for a, b in zip(cleaned, value, strict=True))


def _containers(value: Any) -> Any:
    """(container, depth) for every dict and list in ``value``, iteratively."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            yield item, depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def nests_deeper_than(value: Any, max_depth: int) -> bool:
    """Whether ``value`` has dicts or lists more than ``max_depth`` levels down (iterative:
    safe on any depth)."""
    return any(depth >= max_depth for _, depth in _containers(value))


def has_non_finite(value: Any) -> bool:
    """Whether a NaN or an infinity is anywhere in ``value``."""
    if isinstance(value, float):
        return not math.isfinite(value)
    return any(isinstance(child, float) and not math.isfinite(child)
               for container, _ in _containers(value)
               for child in (container.values() if isinstance(container, dict) else container))


def json_problems(value: Any, *, max_depth: int, root: str = "body") -> dict[str, list[str]]:
    """What cannot be stored in decoded JSON ``value``, as validation details: the path of
    each bad string, key or number (``metadata.k``, ``tools.0.name``; ``root`` for the top)
    to its message. Iterative, so any depth is safe; deeper than ``max_depth`` is a problem
    of ``root`` itself. Empty when everything can be stored."""
    problems: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                problems[root] = [f"Must nest at most {max_depth} levels of objects and arrays."]
            else:
                stack.extend(_children(item, path, depth, root, problems))
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                problems[_label(path, root)] = [problem]
        elif isinstance(item, float) and not math.isfinite(item):
            problems[_label(path, root)] = [NON_FINITE_MESSAGE]
    return problems


def _children(item: dict[Any, Any] | list[Any], path: str, depth: int, root: str,
              problems: dict[str, list[str]]) -> Iterator[tuple[Any, str, int]]:
    """The entries of a container to check next; a bad key is a problem of the container."""
    entries = item.items() if isinstance(item, dict) else enumerate(item)
    for key, child in entries:
        problem = text_problem(key) if isinstance(key, str) else None
        if problem is not None:
            problems[_label(path, root)] = [f"Keys: {problem[0].lower()}{problem[1:]}"]
        else:
            yield child, f"{path}.{key}" if path else str(key), depth + 1


def _label(path: str, root: str) -> str:
    # an unprintable key would make an unprintable label
    return storable_text(path) if path else root
