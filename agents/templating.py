"""Prompt templates: Jinja2 in an immutable sandbox, strict about unknown variables.

No loader is configured, so ``{% include %}``, ``{% import %}`` and ``{% extends %}``
cannot reach the file system; attribute access to Python internals raises
``SecurityError``. Every failure becomes a 400 ``validation_error`` naming the field.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptrails.api.errors import ApiError, validation_error

MAX_RENDERED_CHARS = 1_000_000

_env = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    loader=None,
    keep_trailing_newline=True,
)


def _error(field: str, message: str) -> ApiError:
    return validation_error({field: [message]}, message=f"{field}: {message}")


def validate_template(source: str, *, field: str) -> None:
    """Raise a 400 if ``source`` is not valid template syntax."""
    try:
        _env.parse(source)
    except TemplateSyntaxError as exc:
        raise _error(field, f"template syntax error at line {exc.lineno}: {exc.message}") from None


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    """Compiling is most of a render's cost; a template's source decides what it compiles to
    (failures raise and are not cached)."""
    return _env.from_string(source)


def render_template(source: str, variables: dict[str, Any], *, field: str) -> str:
    """Render ``source`` with ``variables``; any template failure is a 400."""
    try:
        template = _compiled(source)
        rendered = template.render(**variables)
    except TemplateSyntaxError as exc:
        raise _error(field, f"template syntax error at line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise _error(field, f"the template tried an unsafe operation: {exc}") from None
    except UndefinedError as exc:
        raise _error(field, f"undefined template variable: {exc.message}") from None
    except TemplateError as exc:  # e.g. include/import without a loader
        raise _error(field, f"template error: {exc.message or type(exc).__name__}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise _error(field, f"template error: {exc}") from None
    if len(rendered) > MAX_RENDERED_CHARS:
        raise _error(field, f"the rendered template exceeds {MAX_RENDERED_CHARS} characters")
    return rendered
