"""URL templates: ``<name>`` placeholders, parsed and validated once, rendered and parsed back.

    >>> t = Template("<base>/<package>/<version>/<os>")
    >>> t.fields
    ('base', 'package', 'version', 'os')
    >>> url = t.render({"base": "https://acme.example/t/", "package": "acme",
    ...                 "version": "1.0", "os": "Mac OS X"})
    >>> url
    'https://acme.example/t/acme/1.0/Mac_OS_X'
    >>> t.parse(url)["os"]
    'Mac_OS_X'
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .encoding import UNRESERVED, decode, encode
from .errors import TemplateError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Template", "check_base"]

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyz")
_NAME_CHARS = _NAME_START | frozenset("0123456789_")
# Characters a template may carry literally after the host (RFC 3986 pchar, "/" and "?");
# "%" is allowed only as the start of a "%XX" escape.
_LITERAL = frozenset(UNRESERVED + "!$&'()*+,;=:@/?")
_AUTHORITY = frozenset(UNRESERVED + "!$&'()*+,;=:[]")
_HEX = frozenset("0123456789ABCDEFabcdef")
# Characters that end a placeholder name early: "<os/arch>" is an unclosed "<", not a name.
_NAME_STOP = frozenset("<>/?&=#% ")
_BASE = "<base>"
_BASE_BAD = frozenset('"<>\\^`{|}?#')

_NOT_IN_HOST = "a placeholder may not stand in the scheme, host or port"

_checked_bases: dict[str, str] = {}


def _scheme_end(text: str) -> int:
    """Where ``http://`` or ``https://`` (any case) ends at the start of ``text``, else 0."""
    head = text[:8].lower()
    if head.startswith("http://"):
        return 7
    return 8 if head.startswith("https://") else 0


def check_base(value: object) -> str:
    """Validate a ``base`` value and return it with one trailing ``/`` trimmed.

    A base is an absolute ``http``/``https`` URL with a host and no query, fragment,
    whitespace or control characters; it fills ``<base>`` unencoded.

        >>> check_base("https://acme.gateway.scarf.sh/telemetry/")
        'https://acme.gateway.scarf.sh/telemetry'
    """
    if type(value) is str:
        known = _checked_bases.get(value)
        if known is not None:
            return known
    if value is None:
        raise TemplateError("no value for <base>: pass base='https://...'")
    if not isinstance(value, str):
        raise TemplateError(f"<base> must be a string URL, not {type(value).__name__}")
    if not value:
        raise TemplateError("<base> is empty: pass base='https://...'")
    start = _scheme_end(value)
    if not start:
        raise TemplateError("<base> must start with http:// or https://", value, 0)
    for i, ch in enumerate(value):
        if ch == "?":
            raise TemplateError("<base> may not carry a query", value, i)
        if ch == "#":
            raise TemplateError("<base> may not carry a fragment", value, i)
        if not " " < ch < "\x7f" or ch in _BASE_BAD:
            raise TemplateError(f"<base> may not contain {ch!r}", value, i)
    host = value[start:].split("/", 1)[0].rpartition("@")[2]
    if not host or host.startswith(":"):
        raise TemplateError("<base> has no host", value, start)
    result = value[:-1] if value.endswith("/") else value
    if len(_checked_bases) > 256:
        _checked_bases.clear()
    _checked_bases[value] = result
    return result


def _placeholder(text: str, pos: int) -> tuple[str, int]:
    """Read the placeholder whose ``<`` is at ``pos``; return its name and the next offset."""
    end = pos + 1
    while end < len(text) and text[end] not in _NAME_STOP:
        end += 1
    if end >= len(text) or text[end] != ">":
        raise TemplateError("unclosed '<': a placeholder is written <name>", text, pos)
    name = text[pos + 1 : end]
    if not name:
        raise TemplateError("empty placeholder name '<>'", text, pos)
    if name[0] not in _NAME_START or not _NAME_CHARS.issuperset(name):
        raise TemplateError(
            f"bad placeholder name {name!r}: names match [a-z][a-z0-9_]*", text, pos
        )
    return name, end + 1


def _scan_authority(text: str) -> int:
    """Check scheme and host of a template without ``<base>``; return where the path starts."""
    pos = _scheme_end(text)
    if not pos:
        if text.startswith("<"):
            name, _ = _placeholder(text, 0)  # a malformed placeholder is the clearer error
            raise TemplateError(
                f"only <base> may open a template, not <{name}>: placeholders may not"
                " stand in the scheme, host or port",
                text,
                0,
            )
        raise TemplateError("a template starts with <base>, http:// or https://", text, 0)
    start = pos
    while pos < len(text) and text[pos] not in "/?#":
        ch = text[pos]
        if ch == "<":
            raise TemplateError(_NOT_IN_HOST, text, pos)
        if ch == "@":
            raise TemplateError("user info (user@host) is not allowed in a template", text, pos)
        if ch not in _AUTHORITY and not (ch == "%" and _escape_ok(text, pos)):
            raise TemplateError(f"character {ch!r} is not allowed in a host", text, pos)
        pos += 1
    if pos == start or text[start] == ":":
        raise TemplateError("the template has no host", text, start)
    port = text[start:pos].rpartition(":")[2] if "]" not in text[start:pos] else ""
    if ":" in text[start:pos] and port and not port.isdigit():
        raise TemplateError("the port must be digits", text, pos - len(port))
    return pos


def _escape_ok(text: str, pos: int) -> bool:
    return pos + 2 < len(text) and text[pos + 1] in _HEX and text[pos + 2] in _HEX


def _scan(text: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[bool, ...]]:
    """Split ``text`` into literals and placeholder names: lit0 name0 lit1 name1 ... litN."""
    if not isinstance(text, str):
        raise TemplateError(f"a template is a string, not {type(text).__name__}")
    if not text:
        raise TemplateError("empty template", text, 0)
    literals: list[str] = []
    names: list[str] = []
    in_query: list[bool] = []
    if text.startswith(_BASE):
        literals.append("")
        names.append("base")
        in_query.append(False)
        pos = len(_BASE)
        if pos < len(text) and text[pos] not in "/?":
            raise TemplateError("<base> must be followed by '/', '?' or nothing", text, pos)
    else:
        pos = _scan_authority(text)
    current = [text[:pos]] if not names else []
    query = False
    part = "segment"  # "segment", "key" or "value": the unit a placeholder would fill
    filled = False  # whether the current unit already holds a placeholder
    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            if text.startswith(_BASE, pos):
                raise TemplateError("<base> may only stand at the very start", text, pos)
            name, end = _placeholder(text, pos)
            if part == "key":
                raise TemplateError("a placeholder may not stand in a query key", text, pos)
            if filled:
                raise TemplateError(
                    f"at most one placeholder per {'query value' if query else 'path segment'}",
                    text,
                    pos,
                )
            literals.append("".join(current))
            current = []
            names.append(name)
            in_query.append(query)
            filled = True
            pos = end
            continue
        if ch == "#":
            raise TemplateError("a template may not have a fragment ('#')", text, pos)
        if ch == "%":
            if not _escape_ok(text, pos):
                raise TemplateError("'%' must start an escape such as %2F", text, pos)
        elif ch not in _LITERAL:
            raise TemplateError(f"character {ch!r} is not allowed in a URL", text, pos)
        if not query and ch == "/":
            filled = False
        elif not query and ch == "?":
            query, part, filled = True, "key", False
        elif query and ch == "&":
            part, filled = "key", False
        elif query and ch == "=" and part == "key":
            part, filled = "value", False
        current.append(ch)
        pos += 1
    literals.append("".join(current))
    return tuple(literals), tuple(names), tuple(in_query)


class Template:
    """A URL template, parsed and validated once; immutable, hashable, equal by text.

    ``<base>`` may only open the template; other placeholders fill one path segment or
    one query value each, sanitised and percent-encoded.

        >>> Template("<base>/py<python_minor>/<os>").render(
        ...     {"base": "https://x.example", "python_minor": "3.11", "os": "linux"})
        'https://x.example/py3.11/linux'
    """

    __slots__ = ("_fields", "_in_query", "_literals", "_matcher", "_names", "_text")

    _text: str
    _literals: tuple[str, ...]
    _names: tuple[str, ...]
    _in_query: tuple[bool, ...]
    _fields: tuple[str, ...]
    _matcher: re.Pattern[str] | None

    def __init__(self, text: str) -> None:
        literals, names, in_query = _scan(text)
        setattr_ = object.__setattr__
        setattr_(self, "_text", text)
        setattr_(self, "_literals", literals)
        setattr_(self, "_names", names)
        setattr_(self, "_in_query", in_query)
        setattr_(self, "_fields", tuple(dict.fromkeys(names)))
        setattr_(self, "_matcher", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Template is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Template is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Template):
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        return hash((Template, self._text))

    def __repr__(self) -> str:
        return f"Template({self._text!r})"

    def __reduce__(self) -> tuple[type[Template], tuple[str]]:
        return (Template, (self._text,))

    @property
    def text(self) -> str:
        """The template text, as given."""
        return self._text

    @property
    def fields(self) -> tuple[str, ...]:
        """Placeholder names in order of first appearance."""
        return self._fields

    @property
    def has_base(self) -> bool:
        """Whether the template opens with ``<base>``."""
        return bool(self._names) and self._names[0] == "base" and not self._literals[0]

    def render(self, facts: Mapping[str, object]) -> str:
        """Fill every placeholder from ``facts`` (missing ones become ``unknown``).

        ``base`` is checked and inserted unencoded; every other value is sanitised and
        percent-encoded so that it fills exactly one segment.

            >>> Template("https://t.example/<os>").render({"os": "Debian GNU/Linux"})
            'https://t.example/Debian_GNU%2FLinux'
        """
        literals = self._literals
        out = [literals[0]]
        get = facts.get
        for i, name in enumerate(self._names):
            if i == 0 and name == "base" and not literals[0]:
                out.append(check_base(get("base")))
            else:
                out.append(encode(get(name)))
            out.append(literals[i + 1])
        return "".join(out)

    def _pattern(self) -> re.Pattern[str]:
        if self._matcher is None:
            pieces = [re.escape(self._literals[0])]
            for i, (name, query) in enumerate(zip(self._names, self._in_query)):
                if i == 0 and name == "base" and not self._literals[0]:
                    pieces.append(r"(?P<f0>(?i:https?)://[^/?#]+(?:/[^?#]*)?)")
                elif query:
                    pieces.append(f"(?P<f{i}>[^&#]*)")
                else:
                    pieces.append(f"(?P<f{i}>[^/?#]*)")
                pieces.append(re.escape(self._literals[i + 1]))
            object.__setattr__(self, "_matcher", re.compile("".join(pieces)))
        assert self._matcher is not None
        return self._matcher

    def parse(self, url: str) -> dict[str, str]:
        """Return the sanitised value of every placeholder in ``url`` (``base`` included).

        Raises :class:`TemplateError` when ``url`` does not fit the template.

            >>> Template("<base>/<os>/<arch>").parse("https://g.example/t/linux/x86_64")
            {'base': 'https://g.example/t', 'os': 'linux', 'arch': 'x86_64'}
        """
        if not isinstance(url, str):
            raise TemplateError(f"a URL is a string, not {type(url).__name__}")
        match = self._pattern().fullmatch(url)
        if match is None:
            raise TemplateError(f"the URL does not fit the template {self._text!r}", url, None)
        values: dict[str, str] = {}
        for i, name in enumerate(self._names):
            raw = match.group(f"f{i}")
            # base is already in check_base() form (render trimmed its "/"), and not encoded
            value = raw if i == 0 and self.has_base else decode(raw)
            if values.setdefault(name, value) != value:
                where = match.start(f"f{i}")
                raise TemplateError(f"the URL gives two values for <{name}>", url, where)
        return values
