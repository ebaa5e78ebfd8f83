"""The templates pathbeacon ships, found by name.

They are compiled into this module, so finding one reads no file and imports no TOML parser
or ``pathlib`` (a report's worker stays lean, and they work from a zipapp too). Each also
lives in one TOML file (``name``, ``template``, ``description``, ``facts``) in the top-level
``templates/`` folder, for people to read; a test keeps the two in step.

    >>> load("sedona").text
    '<base>/<language>/<engine>/<arch>/<os>/<runtime>'
"""

from __future__ import annotations

from collections import namedtuple

from .errors import TemplateError
from .template import Template

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the worker should not import typing
if TYPE_CHECKING:
    from pathlib import Path
    from typing import NamedTuple

__all__ = ["SHIPPED", "Entry", "entries", "is_name", "load", "resolve"]


if TYPE_CHECKING:

    class Entry(NamedTuple):
        name: str
        text: str
        description: str
        facts: tuple[str, ...]

else:  # collections.namedtuple, not typing.NamedTuple: typing costs the worker milliseconds
    Entry = namedtuple("Entry", "name text description facts")
    Entry.__doc__ = "One shipped template."


#: Every shipped template by name, as in ``templates/<name>.toml``.
SHIPPED: dict[str, Entry] = {
    entry.name: entry
    for entry in (
        Entry(
            "default",
            "<base>/<package>/<version>/<os>/<distro>/<arch>/<runtime>/<ci>/<container>",
            "Recommended for Python packages: package, version, OS, distro, arch, runtime, "
            "CI, container.",
            ("base", "package", "version", "os", "distro", "arch", "runtime", "ci", "container"),
        ),
        Entry(
            "risingwave",
            "<base>/telemetry/<version>/<os>",
            "RisingWave's reporter layout: the package version and the OS.",
            ("base", "version", "os"),
        ),
        Entry(
            "scarf-pixel",
            "https://static.scarf.sh/a.png?x-pxid=<pixel_id>",
            "A Scarf tracking pixel, as embedded in READMEs and docs pages.",
            ("pixel_id",),
        ),
        Entry(
            "sedona",
            "<base>/<language>/<engine>/<arch>/<os>/<runtime>",
            "Apache Sedona's collector layout: language, engine, architecture, OS and runtime.",
            ("base", "language", "engine", "arch", "os", "runtime"),
        ),
    )
}


def _folder() -> Path:
    """Where the TOML files are: ``pathbeacon/templates`` in an installed wheel,
    ``<root>/templates`` in a checkout or an editable install. Not used to find templates
    (they are compiled in): for tests and people."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    for folder in (here / "templates", here.parent.parent / "templates"):
        if folder.is_dir():
            return folder
    raise TemplateError(f"pathbeacon's templates folder is missing (looked beside {here})")


def entries() -> list[Entry]:
    """Every shipped template, sorted by name.

        >>> [e.name for e in entries()][:2]
        ['default', 'risingwave']
    """
    return [SHIPPED[name] for name in sorted(SHIPPED)]


def is_name(template: str) -> bool:
    """Whether ``template`` is a template's name rather than template text.

        >>> is_name("sedona"), is_name("<base>/<os>")
        (True, False)
    """
    return bool(template) and not any(ch in template for ch in "<>:/?")


def load(name: str) -> Entry:
    """The shipped template called ``name``; :class:`TemplateError` if there is none."""
    try:
        return SHIPPED[name]
    except KeyError:
        known = ", ".join(sorted(SHIPPED))
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
