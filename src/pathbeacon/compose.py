"""Glue between templates and facts: resolve a template, merge facts, render, parse, expand.

Given facts override detected ones; facts the template does not use are ignored; a custom
placeholder with no value renders as ``unknown``.

    >>> render("<base>/<language>/<engine>", base="https://g.example/p", engine="spark")
    'https://g.example/p/python/spark'
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from . import probes as _probes
from .catalogue import resolve
from .errors import TemplateError
from .template import Template

__all__ = ["check_names", "expand", "fill", "parse", "render"]


def fill(template: Template, given: Mapping[str, object]) -> dict[str, object]:
    """The value of every field of ``template``: given first, then detected.

    ``version`` is the installed version of the ``package`` fact's distribution.
    """
    values: dict[str, object] = {}
    for name in template.fields:
        if name in given:
            values[name] = given[name]
        elif name == "version":
            package = given.get("package")
            values[name] = _probes.package_version(str(package)) if package else None
        elif name in _probes.NAMES:
            values[name] = _probes.get(name)
    return values


def check_names(template: Template, facts: Mapping[str, object], options: Iterable[str] = (),
                also: Iterable[str] = ()) -> None:
    """Refuse a fact ``template`` has no field for, and a field named like an option.

    ``options`` are the caller's own keyword names (``timeout``, ``key``, ...): a field
    called so cannot be given as a keyword, so it must come in ``facts`` (from a
    ``facts={...}`` mapping) rather than silently render as ``unknown``. ``also`` names
    facts that mean something beyond the template (``package`` names the opt-out
    variable). Raises :class:`TemplateError` naming the first offending name.

        >>> check_names(resolve("<base>/<os>"), {"base": "https://g.example", "os": "linux"})
        >>> try:
        ...     check_names(resolve("<base>/<os>"), {"base": "https://g.example", "timout": 5},
        ...                 options=["timeout"])
        ... except TemplateError as error:
        ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
        unknown keyword 'timout': neither an option nor a field of the template
        (its fields: base, os); did you mean 'timeout'?
    """
    fields = template.fields
    options = list(options)
    known = set(fields).union(also)
    for name in facts:
        if name in options and name not in known:  # only facts={...} can carry it here
            raise TemplateError(
                f"facts={{{name!r}: ...}}: {name}= is an option of report_once, not a field "
                f"of the template (its fields: {', '.join(fields) or 'none'}); pass it as "
                f"{name}=... itself")
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, [*fields, *options], n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TemplateError(
                f"unknown keyword {name!r}: neither an option nor a field of the template"
                f" (its fields: {', '.join(fields) or 'none'}){hint}")
    for name in fields:
        if name in options and name not in facts:
            raise TemplateError(
                f"the template's <{name}> shares its name with an option: pass its value as"
                f" facts={{{name!r}: ...}}")


def render(template: str | Template, /, **facts: object) -> str:
    """Render ``template`` (text or a shipped template's name) with detected and given facts.

        >>> render("risingwave", base="https://g.example", version="1.2", os="linux")
        'https://g.example/telemetry/1.2/linux'
    """
    resolved = resolve(template)
    return resolved.render(fill(resolved, facts))


def parse(template: str | Template, url: str) -> dict[str, str]:
    """The sanitised value of every placeholder of ``template`` in ``url``.

        >>> parse("sedona", "https://g.example/p/python/spark/x86_64/linux/cpython-3.11.7")["os"]
        'linux'
    """
    return resolve(template).parse(url)


def expand(template: str | Template, /, **facts: object) -> list[str]:
    """One URL per combination of the values given as lists or tuples, in a stable order.

    Fields vary in template order, the first slowest; repeated URLs are given once.

        >>> expand("<base>/<os>/<arch>", base="https://dl.example",
        ...        os=["linux", "macos"], arch=["x86_64", "aarch64"])
        ['https://dl.example/linux/x86_64', 'https://dl.example/linux/aarch64',
         'https://dl.example/macos/x86_64', 'https://dl.example/macos/aarch64']
    """
    resolved = resolve(template)
    base = fill(resolved, facts)
    choices: list[tuple[str, list[object]]] = []
    for name in resolved.fields:
        value = base.get(name)
        if isinstance(value, (list, tuple)):
            if not value:
                raise TemplateError(f"an empty list of values for <{name}>")
            choices.append((name, list(value)))
    urls: dict[str, None] = {}
    for combination in itertools.product(*(values for _, values in choices)):
        base.update(zip((name for name, _ in choices), combination))
        urls[resolved.render(base)] = None
    return list(urls)
