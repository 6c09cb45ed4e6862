"""The prompt sandbox's bounds: templates built to exhaust time or memory are refused with a
400 naming the field, quickly; ordinary templates render as before."""

from __future__ import annotations

import time

import pytest

from agents.templating import MAX_RENDERED_CHARS, render_template
from promptrails.errors import DomainError

BOMBS = {
    "macro-recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nest"),
    "mutual-recursion": ("{% macro a() %}{{ b() }}{% endmacro %}"
                         "{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}", "nest"),
    "recursive-loop": ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "nest"),
    "string-times": ("{{ 'a' * 100000000 }}", "100000000"),
    "list-times": ("{{ [1, 2] * 100000000 }}", "repeated"),
    "huge-range": ("{{ range(10**9) | list }}", "range()"),
    "huge-power": ("{{ 10 ** (10 ** 10) }}", "bits"),
    "squaring": ("{% set n = 2 ** 60000 %}{{ n * n }}", "bits"),
    "nested-loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                     "{% endfor %}", "loops"),
    "loop-over-text": ("{% for c in 'x' * 1000000 %}{% endfor %}", "loops"),
    "wide-recursion": ("{% for x in range(100) recursive %}{% if loop.depth < 6 %}"
                       "{{ loop(range(100)) }}{% endif %}{% endfor %}", "longer than"),
    "doubling": ("{% set s = 'a' * 1000 %}" + "{% set s = s ~ s %}" * 20 + "{{ s }}", "~"),
    "doubling-plus": ("{% set s = 'a' * 1000 %}" + "{% set s = s + s %}" * 20, "sum"),
    "namespace-doubling": ("{% set ns = namespace(s='a') %}{% for i in range(40) %}"
                           "{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "~"),
    "shared-references": ("{% set a = ['x' * 100000] %}" + "{% set a = [a, a] %}" * 12
                          + "{{ a }}", "printed value"),
    "shared-to-json": ("{% set a = ['x' * 100000] %}" + "{% set a = [a, a] %}" * 12
                       + "{{ a | tojson }}", "|tojson"),
    "dict-fromkeys": ("{{ {}.fromkeys(range(100000), 'x' * 1000) }}", "printed value"),
    "padding": ("{{ 'a'.ljust(10**9) }}", "ljust"),
    "zfill": ("{{ '1'.zfill(10**9) }}", "zfill"),
    "format-width": ("{{ '{:>999999999}'.format(1) }}", "formatted"),
    "format-repeat": ("{{ ('{0}' * 1000).format('x' * 100000) }}", "formatted"),
    "percent-width": ("{{ '%999999999d' % 1 }}", "%-formatted"),
    "percent-repeat": ("{{ ('%(a)s' * 1000) % {'a': 'x' * 100000} }}", "%-formatted"),
    "percent-star": ("{{ '%*d' % (999999999, 1) }}", "%-formatted"),
    "replace-empty": ("{% set s = 'a' * 100000 %}{{ s.replace('', s) }}", "replace"),
    "replace-filter": ("{% set s = 'a' * 100000 %}{{ s | replace('a', s) }}", "|replace"),
    "join-method": ("{% set s = 'x' * 1000 %}{{ s.join(s * 1000) }}", "joined"),
    "join-filter": ("{% set s = 'x' * 100000 %}{{ ([s] * 100) | join }}", "repeated"),
    "join-filter-separator": ("{{ range(100000) | join('x' * 1000) }}", "|join"),
    "translate": ("{{ ('x' * 1000).translate({120: 'y' * 100000}) }}", "translate"),
    "expandtabs": ("{{ ('\\t' * 1000).expandtabs(100000) }}", "expandtabs"),
    "center-filter": ("{{ 'a' | center(1000000000) }}", "|center"),
    "indent-filter": ("{{ ('x\\n' * 400000) | indent(100) }}", "|indent"),
    "wordwrap-filter": ("{{ ('ab ' * 300000) | wordwrap(1, wrapstring='-' * 100) }}",
                        "|wordwrap"),
    "tojson-indent": ("{{ {'a': 'x' * 1000}|tojson(indent=1000000) }}", "|tojson"),
    "batch-filter": ("{{ (range(1) | batch(10**9, 'x')) | list }}", "batch"),
    "slice-filter": ("{{ ([1] | slice(10**9)) | list }}", "slice"),
    "sum-of-lists": ("{{ [[1] * 1000] * 1000 | sum(start=[]) }}", "sum"),
    "output": ("{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}", "exceeds"),
    "block-output": ("{% set x %}{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}"
                     "{% endset %}", "block"),
    "macro-output": ("{% set x = 'a' * 1000000 %}{% macro m() %}{{ x }}{{ x }}{% endmacro %}"
                     "{{ m() }}", "block"),
    "filter-block": ("{% filter upper %}{% for i in range(20) %}{{ 'a' * 100000 }}{% endfor %}"
                     "{% endfilter %}", "block"),
    "lipsum": ("{{ lipsum(10**9) }}", "lipsum"),
}


@pytest.mark.parametrize(("template", "said"), BOMBS.values(), ids=BOMBS.keys())
def test_bombs_are_refused_quickly_with_a_clear_error(template: str, said: str) -> None:
    started = time.monotonic()
    with pytest.raises(DomainError) as info:
        render_template(template, {}, field="system_prompt")
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    error = info.value
    assert error.status == 400 and error.code == "validation_error"
    assert list(error.details) == ["system_prompt"]
    assert said in error.message, error.message


def test_the_same_template_is_refused_every_time() -> None:
    """The budget is per render: one render's spending is not the next one's."""
    template = "{% for i in range(60000) %}{% endfor %}"
    for _ in range(3):
        assert render_template(template, {}, field="f") == ""


@pytest.mark.parametrize(("template", "rendered"), [
    ("Hello {{ name }}!", "Hello Ada!"),
    ("{{ 'ab' ~ name ~ 3 }}", "abAda3"),
    ("{% for i in range(3) %}{{ loop.index }}/{{ loop.length }} {% endfor %}", "1/3 2/3 3/3 "),
    ("{% for k, v in meta | dictsort %}{{ k }}={{ v }};{% endfor %}", "a=1;b=[1, 2];"),
    ("{% for k in meta %}{{ k }}{% endfor %}", "ab"),
    ("{{ items | join(', ') }} {{ items | sum }} {{ items | length }}", "1, 2, 3 6 3"),
    ("{{ '%s has %d' % (name, 3) }} {{ '{}-{x}'.format(1, x=2) }}", "Ada has 3 1-2"),
    ("{{ 'x' * 3 }} {{ [0] * 2 }} {{ 2 ** 10 }} {{ 7 % 3 }} {{ [1] + [2] }}",
     "xxx [0, 0] 1024 1 [1, 2]"),
    ("{{ name | upper | center(7) }}|{{ 'a b' | replace(' ', '_') }}", "  ADA  |a_b"),
    ("{% macro row(x) %}<{{ x }}>{% endmacro %}{{ row(1) }}{{ row(name) }}", "<1><Ada>"),
    ("{% set ns = namespace(n=0) %}{% for i in items %}{% set ns.n = ns.n + i %}{% endfor %}"
     "{{ ns.n }}", "6"),
    ("{% for x in tree recursive %}{{ x.n }}{% if x.c %}({{ loop(x.c) }}){% endif %}{% endfor %}",
     "1(2(3))"),
    ("{{ meta | tojson }}", '{"a": 1, "b": [1, 2]}'),
    ("{% filter upper %}{{ name }}{% endfilter %}", "ADA"),
])
def test_ordinary_templates_still_render(template: str, rendered: str) -> None:
    variables = {"name": "Ada", "items": [1, 2, 3], "meta": {"a": 1, "b": [1, 2]},
                 "tree": [{"n": 1, "c": [{"n": 2, "c": [{"n": 3, "c": []}]}]}]}
    assert render_template(template, variables, field="f") == rendered


def test_output_up_to_the_limit_renders() -> None:
    template = "{{ 'x' * limit }}"
    out = render_template(template, {"limit": MAX_RENDERED_CHARS}, field="f")
    assert len(out) == MAX_RENDERED_CHARS
