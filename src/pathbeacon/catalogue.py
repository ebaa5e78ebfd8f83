"""The templates pathbeacon ships, found by name.

Each lives in one TOML file (``name``, ``template``, ``description``, ``facts``) in the
top-level ``templates/`` folder, which the wheel carries as ``pathbeacon/templates``.

    >>> load("sedona").text
    '<base>/<language>/<engine>/<arch>/<os>/<runtime>'
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

from .errors import TemplateError
from .template import Template

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = ["Entry", "entries", "is_name", "load", "resolve"]


class Entry(NamedTuple):
    """One shipped template."""

    name: str
    text: str
    description: str
    facts: tuple[str, ...]


_cache: dict[str, Entry] = {}


def _folder() -> Path:
    # Installed wheel: pathbeacon/templates. Editable install or checkout: <root>/templates.
    here = Path(__file__).resolve().parent
    for folder in (here / "templates", here.parent.parent / "templates"):
        if folder.is_dir():
            return folder
    raise TemplateError(f"pathbeacon's templates folder is missing (looked beside {here})")


def _entry(path: Path) -> Entry:
    with path.open("rb") as stream:
        data = tomllib.load(stream)
    try:
        name, text, description = data["name"], data["template"], data["description"]
        facts = tuple(data["facts"])
    except KeyError as missing:
        raise TemplateError(f"{path.name}: missing key {missing}") from None
    if path.stem != name:
        raise TemplateError(f"{path.name}: name {name!r} does not match the file name")
    return Entry(name, text, description, facts)


def entries() -> list[Entry]:
    """Every shipped template, sorted by name.

        >>> [e.name for e in entries()][:2]
        ['default', 'risingwave']
    """
    if not _cache:
        for path in sorted(_folder().glob("*.toml")):
            entry = _entry(path)
            _cache[entry.name] = entry
    return list(_cache.values())


def is_name(template: str) -> bool:
    """Whether ``template`` is a template's name rather than template text.

        >>> is_name("sedona"), is_name("<base>/<os>")
        (True, False)
    """
    return bool(template) and not any(ch in template for ch in "<>:/?")


def load(name: str) -> Entry:
    """The shipped template called ``name``; :class:`TemplateError` if there is none."""
    entries()
    try:
        return _cache[name]
    except KeyError:
        known = ", ".join(sorted(_cache))
        raise TemplateError(f"no shipped template is called {name!r} (known: {known})") from None


def resolve(template: str | Template) -> Template:
    """A :class:`Template` from template text, a shipped template's name, or a Template.

        >>> resolve("risingwave").fields
        ('base', 'version', 'os')
    """
    if isinstance(template, Template):
        return template
    if isinstance(template, str) and is_name(template):
        return Template(load(template).text)
    return Template(template)
