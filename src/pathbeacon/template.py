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

import itertools
import re
from collections import namedtuple
from collections.abc import Callable, Iterator

from .encoding import MAX_LENGTH, UNRESERVED, decode, encode, text_of
from .errors import TemplateError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the worker should not import typing
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NamedTuple

__all__ = ["UTF8_ESCAPE_RE", "Slot", "Template", "check_base", "value_re"]

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
# Characters an encoded value never carries raw: a separator holding one ends the value
# before it unambiguously (see Template.exact).
_NEVER_ENCODED = frozenset(_LITERAL) - frozenset(UNRESERVED + "%")


_H = "[0-9A-Fa-f]"
_CONT = "%[89ABab][0-9A-Fa-f]"
#: One UTF-8 character spelled as ``%XX`` escapes (the well-formed sequences of RFC 3629:
#: no overlongs, no surrogates, nothing above U+10FFFF).
UTF8_ESCAPE_RE = (
    f"%[0-7]{_H}"
    f"|%[Cc][2-9A-Fa-f]{_CONT}|%[Dd]{_H}{_CONT}"
    f"|%[Ee]0%[ABab]{_H}{_CONT}|%[Ee][1-9A-Ca-cEeFf]{_CONT}{_CONT}|%[Ee][Dd]%[89]{_H}{_CONT}"
    f"|%[Ff]0%[9ABab]{_H}{_CONT}{_CONT}|%[Ff][1-3]{_CONT}{_CONT}{_CONT}"
    f"|%[Ff]4%8{_H}{_CONT}{_CONT}"
)



def value_re(atom: Callable[[bool], str], lazy: str = "") -> str:
    """The regex of one value as pathbeacon writes it: 1 to 64 atoms (characters), not
    ``.`` or ``..`` as written, which :func:`~pathbeacon.encoding.sanitise` never leaves
    (so a shared segment is not split into one). ``atom(True)`` is one atom,
    ``atom(False)`` one that is not ``.``; ``lazy`` is ``"?"`` for a value taken as short
    as possible.

        >>> value = value_re(lambda dot: "[a.]" if dot else "a")
        >>> [bool(re.fullmatch(value, text)) for text in (".", "..", ".a", "..a", "a..")]
        [False, False, True, True, True]
    """
    def one(dot: bool) -> str:  # (called for each place: an atom may name its groups)
        return f"(?:{atom(dot)})"
    return (f"(?:{one(False)}{one(True)}{{0,{MAX_LENGTH - 1}}}{lazy}"
            f"|[.]{one(False)}{one(True)}{{0,{MAX_LENGTH - 2}}}{lazy}"
            f"|[.][.]{one(True)}{{1,{MAX_LENGTH - 2}}}{lazy})")


_SLOT_DOC = """One placeholder of a :class:`Template`, in order (a repeated name appears again).

    ``in_query`` says whether it fills a query value rather than a path segment;
    ``shortest`` whether another placeholder follows it in the same segment or value, so
    that a parser takes it as short as possible.
    """

if TYPE_CHECKING:

    class Slot(NamedTuple):
        name: str
        in_query: bool
        shortest: bool

else:
    # collections.namedtuple, not typing.NamedTuple: importing typing costs a short program
    # milliseconds of CPU in the worker.
    Slot = namedtuple("Slot", "name in_query shortest")
    Slot.__doc__ = _SLOT_DOC

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
    whitespace or control characters; it fills ``<base>`` unencoded. An international
    host name is encoded with IDNA (``bücher.example`` is ``xn--bcher-kva.example``).

        >>> check_base("https://acme.gateway.scarf.sh/telemetry/")
        'https://acme.gateway.scarf.sh/telemetry'
    """
    if type(value) is str:
        known = _checked_bases.get(value)
        if known is not None:
            return known
    if value is None:
        raise TemplateError("no value for <base>: pass base='https://...'")
    if not issubclass(type(value), str):
        raise TemplateError(f"<base> must be a string URL, not {type(value).__name__}")
    value = text_of(value)  # a str subclass's methods are not asked: they could lie
    if not value:
        raise TemplateError("<base> is empty: pass base='https://...'")
    start = _scheme_end(value)
    if not start:
        raise TemplateError("<base> must start with http:// or https://", value, 0)
    if not value.isascii():
        value = _idna_host(value, start)
    for i, ch in enumerate(value):
        if ch == "?":
            raise TemplateError("<base> may not carry a query", value, i)
        if ch == "#":
            raise TemplateError("<base> may not carry a fragment", value, i)
        if not " " < ch < "\x7f" or ch in _BASE_BAD:
            raise TemplateError(f"<base> may not contain {ch!r}", value, i)
    authority = value[start:].split("/", 1)[0]
    if "@" in authority:
        raise TemplateError(
            "<base> may not carry user info (user@host)", value, start + authority.index("@")
        )
    host = authority
    if not host or host.startswith(":"):
        raise TemplateError("<base> has no host", value, start)
    port = host.rpartition(":")[2] if ":" in host and "]" not in host.rpartition(":")[2] else ""
    if port and not port.isdigit():
        raise TemplateError("the port must be digits", value, start + len(host) - len(port))
    _check_port(value, start + len(host) - len(port), port)
    check_path(value, start + len(authority))
    result = value[:-1] if value.endswith("/") else value
    if len(_checked_bases) > 256:
        _checked_bases.clear()
    _checked_bases[value] = result
    return result


# UTS 46's deviation characters: sharp s, final sigma, zero-width joiner and non-joiner.
_DEVIATIONS = frozenset("\u00df\u03c2\u200d\u200c")


def _idna_host(value: str, start: int) -> str:
    """``value`` with an international host name encoded with IDNA, as browsers do.

        >>> _idna_host("https://bücher.example:8443/t", 8)
        'https://xn--bcher-kva.example:8443/t'
    """
    end = start
    while end < len(value) and value[end] not in "/?#":
        end += 1
    host, colon, port = value[start:end].rpartition(":")
    if not colon or not port.isdigit():
        host, colon, port = value[start:end], "", ""
    if host.isascii() or "@" in host:
        return value  # nothing to encode; the checks that follow name what is wrong
    for ch in _DEVIATIONS.intersection(host):
        # IDNA 2003 maps these away ("straße" is "strasse"), browsers today keep them
        # ("xn--strae-oqa"): two different hosts, so neither is guessed.
        raise TemplateError(
            f"<base> host {host!r} holds {ch!r}, which IDNA 2003 and browsers encode"
            " differently: write the host in its xn-- form", value, value.index(ch, start))
    try:
        # Python's "idna" codec is IDNA 2003 (nameprep: case folded, "。" is a dot),
        # close to what browsers send for the names people use.
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise TemplateError(
            f"<base> host {host!r} is not a valid international domain name ({error})",
            value, start) from None
    return f"{value[:start]}{encoded}{colon}{port}{value[end:]}"


# Path segments every URL parser (WHATWG, RFC 3986, nginx) resolves away, in any case.
_DOT_SEGMENTS = frozenset({".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"})


def check_path(text: str, start: int = 0, end: int | None = None) -> None:
    """Refuse, with a caret, a path (``text[start:end]``, which may hold placeholders) that
    URL parsers rewrite or reject, so that the URL sent would not be the URL written: a
    ``.`` or ``..`` segment (also spelled ``%2e``), or a ``%`` that starts no escape.

        >>> try:
        ...     check_path("/t/%2E%2e/x")
        ... except TemplateError as error:
        ...     print(error)
        a '%2E%2e' segment, which URL parsers resolve away (at position 3)
          /t/%2E%2e/x
             ^
    """
    end = len(text) if end is None else end
    for pos in range(start, end):
        if text[pos] == "%" and not _escape_ok(text, pos):
            raise TemplateError("'%' must start an escape such as %2F", text, pos)
    pos = start
    while pos <= end:
        stop = text.find("/", pos, end)
        stop = end if stop < 0 else stop
        segment = text[pos:stop]
        if segment.lower() in _DOT_SEGMENTS:  # one with a placeholder holds a '<'
            raise TemplateError(f"a {segment!r} segment, which URL parsers resolve away",
                                text, pos)
        pos = stop + 1


def _check_port(text: str, pos: int, port: str) -> None:
    """``port`` (digits, at ``pos`` in ``text``) must be a TCP port URL parsers accept."""
    if port and int(port) > 65535:
        raise TemplateError("the port must be at most 65535", text, pos)


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
    if ":" in text[start:pos]:
        _check_port(text, pos - len(port), port)
    return pos


def _escape_ok(text: str, pos: int) -> bool:
    return pos + 2 < len(text) and text[pos + 1] in _HEX and text[pos + 2] in _HEX


def _scan(text: str) -> tuple[tuple[str, ...], tuple[Slot, ...]]:
    """Split ``text`` into literals and slots: lit0 slot0 lit1 slot1 ... litN."""
    if not isinstance(text, str):
        raise TemplateError(f"a template is a string, not {type(text).__name__}")
    if not text:
        raise TemplateError("empty template", text, 0)
    literals: list[str] = []
    names: list[str] = []
    in_query: list[bool] = []
    units: list[int] = []  # which segment or query value each placeholder fills
    unit = 0
    if text.startswith(_BASE):
        literals.append("")
        names.append("base")
        in_query.append(False)
        units.append(unit)
        pos = len(_BASE)
        if pos < len(text) and text[pos] not in "/?":
            raise TemplateError("<base> must be followed by '/', '?' or nothing", text, pos)
    else:
        pos = _scan_authority(text)
    current = [text[:pos]] if not names else []
    query = False
    in_key = False  # whether the current query unit is a key (no placeholder there)
    last_end = -1  # where the previous placeholder ended
    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            if text.startswith(_BASE, pos):
                raise TemplateError("<base> may only stand at the very start", text, pos)
            name, end = _placeholder(text, pos)
            if in_key:
                raise TemplateError("a placeholder may not stand in a query key", text, pos)
            if pos == last_end:
                raise TemplateError(
                    "two placeholders side by side: separate them with literal text",
                    text,
                    pos,
                )
            literals.append("".join(current))
            current = []
            names.append(name)
            in_query.append(query)
            units.append(unit)
            last_end = pos = end
            continue
        if ch == "#":
            raise TemplateError("a template may not have a fragment ('#')", text, pos)
        if ch == "%":
            if not _escape_ok(text, pos):
                raise TemplateError("'%' must start an escape such as %2F", text, pos)
        elif ch not in _LITERAL:
            raise TemplateError(f"character {ch!r} is not allowed in a URL", text, pos)
        if (not query and ch in "/?") or (query and (ch == "&" or (ch == "=" and in_key))):
            unit += 1
            if ch == "?" or ch == "&":
                query, in_key = True, True
            elif ch == "=":
                in_key = False
        current.append(ch)
        pos += 1
    literals.append("".join(current))
    _check_literals(text, len(_BASE) if text.startswith(_BASE) else _scan_authority(text))
    count = len(names)
    slots = tuple(
        Slot(names[i], in_query[i], i + 1 < count and units[i + 1] == units[i])
        for i in range(count)
    )
    return tuple(literals), slots


def _check_literals(text: str, path_start: int) -> None:
    """Refuse literal text that URL parsers would send otherwise than written: dot
    segments in the path, and in the query a ``'`` (sent as ``%27`` by browsers and the
    WHATWG parser for http and https URLs)."""
    query = text.find("?", path_start)
    check_path(text, path_start, len(text) if query < 0 else query)
    if query >= 0 and "'" in text[query:]:
        raise TemplateError("\"'\" in a query is sent as %27 by URL parsers: write %27",
                            text, text.index("'", query))


class Template:
    """A URL template, parsed and validated once; immutable, hashable, equal by text.

    ``<base>`` may only open the template; other placeholders fill a path segment or a
    query value, sanitised and percent-encoded. Several may share a segment when literal
    text separates them (``acme-<version>-<os>.tar.gz``).

        >>> Template("<base>/py<python_minor>/<os>").render(
        ...     {"base": "https://x.example", "python_minor": "3.11", "os": "linux"})
        'https://x.example/py3.11/linux'
    """

    __slots__ = ("_fields", "_literals", "_matcher", "_slots", "_text")

    _text: str
    _literals: tuple[str, ...]
    _slots: tuple[Slot, ...]
    _fields: tuple[str, ...]
    _matcher: re.Pattern[str] | None

    def __init__(self, text: str) -> None:
        literals, slots = _scan(text)
        setattr_ = object.__setattr__
        setattr_(self, "_text", text)
        setattr_(self, "_literals", literals)
        setattr_(self, "_slots", slots)
        setattr_(self, "_fields", tuple(dict.fromkeys(slot.name for slot in slots)))
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
    def literals(self) -> tuple[str, ...]:
        """The literal text around the slots: ``literals[i]`` comes before ``slots[i]``.

            >>> Template("<base>/acme-<version>.tar.gz").literals
            ('', '/acme-', '.tar.gz')
        """
        return self._literals

    @property
    def slots(self) -> tuple[Slot, ...]:
        """Every placeholder in order, as :class:`Slot` values (the engine-neutral form
        that parsers and log decoders compile)."""
        return self._slots

    @property
    def has_base(self) -> bool:
        """Whether the template opens with ``<base>``."""
        return bool(self._slots) and self._slots[0].name == "base" and not self._literals[0]

    @property
    def exact(self) -> bool:
        """Whether :meth:`parse` gives back every value :meth:`render` put in, whatever it is.

        True unless two placeholders share a segment and the text between them holds only
        characters an encoded value may carry too (letters, digits, ``-._~``, escapes): a
        value containing that separator cannot come back, as the first placeholder is
        taken as short as possible.

            >>> Template("<base>/<os>/<arch>").exact, Template("<base>/<os>+<arch>").exact
            (True, True)
            >>> Template("<base>/acme-<version>-<os>.tar.gz").exact
            False
        """
        return all(
            not slot.shortest or not _NEVER_ENCODED.isdisjoint(self._literals[i + 1])
            for i, slot in enumerate(self._slots)
        )

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
        base = self.has_base
        for i, slot in enumerate(self._slots):
            if i == 0 and base:
                out.append(check_base(get("base")))
            else:
                out.append(encode(get(slot.name)))
            out.append(literals[i + 1])
        return "".join(out)

    def shared(self, index: int) -> bool:
        """Whether the placeholder at ``index`` of :attr:`slots` shares its segment (or
        query value) with another: such a segment is split where every value is 1-64
        characters, each but the last as short as possible (:meth:`parse`).

            >>> t = Template("<base>/<os>/acme-<version>-<arch>.tgz")
            >>> [t.shared(i) for i in range(len(t.slots))]
            [False, False, True, True]
        """
        slots = self._slots
        if index == 0 and self.has_base:
            return False
        return slots[index].shortest or (index > 0 and slots[index - 1].shortest)

    def _pattern(self) -> re.Pattern[str]:
        if self._matcher is None:
            pieces = [re.escape(self._literals[0])]
            base = self.has_base
            names = itertools.count()  # the atoms' group names, unique in the pattern
            for i, slot in enumerate(self._slots):
                lazy = "?" if slot.shortest else ""
                if i == 0 and base:
                    pieces.append(r"(?P<f0>(?i:https?)://[^/?#]+(?:/[^?#]*)?)")
                else:
                    # whole escapes, so that a shortest match never ends inside one
                    stop = "&#%" if slot.in_query else "/?#%"
                    if self.shared(i):
                        # 1-64 characters (an escaped UTF-8 character is one), not "." or
                        # "..": the split where every value can be one render() wrote.
                        # Each character is taken once, in one way (a lookahead does not
                        # backtrack).
                        def atom(dot: bool, i: int = i, stop: str = stop,
                                 names: Iterator[int] = names) -> str:
                            name = f"a{i}_{next(names)}"
                            chars = stop if dot else stop + "."
                            return (f"(?=(?P<{name}>{UTF8_ESCAPE_RE}|%[0-9A-Fa-f]{{2}}"
                                    f"|[^{chars}]))(?P={name})")
                        value = value_re(atom, lazy)
                    else:
                        value = f"(?:%[0-9A-Fa-f]{{2}}|[^{stop}])+{lazy}"
                    pieces.append(f"(?P<f{i}>{value})")
                pieces.append(re.escape(self._literals[i + 1]))
            object.__setattr__(self, "_matcher", re.compile("".join(pieces)))
        assert self._matcher is not None
        return self._matcher

    def parse(self, url: str) -> dict[str, str]:
        """Return the sanitised value of every placeholder in ``url`` (``base`` included).

        Placeholders that share a segment are taken each as short as possible but the
        last, such that each is 1-64 characters and not ``.`` or ``..``, as :meth:`render`
        writes them (see
        :attr:`exact`). Raises :class:`TemplateError` when ``url`` does not fit.

            >>> Template("<base>/<os>/<arch>").parse("https://g.example/t/linux/x86_64")
            {'base': 'https://g.example/t', 'os': 'linux', 'arch': 'x86_64'}
            >>> Template("<base>/acme-<version>-<os>.tgz").parse("https://g.example/acme-1.2-linux.tgz")
            {'base': 'https://g.example', 'version': '1.2', 'os': 'linux'}
        """
        if not isinstance(url, str):
            raise TemplateError(f"a URL is a string, not {type(url).__name__}")
        match = self._pattern().fullmatch(url)
        if match is None:
            raise TemplateError(f"the URL does not fit the template {self._text!r}", url, None)
        values: dict[str, str] = {}
        base = self.has_base
        for i, slot in enumerate(self._slots):
            raw = match.group(f"f{i}")
            if i == 0 and base:
                # Not encoded, and already in check_base() form (render trimmed its "/");
                # held to check_base's rules so that no CR, LF or other refused character
                # comes back in it.
                check_base(raw)
                value = raw
            else:
                value = decode(raw)
            if values.setdefault(slot.name, value) != value:
                where = match.start(f"f{i}")
                raise TemplateError(f"the URL gives two values for <{slot.name}>", url, where)
        return values
