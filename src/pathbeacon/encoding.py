"""Sanitise any value into a short, printable string and encode it as one URL segment.

One rule serves every value, in a path segment or a query value alike:

    >>> sanitise("Mac OS X")
    'Mac_OS_X'
    >>> encode("Debian GNU/Linux")
    'Debian_GNU%2FLinux'
    >>> decode("Debian_GNU%2FLinux")
    'Debian_GNU/Linux'
"""

from __future__ import annotations

import unicodedata

#: RFC 3986 "unreserved" characters: the only ones an encoded segment carries raw.
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
#: Longest sanitised value, in characters.
MAX_LENGTH = 64
#: What an empty (or missing) value becomes.
UNKNOWN = "unknown"
#: Characters of a value looked at: a longer one is cut to this before anything else, so
#: that a 10 MB value costs microseconds rather than seconds of normalising.
MAX_INPUT = 4096

_SAFE_BYTES = frozenset(UNRESERVED.encode("ascii"))
# One string per byte, so encoding is a table look-up per byte.
_BYTE_TEXT = tuple(chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in range(256))
_HEX = "0123456789ABCDEFabcdef"
# Control characters (Unicode category Cc) are U+0000-U+001F and U+007F-U+009F. Lone
# surrogates (category Cs) are dropped too: they cannot be encoded as UTF-8 at all.
_DROP = {
    **dict.fromkeys(range(0x20)),
    **dict.fromkeys(range(0x7F, 0xA0)),
    **dict.fromkeys(range(0xD800, 0xE000)),
}
_DOTS = {".": "_", "..": "__"}
# Format characters (category Cf: bidi overrides and isolates, zero-width joiners and
# spaces, tag characters) are invisible yet can disguise a value on a dashboard or a
# terminal; they are dropped too. Found by category, so new Unicode versions are covered.
_FORMAT = "Cf"


def text_of(value: object) -> str:
    """``str(value)`` as an exact ``str``: a subclass's own methods (which may lie about
    its content) are never asked anything afterwards.

        >>> class Liar(str):
        ...     def split(self, sep=None, maxsplit=-1): return ["clean"]
        >>> type(text_of(Liar("a b"))), text_of(Liar("a b")).split()
        (<class 'str'>, ['a', 'b'])
    """
    if type(value) is str:
        return value
    # A subclass is never asked anything (its methods may lie); str() of anything else may
    # itself return a subclass, from a __str__ of the value's own. str.encode, called on
    # the type, reads the characters themselves: an exact copy on CPython and PyPy alike
    # (PyPy's str.__str__ hands a subclass back as it is).
    text = value if isinstance(value, str) and issubclass(type(value), str) else str(value)
    if type(text) is str:
        return text
    return str.encode(text, "utf-8", "surrogatepass").decode("utf-8", "surrogatepass")


def _plain(text: str) -> bool:
    """Already sanitised and needing no escape: 1-64 unreserved characters, no dot segment."""
    return 0 < len(text) <= MAX_LENGTH and not text.strip(UNRESERVED) and text not in _DOTS


def _nfc_prefix(text: str) -> str:
    # NFC may lengthen a string (composition exclusions decompose), and a cut may leave a
    # prefix that NFC changes again; settle on a prefix that is NFC and short enough.
    text = unicodedata.normalize("NFC", text)[:MAX_LENGTH]
    while not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text[:-1])[:MAX_LENGTH]
    return text


def sanitise(value: object) -> str:
    """Return the printable, bounded text that ``value`` stands for in a URL.

    ``None`` becomes ``unknown``, booleans ``true``/``false``; whitespace runs become one
    ``_``; control and format characters (categories Cc, Cf) are dropped; the text is
    NFC-normalised and cut to 64 characters; an empty result becomes ``unknown``, and
    ``.``/``..`` become ``_``/``__``, also between slashes (``/../x`` is ``/__/x``: nginx
    decodes ``%2F`` and refuses a path that climbs above its root). Only the first
    ``MAX_INPUT`` (4096) characters of a value are read, and a ``str`` subclass is read as
    the plain string it holds. Sanitising is idempotent.

        >>> sanitise("  Mac OS\\tX\\n"), sanitise(None), sanitise(True), sanitise("..")
        ('Mac_OS_X', 'unknown', 'true', '__')
        >>> sanitise("/../x"), sanitise("a/./b")
        ('/__/x', 'a/_/b')
        >>> sanitise("evil\\u202egnp.exe"), sanitise("a\\u200bb")
        ('evilgnp.exe', 'ab')
    """
    if value is None:
        return UNKNOWN
    if value is True or value is False:
        return "true" if value else "false"
    text = value if type(value) is str else text_of(value)
    if _plain(text):
        return text  # the common case, needing none of the steps below
    text = "_".join(text[:MAX_INPUT].split())
    if not text.isprintable():
        text = text.translate(_DROP)
        if not text.isprintable():
            category = unicodedata.category
            text = "".join([ch for ch in text if category(ch) != _FORMAT])
    text = text[:MAX_LENGTH] if text.isascii() else _nfc_prefix(text)
    if "/" in text:  # a web server decodes %2F and resolves the dot segments it then sees
        text = "/".join([_DOTS.get(piece, piece) for piece in text.split("/")])
    return _DOTS.get(text, text) if text else UNKNOWN


def quote(text: str) -> str:
    """Percent-encode the UTF-8 bytes of ``text`` except unreserved characters.

        >>> quote("a b/é")
        'a%20b%2F%C3%A9'
    """
    if type(text) is not str:
        text = text_of(text)
    if not text.strip(UNRESERVED):
        return text
    return "".join([_BYTE_TEXT[b] for b in text.encode("utf-8")])


def encode(value: object) -> str:
    """Sanitise ``value`` and percent-encode it so that it fills exactly one segment.

    The result always matches ``(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+``.

        >>> encode("Debian GNU/Linux"), encode(""), encode("50%")
        ('Debian_GNU%2FLinux', 'unknown', '50%25')
    """
    if type(value) is str and _plain(value):
        return value  # the common case for detected facts: nothing to sanitise or escape
    return quote(sanitise(value))


def unquote(segment: str) -> str:
    """Decode percent-escapes (any case) in ``segment``; malformed escapes stay as they are.

        >>> unquote("Debian_GNU%2fLinux")
        'Debian_GNU/Linux'
    """
    if "%" not in segment:
        return segment
    out = bytearray()
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        if ch == "%" and i + 2 < n and segment[i + 1] in _HEX and segment[i + 2] in _HEX:
            out.append(int(segment[i + 1 : i + 3], 16))
            i += 3
        else:
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
    return out.decode("utf-8", "replace")


def decode(segment: str) -> str:
    """Turn an encoded segment back into the sanitised value it carries.

        >>> decode(encode("Mac OS X"))
        'Mac_OS_X'
    """
    return sanitise(unquote(segment))
