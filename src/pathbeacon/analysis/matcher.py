"""The fits rule: when a request target fits a template, and what values it carries.

A template is compiled once, with an optional ``base=``, into a :class:`Matcher`: one regular
expression over the target (:attr:`Matcher.pattern`, valid for Python ``re``, RE2 and Java
regex alike) plus one check on each captured value. Every engine applies exactly this rule:

1. **Origin.** A target may be absolute (``https://host/path``): an opening
   ``http://`` or ``https://`` (any case) and the authority up to the next ``/``, ``?`` or
   ``#`` are skipped. The host is never compared.
2. **Prefix.** ``base=`` (a URL or just its path; one trailing ``/`` dropped) makes its path
   a fixed prefix, compared byte for byte. Without ``base=``, a template that opens with
   ``<base>`` accepts any prefix (``[^?#]*``): its last segments must fit. A template
   without ``<base>`` has its own path as the prefix (its host is ignored); ``base=`` is
   then refused.
3. **Shape.** The rest of the target must be exactly the template's literals with each
   placeholder replaced by one *raw value*: one or more atoms, each an unreserved
   character ``[A-Za-z0-9._~-]`` or a run of ``%XX`` escapes (hex in any case) that spells
   one valid UTF-8 character (:data:`UTF8_ESCAPE_RE`; so no engine ever decodes bad
   bytes). A placeholder that shares its segment with a later one is matched lazily (as
   short as possible) and every placeholder of a shared segment is 1 to 64 atoms, not
   ``.`` or ``..`` (:func:`~pathbeacon.template.value_re`), exactly as
   :meth:`Template.parse <pathbeacon.Template.parse>` does: the segment is split where
   every value can be one pathbeacon sent; the others
   are matched greedily. Nothing
   may follow: a query or fragment the template does not have makes the target not fit
   (pathbeacon never appends one, and nor do the gateways it writes configs for).
4. **Values.** Each raw value is percent-decoded (UTF-8) and must already be in the form
   pathbeacon sends: 1 to 64 characters (code points), not ``.`` or ``..``, and no
   character of :func:`forbidden_ranges` (whitespace as ``str.isspace`` defines it,
   control characters, category Cc, and format characters, category Cf: exactly what
   ``sanitise`` would change, NFC aside, so that no value can hide behind a bidi override
   or a zero-width character on a dashboard).
   NFC is not checked: a value that is not NFC is returned as it is. A placeholder that
   appears twice must decode to the same text both times.

A target that fails any step is ``other_path``. The value of each field is the decoded
text. For every URL pathbeacon renders the result equals ``Template.parse`` (minus ``base``).

    >>> m = Matcher.compile("<base>/<package>/<version>/<os>", base="https://g.example/t")
    >>> m.match("/t/acme/1.0/Mac_OS_X")
    {'package': 'acme', 'version': '1.0', 'os': 'Mac_OS_X'}
    >>> m.match("/elsewhere/acme/1.0/linux") is None, m.match("/t/acme/1.0/linux?x=1") is None
    (True, True)
"""

from __future__ import annotations

import functools
import re
import unicodedata

from ..encoding import MAX_LENGTH, unquote
from ..template import UTF8_ESCAPE_RE, Template, check_base, value_re

__all__ = [
    "ATOM_RE",
    "NOT_DOT_ATOM_RE",
    "UTF8_ESCAPE_RE",
    "Matcher",
    "forbidden_class",
    "forbidden_ranges",
    "percent_decode",
    "value_ok",
]

#: One atom of a raw value: an unreserved character or one escaped UTF-8 character.
ATOM_RE = f"[A-Za-z0-9._~-]|{UTF8_ESCAPE_RE}"
#: An atom that is not ``.`` (a shared segment's value starts with one, or with ``.`` and
#: one: ``.`` and ``..`` are no value, :func:`~pathbeacon.template.value_re`).
NOT_DOT_ATOM_RE = f"[A-Za-z0-9_~-]|{UTF8_ESCAPE_RE}"
#: What an origin looks like in an absolute target (skipped, never compared).
ORIGIN_RE = "(?:[Hh][Tt][Tt][Pp][Ss]?://[^/?#]*)?"
#: The prefix a ``<base>`` template accepts when no ``base=`` is given.
ANY_PREFIX_RE = "[^?#]*"


def _forbidden(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")


#: What :func:`forbidden_ranges` computes, by Unicode version (``start-end`` in hex): the
#: computation takes a fifth of a CPU-second, which every command reading logs would pay;
#: a test holds the running Python's entry to the computation, and another version is
#: computed.
_KNOWN_RANGES = {
    "13.0.0": "0-20 7f-a0 ad-ad 600-605 61c-61c 6dd-6dd 70f-70f 8e2-8e2 1680-1680 180e-180e"
              " 2000-200f 2028-202f 205f-2064 2066-206f 3000-3000 feff-feff fff9-fffb"
              " 110bd-110bd 110cd-110cd 13430-13438 1bca0-1bca3 1d173-1d17a e0001-e0001"
              " e0020-e007f",
    "14.0.0": "0-20 7f-a0 ad-ad 600-605 61c-61c 6dd-6dd 70f-70f 890-891 8e2-8e2 1680-1680"
              " 180e-180e 2000-200f 2028-202f 205f-2064 2066-206f 3000-3000 feff-feff"
              " fff9-fffb 110bd-110bd 110cd-110cd 13430-13438 1bca0-1bca3 1d173-1d17a"
              " e0001-e0001 e0020-e007f",
    "15.0.0": "0-20 7f-a0 ad-ad 600-605 61c-61c 6dd-6dd 70f-70f 890-891 8e2-8e2 1680-1680"
              " 180e-180e 2000-200f 2028-202f 205f-2064 2066-206f 3000-3000 feff-feff"
              " fff9-fffb 110bd-110bd 110cd-110cd 13430-1343f 1bca0-1bca3 1d173-1d17a"
              " e0001-e0001 e0020-e007f",
}
_KNOWN_RANGES["15.1.0"] = _KNOWN_RANGES["15.0.0"]


def _computed_ranges() -> tuple[tuple[int, int], ...]:
    """:func:`forbidden_ranges` from this Python's Unicode database, code point by code
    point."""
    ranges: list[tuple[int, int]] = []
    start = -1
    for cp in range(0x110000):
        bad = not 0xD800 <= cp < 0xE000 and _forbidden(chr(cp))
        if bad and start < 0:
            start = cp
        elif not bad and start >= 0:
            ranges.append((start, cp - 1))
            start = -1
    if start >= 0:
        ranges.append((start, 0x10FFFF))
    return tuple(ranges)


@functools.cache
def forbidden_ranges() -> tuple[tuple[int, int], ...]:
    """Code point ranges (inclusive) a decoded value may not contain: whitespace
    (``str.isspace``), control characters (Cc) and format characters (Cf), all of which
    ``sanitise`` drops or replaces. From this Python's Unicode database (its version's
    entry in a table, else computed once), so every engine uses the very same set.

    (Surrogates, Cs, cannot occur: :data:`UTF8_ESCAPE_RE` admits no encoded surrogate.)

        >>> forbidden_ranges()[:2]
        ((0, 32), (127, 160))
    """
    known = _KNOWN_RANGES.get(unicodedata.unidata_version)
    if known is None:
        return _computed_ranges()
    return tuple((int(a, 16), int(b, 16))
                 for a, b in (pair.split("-") for pair in known.split()))


def forbidden_class(syntax: str = "re2") -> str:
    """:func:`forbidden_ranges` as one regex character class.

    ``syntax`` is ``"re2"`` (RE2 and Java: ``\\x{h..}``) or ``"python"``.

        >>> forbidden_class("re2")[:26]
        '[\\\\x{0}-\\\\x{20}\\\\x{7f}-\\\\x{a0}'
    """
    if syntax == "re2":
        def esc(cp: int) -> str:
            return f"\\x{{{cp:x}}}"
    elif syntax == "python":
        def esc(cp: int) -> str:
            return f"\\U{cp:08x}"
    else:
        raise ValueError(f"unknown regex syntax {syntax!r}: re2 or python")
    parts = [esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in forbidden_ranges()]
    return "[" + "".join(parts) + "]"


@functools.cache
def _forbidden_re() -> re.Pattern[str]:
    return re.compile(forbidden_class("python"))


def value_ok(text: str) -> bool:
    """Step 4 of the fits rule on a decoded value.

        >>> value_ok("Mac_OS_X"), value_ok(".."), value_ok("a b"), value_ok("x" * 65)
        (True, False, False, False)
        >>> value_ok("/../x"), value_ok("a/./b"), value_ok("a/b..")
        (False, False, True)
    """
    return (
        0 < len(text) <= MAX_LENGTH
        and text not in (".", "..")
        and not ("/" in text and any(piece in (".", "..") for piece in text.split("/")))
        and ((text.isascii() and text.isprintable() and " " not in text)
             or _forbidden_re().search(text) is None)
    )


def percent_decode(raw: str) -> str:
    """Decode a raw value that matched :data:`ATOM_RE` (its escapes are valid UTF-8).

        >>> percent_decode("Debian_GNU%2fLinux%C3%A9")
        'Debian_GNU/Linuxé'
    """
    return unquote(raw)  # lenient for any text; exact for what ATOM_RE admits


_MISSING = object()
# Targets repeat line after line; keep this many answers (about 10 MB at most).
_TARGETS_KEPT = 20_000
_SPECIAL = frozenset("\\.^$|?*+()[]{}")


def _literal(text: str) -> str:
    """``text`` as a regex matching itself in Python, RE2 and Java: the metacharacters
    ``\\.^$|?*+()[]{}`` get a backslash, anything else stands as it is."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def _base_path(base: str) -> str:
    """The path a ``base=`` value fixes: a URL's path, or a path as given; no trailing ``/``."""
    if base.startswith("/") or base == "":
        path = base
        for ch in path:
            if ch in "?#" or not " " < ch < "\x7f":
                raise ValueError(f"base path {base!r} may not contain {ch!r}")
    else:
        url = check_base(base)  # TemplateError (a ValueError) names what is wrong
        rest = url.split("://", 1)[1]
        path = rest[rest.index("/"):] if "/" in rest else ""
    return path[:-1] if path.endswith("/") else path


class Matcher:
    """A template compiled for matching log targets (see the module docstring for the rule).

    :attr:`pattern` captures one group per placeholder after ``<base>``, in order;
    :attr:`groups` names them (a repeated name appears again); :attr:`fields` lists the
    output columns in order of first appearance.
    """

    __slots__ = (
        "_cache", "_regex", "_repeats", "_rest", "_slashes", "_targets",
        "base_path", "fields", "groups", "pattern", "template",
    )

    template: Template
    base_path: str | None
    pattern: str
    groups: tuple[str, ...]
    fields: tuple[str, ...]

    def __init__(self, template: Template, base: str | None = None) -> None:
        self.template = template
        slots = template.slots
        literals = template.literals
        if template.has_base:
            first = 1
            self.base_path = None if base is None else _base_path(base)
            head = ANY_PREFIX_RE if self.base_path is None else _literal(self.base_path)
        else:
            if base is not None:
                raise ValueError(
                    "base= applies only to a template that opens with <base>,"
                    f" not {template.text!r}"
                )
            first = 0
            text = literals[0]
            rest = text.split("://", 1)[1]
            cut = min((rest.find(ch) for ch in "/?" if ch in rest), default=len(rest))
            self.base_path = rest[cut:]
            literals = ("", *literals[1:])
            head = ""
        pieces = ["^", ORIGIN_RE, head]
        tail: list[str] = []  # the pattern after the prefix
        if first == 0:
            tail.append(_literal(self.base_path or ""))
        else:
            tail.append(_literal(literals[1]))
        for i in range(first, len(slots)):
            lazy = "?" if slots[i].shortest else ""
            # in a shared segment each value is 1-64 atoms (characters), as Template.parse
            # splits it; elsewhere step 4 bounds the length
            if template.shared(i):
                value = value_re(
                    lambda dot: ATOM_RE if dot else NOT_DOT_ATOM_RE, lazy)
            else:
                value = f"(?:{ATOM_RE})+{lazy}"
            tail.append(f"({value})")
            tail.append(_literal(literals[i + 1]))
        tail.append("$")
        self.pattern = "".join(pieces + tail)
        self.groups = tuple(slot.name for slot in slots[first:])
        self.fields = tuple(dict.fromkeys(self.groups))
        self._regex = re.compile(self.pattern)
        # Any prefix: the rest has a fixed number of "/" before its "?" (values hold none),
        # so the prefix ends at that many "/" from the end of the target's path: found
        # directly instead of by backtracking (the same match, much faster in Python).
        after = "".join(literals[1:]).split("?", 1)[0]
        self._slashes = after.count("/") if self.base_path is None else -1
        self._rest = re.compile("".join(tail))
        self._repeats = len(self.fields) != len(self.groups)
        self._cache: dict[str, str | None] = {}
        self._targets: dict[str, dict[str, str] | None] = {}

    @classmethod
    def compile(cls, template: Template | str, base: str | None = None) -> Matcher:
        """Compile ``template`` (a :class:`Template` or its text) with an optional ``base``.

            >>> Matcher.compile("https://t.example/v1/<os>").match("/v1/linux")
            {'os': 'linux'}
        """
        return cls(template if isinstance(template, Template) else Template(template), base)

    def __repr__(self) -> str:
        return f"Matcher({self.template.text!r}, base_path={self.base_path!r})"

    def _value(self, raw: str) -> str | None:
        cache = self._cache
        try:
            return cache[raw]
        except KeyError:
            pass
        text = percent_decode(raw)
        value = text if value_ok(text) else None
        if len(cache) >= _TARGETS_KEPT:
            cache.clear()
        cache[raw] = value
        return value

    def match(self, target: str) -> dict[str, str] | None:
        """The decoded fields of ``target``, or ``None`` when it does not fit.

        Do not change the dict returned: it is shared by equal targets.
        """
        known = self._targets.get(target, _MISSING)
        if known is not _MISSING:
            return known  # type: ignore[return-value]
        values = self._match(target)
        if len(self._targets) >= _TARGETS_KEPT:
            self._targets.clear()
        self._targets[target] = values
        return values

    def _match(self, target: str) -> dict[str, str] | None:
        slashes = self._slashes
        if slashes < 0:
            found = self._regex.match(target)
        else:
            end = len(target)
            for stop in "?#":
                at = target.find(stop, 0, end)
                if at >= 0:
                    end = at
            start = end
            for _ in range(slashes):
                start = target.rfind("/", 0, start)
                if start < 0:
                    return None
            found = self._rest.match(target, start)
        if found is None:
            return None
        value_of = self._value
        if not self._repeats:
            decoded = [value_of(raw) for raw in found.groups()]
            if None in decoded:
                return None
            return dict(zip(self.fields, decoded))  # type: ignore[arg-type]
        values: dict[str, str] = {}
        for name, raw in zip(self.groups, found.groups()):
            value = value_of(raw)
            if value is None or values.setdefault(name, value) != value:
                return None
        return values
