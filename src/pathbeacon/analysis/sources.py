"""Log sources: files (plain or gzip, told by magic bytes) or standard input, with their format.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "access.log")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"time": 1787313600, "uri": "/t/x", "status": 204}\\n')
    >>> [(s.name, s.format) for s in open_sources([path])] == [(path, "json")]
    True
"""

from __future__ import annotations

import gzip
import io
import itertools
import sys
import zlib
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from .formats import DETECT_LINES, FORMATS, detect

__all__ = ["STDIN", "Source", "open_sources"]

#: The name that stands for standard input.
STDIN = "-"
_GZIP_MAGIC = b"\x1f\x8b"


class Source:
    """One log: its name (a path, or ``-``), its format, and its lines as bytes.

    The lines of a file may be read any number of times (each read reopens it); standard
    input once.
    """

    __slots__ = ("_head", "_stream", "format", "name")

    def __init__(self, name: str, format: str, *, stream: BinaryIO | None = None,
                 head: list[bytes] | None = None) -> None:
        self.name = name
        self.format = format
        self._stream = stream
        self._head = head or []

    def __repr__(self) -> str:
        return f"Source({self.name!r}, {self.format!r})"

    @property
    def is_stdin(self) -> bool:
        return self._stream is not None

    def open(self) -> BinaryIO:
        """A binary stream of the whole log (decompressed), from its start."""
        if self._stream is not None:
            if self._head is None:
                raise ValueError("standard input can be read only once")
            head, self._head = self._head, None  # type: ignore[assignment]
            return _Replay(head, self._stream)  # type: ignore[return-value]
        return _open_file(self.name)

    def lines(self) -> Iterator[bytes]:
        """Each line without its ``\\n`` or one trailing ``\\r`` (empty lines included)."""
        with self.open() as stream:
            for raw in stream:
                if raw.endswith(b"\n"):
                    raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
                elif raw.endswith(b"\r"):
                    raw = raw[:-1]
                yield raw


class _Replay(io.RawIOBase):
    """Standard input with the lines already read for detection put back in front."""

    def __init__(self, head: list[bytes], rest: BinaryIO) -> None:
        super().__init__()
        self._lines: Iterator[bytes] = itertools.chain(head, rest)
        self._rest = rest

    def __iter__(self) -> Iterator[bytes]:
        return self._lines

    def readable(self) -> bool:
        return True


def _open_file(path: str) -> BinaryIO:
    try:
        stream = open(path, "rb")  # noqa: SIM115 - handed to the caller
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    if stream.peek(2)[:2] == _GZIP_MAGIC:
        stream.close()  # gzip.open closes the file it opens, unlike GzipFile(fileobj=...)
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return stream


def _head_lines(stream: BinaryIO) -> list[bytes]:
    head: list[bytes] = []
    non_empty = 0
    for raw in stream:
        head.append(raw)
        if raw.strip(b"\r\n"):
            non_empty += 1
            if non_empty >= DETECT_LINES:
                break
    return head


def _detected(name: str, head: list[bytes]) -> str:
    found = detect([raw.rstrip(b"\n") for raw in head])
    if found is None:
        if not any(raw.strip(b"\r\n") for raw in head):
            return "urls"  # no lines at all: any format reads it the same
        raise ValueError(
            f"cannot tell the log format of {name} from its first lines:"
            f" pass --format ({', '.join(FORMATS)})"
        )
    return found


def open_sources(names: Sequence[str], format: str = "auto", *,
                 stdin: BinaryIO | None = None) -> list[Source]:
    """Check that every log can be read and settle its format (``auto``: detected per file).

    ``-`` stands for standard input (``stdin``, else ``sys.stdin.buffer``), at most once.
    Raises ``ValueError`` with one clear line for an unknown format, a missing or unreadable
    file, a file whose format cannot be told, or no logs at all.
    """
    if format != "auto" and format not in FORMATS:
        raise ValueError(
            f"unknown log format {format!r}: choose one of {', '.join(FORMATS)} or auto"
        )
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("no log given: name one or more files, or - for standard input")
    if list(names).count(STDIN) > 1:
        raise ValueError("standard input (-) may be given only once")
    sources: list[Source] = []
    for name in names:
        name = str(name)
        if name == STDIN:
            raw_stdin = stdin if stdin is not None else sys.stdin.buffer
            stream: BinaryIO = raw_stdin
            peek = getattr(raw_stdin, "peek", None)
            if peek is not None and peek(2)[:2] == _GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=raw_stdin, mode="rb")  # type: ignore[assignment]
            try:
                head = _head_lines(stream) if format == "auto" else []
            except (OSError, EOFError, zlib.error) as error:
                raise ValueError(f"cannot read standard input: {error}") from None
            chosen = _detected("standard input", head) if format == "auto" else format
            sources.append(Source(name, chosen, stream=stream, head=head))
            continue
        with _open_file(name) as file:
            try:
                head = _head_lines(file) if format == "auto" else [file.read(1)]
            except (OSError, EOFError, zlib.error) as error:
                raise ValueError(f"cannot read {name}: {error}") from None
        sources.append(Source(name, _detected(name, head) if format == "auto" else format))
    return sources
