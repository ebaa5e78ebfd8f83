"""Local files the SQL engines' readers can take as the python engine reads the logs.

DuckDB's and Spark's line readers differ from Python's in two ways a log can hit: both drop
a UTF-8 byte order mark at a file's start (Python keeps it as the first line's text), and
neither follows a CloudFront ``#Fields`` line that changes the layout within a file
(and DuckDB's refuses a gzip header with a comment or a header checksum). A
:class:`Spool` gives each engine the same answer: a copy of such a log (decompressed, one
empty line first, which no engine counts, so the mark stays in the first line of data),
and a CloudFront log cut before each ``#Fields`` line into files of one layout each.

    >>> spool = Spool()
    >>> spool.close()
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

from ..formats import CLOUDFRONT_DEFAULT_FIELDS, line_text
from ..sources import Source

__all__ = ["GZIP_MAGIC", "Spool", "cloudfront_fields", "is_gzip", "open_plain"]

GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark


def is_gzip(path: str) -> bool:
    """Whether the file at ``path`` is gzip by its content."""
    with open(path, "rb") as probe:
        return probe.read(2) == GZIP_MAGIC


# The header flags DuckDB's gzip reader refuses (Python's reads them): FTEXT, FHCRC,
# FCOMMENT and the reserved bits
_FLAGS_REFUSED = 0x01 | 0x02 | 0x10 | 0xE0


def _gzip_flags_refused(stream: Any) -> bool:
    """Whether ``stream`` (a log opened by its :class:`~pathbeacon.analysis.sources.Source`,
    nothing read yet) is gzip whose first header holds a flag DuckDB's reader refuses."""
    raw = getattr(stream, "fileobj", None)  # a GzipFile's compressed stream
    head = raw.peek(4)[:4] if raw is not None else b""
    return head[:2] == GZIP_MAGIC and len(head) == 4 and bool(head[3] & _FLAGS_REFUSED)


def open_plain(path: str) -> Any:
    """``path`` opened for reading bytes, decompressed when it is gzip."""
    import gzip

    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def _strip_end(raw: bytes) -> bytes:
    """A line without its ``\\n`` and one ``\\r`` before it (as Python's reader has it)."""
    raw = raw[:-1] if raw.endswith(b"\n") else raw
    return raw[:-1] if raw.endswith(b"\r") else raw


def _headers(stream: Any) -> Iterator[bytes]:
    """The lines of a CloudFront log's header block: up to its first line of data (which
    is read from ``stream`` and dropped)."""
    for line in stream:
        if _strip_end(line) and not line.startswith(b"#"):
            return
        yield line


def _fields_text(raw: bytes) -> str | None:
    """The text of a raw ``#Fields`` line, or ``None`` for another line or one that is not
    text (the rule of :class:`~pathbeacon.analysis.formats.CloudFrontParser`: that one is
    malformed)."""
    return line_text(_strip_end(raw)) if raw.startswith(b"#Fields:") else None


def cloudfront_fields(path: str) -> tuple[str, ...]:
    """The ``#Fields`` layout declared at the top of a CloudFront log (else the default)."""
    fields: tuple[str, ...] = CLOUDFRONT_DEFAULT_FIELDS
    with open_plain(path) as stream:
        for line in _headers(stream):
            text = _fields_text(line)
            if text is not None:
                fields = tuple(text[len("#Fields:"):].split())
    return fields


def _later_fields(path: str) -> bool:
    """Whether a ``#Fields`` line follows a line of data in a CloudFront log (its layout
    changes within the file): the header lines at the top, then ``find`` over the rest."""
    with open_plain(path) as stream:
        for _line in _headers(stream):  # (which cloudfront_fields reads)
            pass
        carry = b"\n"  # the first line of data ended
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                return False
            if (carry + chunk).find(b"\n#Fields:") >= 0:
                return True
            carry = chunk[-8:]  # a match may straddle two reads


class Spool:
    """A private temporary folder of copies, made only when a log needs one."""

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._made = 0

    def name(self, stem: str, suffix: str = ".log") -> str:
        """A new path in the folder (made on first use), for a file not there yet."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="pathbeacon-")
        self._made += 1
        return os.path.join(self._dir.name, f"{stem}-{self._made}{suffix}")

    def _new(self, stem: str) -> tuple[str, Any]:
        name = self.name(stem)
        return name, open(name, "xb")

    def readable(self, source: Source) -> str:
        """A local file the engine's reader takes for ``source``: its path, or a plain copy
        of its lines (standard input, which may be read once; a log whose first line starts
        with a byte order mark; a gzip log whose header has a flag DuckDB refuses, such as
        a comment)."""
        if not source.is_stdin:
            with source.open() as stream:  # decompressed: a gzip log's lines too
                if not _gzip_flags_refused(stream) and stream.read(len(_BOM)) != _BOM:
                    return str(source.name)
        path, out = self._new("log")
        with source.open() as stream, out:
            out.write(b"\n")
            out.writelines(stream)  # standard input may be read by lines only
        return path

    def layouts(self, path: str) -> list[tuple[tuple[str, ...], str]]:
        """The (``#Fields`` layout, local file) pieces of the CloudFront log at ``path``:
        the file itself when its layout holds throughout, else copies cut before each
        ``#Fields`` line, each declaring its layout at its top (and starting with an empty
        line, as :meth:`readable`'s copies do)."""
        if not _later_fields(path):
            return [(cloudfront_fields(path), path)]
        names: list[str] = []
        out: Any = None
        try:
            with open_plain(path) as stream:
                for raw in stream:
                    if out is None or _fields_text(raw) is not None:
                        if out is not None:
                            out.close()
                        name, out = self._new("cloudfront")
                        names.append(name)
                        out.write(b"\n")
                    out.write(raw)
        finally:
            if out is not None:
                out.close()
        return [(cloudfront_fields(name), name) for name in names]

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
