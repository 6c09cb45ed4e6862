"""Prompt templates: Jinja2 in an immutable sandbox, strict about unknown variables, and
bounded in what one render may build and how long it may take.

No loader is configured, so ``{% include %}``, ``{% import %}`` and ``{% extends %}``
cannot reach the file system; attribute access to Python internals raises
``SecurityError``. Every failure becomes a 400 ``validation_error`` naming the field.

Bounds (a template is written by a workspace, so it is untrusted): no string, list or
output bigger than MAX_RENDERED_CHARS is ever built — ``*``, ``+``, ``%``, ``~``,
``str.format``, the padding/joining/replacing string methods and filters are checked
*before* they run, against the size they would produce; a value is measured (shared
references counted each time) before it is printed, joined or handed to a filter;
integers stay under MAX_INT_BITS, ranges under MAX_RANGE items, loops under
MAX_LOOP_ITERATIONS in total, calls (macros) under MAX_CALL_DEPTH deep, and a render
stops after RENDER_SECONDS. Anything past a bound raises :class:`RenderLimit`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
import time
from collections import abc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from string import Formatter
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from promptrails.errors import DomainError, InvalidInput

MAX_RENDERED_CHARS = 1_000_000  # the output, and any string or collection built on the way
MAX_INT_BITS = 65_536
MAX_RANGE = 100_000
MAX_LOOP_ITERATIONS = 100_000
MAX_CALL_DEPTH = 64
MAX_VALUE_NESTING = 64
RENDER_SECONDS = 1.0


class RenderLimit(TemplateError):
    """The template went past one of the bounds above."""


# --- the budget of one render ---------------------------------------------------------------


@dataclass
class _Budget:
    deadline: float = field(default_factory=lambda: time.monotonic() + RENDER_SECONDS)
    iterations: int = 0
    depth: int = 0
    # id -> (the value, kept alive so its id stays its own; its size)
    sizes: dict[int, tuple[Any, int]] = field(default_factory=dict)

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimit(f"rendering took longer than {RENDER_SECONDS:g}s")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "template_budget", default=None)


def _current() -> _Budget:
    """This render's budget (a fresh one outside a render, e.g. constant folding)."""
    budget = _budget.get()
    return budget if budget is not None else _Budget()


def _refuse(what: str, size: int) -> RenderLimit:
    return RenderLimit(f"{what} would be {size} characters or items long "
                       f"(at most {MAX_RENDERED_CHARS})")


def _within(size: int, what: str) -> None:
    if size > MAX_RENDERED_CHARS:
        raise _refuse(what, size)


# --- measuring values --------------------------------------------------------------------------

_CONTAINERS = (list, tuple, set, frozenset, dict, abc.MappingView, Namespace)


def _size(value: Any, budget: _Budget, depth: int = 0) -> int:
    """About how many characters ``str(value)`` makes, counting a value shared by reference
    once per reference; stops counting just past MAX_RENDERED_CHARS."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return 8
    if isinstance(value, int):
        return 2 + value.bit_length() // 3
    if not isinstance(value, _CONTAINERS):
        return 16
    # a namespace changes ({% set ns.x = ... %}): measured anew each time; the rest cannot
    # (the sandbox is immutable), so each is measured once per render
    mutable = isinstance(value, Namespace)
    known = None if mutable else budget.sizes.get(id(value))
    if known is not None:
        return known[1]
    if depth >= MAX_VALUE_NESTING:
        raise RenderLimit(f"a value nests more than {MAX_VALUE_NESTING} levels deep")
    if mutable:
        value = object.__getattribute__(value, "_Namespace__attrs").copy()
    items: Iterable[Any] = (
        (part for pair in value.items() for part in pair) if isinstance(value, dict) else value)
    total = 2
    for item in items:
        total += 2 + _size(item, budget, depth + 1)
        if total > MAX_RENDERED_CHARS:
            break
    if not mutable:
        budget.sizes[id(value)] = (value, total)
    return total


def _check_size(value: Any, budget: _Budget, what: str) -> int:
    size = _size(value, budget)
    _within(size, what)
    return size


# --- operators, calls, loops -------------------------------------------------------------------


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _mul_size(left: Any, right: Any, budget: _Budget) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
            raise RenderLimit(f"an integer would exceed {MAX_INT_BITS} bits")
        return
    for seq, times in ((left, right), (right, left)):
        if isinstance(times, int) and isinstance(seq, str | list | tuple):
            _within(_size(seq, budget) * max(times, 0), "a repeated value")


def _pow_size(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if _int_bits(left) * right > MAX_INT_BITS:
            raise RenderLimit(f"an integer would exceed {MAX_INT_BITS} bits")


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _percent_size(fmt: str, args: Any, budget: _Budget) -> int:
    """A bound on ``fmt % args``: every conversion may print the largest argument,
    padded to any width the format gives."""
    specs = _PERCENT_SPEC.findall(fmt)
    values = list(args.values()) if isinstance(args, dict) else (
        list(args) if isinstance(args, tuple) else [args])
    largest = max((_size(v, budget) for v in values), default=0)
    widths = [int(n) for spec in specs for n in spec if n.isdigit()]
    if any("*" in spec for spec in specs):
        widths += [v for v in values if isinstance(v, int)]
    return len(fmt) + len(specs) * largest + sum(widths)


def _format_size(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                 budget: _Budget) -> int:
    """A bound on ``fmt.format(*args, **kwargs)`` in the same spirit."""
    fields = 0
    widths = 0
    nested = False
    for _literal, name, spec, _conversion in Formatter().parse(fmt):
        if name is None:
            continue
        fields += 1
        widths += sum(int(n) for n in re.findall(r"\d+", spec or ""))
        nested = nested or "{" in (spec or "")
    values = [*args, *kwargs.values()]
    if nested:
        widths += sum(v for v in values if isinstance(v, int) and v > 0)
    largest = max((_size(v, budget) for v in values), default=0)
    return len(fmt) + fields * largest + widths


def _replace_size(text: str, old: str, new: str, count: int | None) -> int:
    found = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _join_size(sep: str, items: str | list[Any], budget: _Budget) -> int:
    if isinstance(items, str):
        return (len(sep) + 1) * len(items)
    return len(sep) * len(items) + sum(_size(item, budget) for item in items)


def _str_method_size(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                     budget: _Budget) -> int | None:
    """A bound on the result of ``text.<name>(*args, **kwargs)`` for the methods that can
    make a string much longer than their inputs (None: any other method)."""
    if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
        return max(len(text), args[0])
    if name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        return len(text) + text.count("\t") * max(int(tabsize), 0)
    if name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        count = args[2] if len(args) > 2 else kwargs.get("count")
        return _replace_size(text, args[0], args[1], count)
    if name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        return len(text) * max(longest, 1)
    return None


class _Bounded(NodeTransformer):
    """Every ``for`` iterates through the loop budget; every ``~`` joins through the size
    check (both by calls to environment attributes a template cannot shadow)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)  # in place
        node.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [node.iter], [],
                               None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(nodes.EnvironmentAttribute("bounded_join"), list(node.nodes), [],
                          None, None, lineno=node.lineno)


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimit(f"range() would have {len(numbers)} items (at most {MAX_RANGE})")
    return numbers


def _bounded_iter(iterable: Any) -> Iterator[Any]:
    budget = _current()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > MAX_LOOP_ITERATIONS:
            raise RenderLimit(f"loops ran more than {MAX_LOOP_ITERATIONS} times in all")
        if budget.iterations % 256 == 0:
            budget.tick()
        yield item


def _bounded_join(*parts: Any) -> str:
    budget = _current()
    _within(sum(_size(part, budget) for part in parts), "a ~ concatenation")
    return "".join(str(part) for part in parts)


def _bounded_concat(parts: Iterable[str]) -> str:
    """Joins a block's output (macros, {% set %} blocks, loops)."""
    pieces: list[str] = []
    total = 0
    for piece in parts:
        total += len(piece)
        _within(total, "a block's output")
        pieces.append(piece)
    return "".join(pieces)


def _checked_output(value: Any) -> Any:
    """Every ``{{ expression }}`` before it is printed."""
    if isinstance(value, str):
        _within(len(value), "a printed value")
    else:
        _check_size(value, _current(), "a printed value")
    return value


# --- filters -------------------------------------------------------------------------------


def _filter_bound(name: str, arguments: dict[str, Any], budget: _Budget) -> int | None:
    """A bound on what the filters that can amplify their input produce."""
    a = arguments
    if name == "center":
        return max(len(str(a["value"])), int(a.get("width", 80)))
    if name == "indent":
        width = a.get("width", 4)
        pad = len(width) if isinstance(width, str) else max(int(width), 0)
        text = str(a["s"])
        return len(text) + (text.count("\n") + 1) * pad
    if name == "replace":
        return _replace_size(str(a["s"]), str(a["old"]), str(a["new"]), a.get("count"))
    if name == "join":
        items = list(a["value"])
        a["value"] = items  # an iterator is read once, here
        return _join_size(str(a.get("d", "")), items, budget)
    if name == "format":
        return _percent_size(str(a["value"]), a.get("kwargs") or a.get("args") or (), budget)
    if name == "wordwrap":
        wrap = a.get("wrapstring") or "\n"
        return len(str(a["s"])) * (1 + len(str(wrap)))
    if name == "urlize":
        extra = sum(_size(a.get(k), budget) for k in ("target", "rel") if a.get(k))
        return len(str(a["value"])) * (1 + extra)
    if name == "tojson" and a.get("indent"):
        return _size(a["value"], budget) * (1 + max(int(a["indent"]), 0))
    if name in ("batch", "slice"):
        count = int(a.get("linecount", a.get("slices", 0)))
        if count > MAX_RANGE:
            raise RenderLimit(f"{name} into {count} parts (at most {MAX_RANGE})")
    if name == "sum" and not isinstance(a.get("start", 0), int | float):
        raise RenderLimit("sum() adds numbers only")
    return None


_AMPLIFIERS = {"center", "indent", "replace", "join", "format", "wordwrap", "urlize",
               "tojson", "batch", "slice", "sum"}


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    """How the template calls ``func``: Jinja's async-variant filters report the signature
    of their sync function but are called with the evaluation context first."""
    signature = inspect.signature(func)
    first = next(iter(signature.parameters), "")
    if (getattr(func, "jinja_pass_arg", None) is not None
            and first not in ("context", "eval_ctx", "environment", "env")):
        passed = inspect.Parameter("passed", inspect.Parameter.POSITIONAL_ONLY)
        signature = signature.replace(parameters=[passed, *signature.parameters.values()])
    return signature


def _guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    signature = _signature(func) if name in _AMPLIFIERS else None

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _current()
        budget.tick()
        for value in (*args, *kwargs.values()):
            _check_size(value, budget, f"the input of |{name}")
        if signature is not None:
            bound = signature.bind(*args, **kwargs)
            size = _filter_bound(name, bound.arguments, budget)
            if size is not None:
                _within(size, f"the result of |{name}")
            args, kwargs = bound.args, bound.kwargs
        return func(*args, **kwargs)

    return guarded


# --- the environment -----------------------------------------------------------------------


class BoundedSandboxedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    bounded_iter = staticmethod(_bounded_iter)
    bounded_join = staticmethod(_bounded_join)
    concat = staticmethod(_bounded_concat)  # type: ignore[assignment]

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_checked_output, **options)
        self.globals["range"] = _bounded_range
        self.globals.pop("lipsum", None)  # lipsum(n=10**9) is a loop no budget sees
        self.filters = {name: _guarded_filter(name, func) for name, func in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        return _Bounded().visit(tree)  # type: ignore[no-any-return]

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _current()
        budget.tick()
        if operator == "*":
            _mul_size(left, right, budget)
        elif operator == "**":
            _pow_size(left, right)
        elif operator == "+" and isinstance(left, str | list | tuple):
            _within(_size(left, budget) + _size(right, budget), "a sum")
        elif operator == "%" and isinstance(left, str):
            _within(_percent_size(left, right, budget), "a %-formatted string")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any,  # noqa: N805
             **kwargs: Any) -> Any:
        budget = _current()
        budget.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args:
                items = args[0] if isinstance(args[0], str) else list(args[0])
                _within(_join_size(owner, items, budget), "a joined string")
                args = (items, *args[1:])
            else:
                size = _str_method_size(owner, name, args, kwargs, budget)
                if size is not None:
                    _within(size, f"the result of str.{name}()")
        if budget.depth >= MAX_CALL_DEPTH:
            raise RenderLimit(f"calls (macros) nest more than {MAX_CALL_DEPTH} deep")
        budget.depth += 1
        try:
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt: str = value.__self__
        is_format_map = value.__name__ == "format_map"

        @functools.wraps(wrapper)
        def bounded(*args: Any, **kwargs: Any) -> str:
            budget = _current()
            if is_format_map and len(args) == 1 and isinstance(args[0], dict):
                _within(_format_size(fmt, (), args[0], budget), "a formatted string")
            else:
                _within(_format_size(fmt, args, kwargs, budget), "a formatted string")
            return wrapper(*args, **kwargs)

        return bounded


_env = BoundedSandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    loader=None,
    keep_trailing_newline=True,
)


def _error(field: str, message: str) -> DomainError:
    return InvalidInput({field: [message]}, message=f"{field}: {message}")


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


def _render(template: Template, variables: dict[str, Any]) -> str:
    """The output, built chunk by chunk and abandoned as soon as it is too long."""
    pieces: list[str] = []
    total = 0
    for piece in template.generate(**variables):
        total += len(piece)
        if total > MAX_RENDERED_CHARS:
            raise RenderLimit(f"the rendered template exceeds {MAX_RENDERED_CHARS} characters")
        pieces.append(piece)
    return "".join(pieces)


def render_template(source: str, variables: dict[str, Any], *, field: str) -> str:
    """Render ``source`` with ``variables``; any template failure is a 400."""
    token = _budget.set(_Budget())
    try:
        return _render(_compiled(source), variables)
    except TemplateSyntaxError as exc:
        raise _error(field, f"template syntax error at line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise _error(field, f"the template tried an unsafe operation: {exc}") from None
    except UndefinedError as exc:
        raise _error(field, f"undefined template variable: {exc.message}") from None
    except RenderLimit as exc:
        raise _error(field, f"the template went past a limit: {exc.message}") from None
    except TemplateError as exc:  # e.g. include/import without a loader
        raise _error(field, f"template error: {exc.message or type(exc).__name__}") from None
    except RecursionError:
        raise _error(field, "the template recursed too deeply") from None
    except MemoryError:
        raise _error(field, "the template needed too much memory") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise _error(field, f"template error: {exc}") from None
    finally:
        _budget.reset(token)
