"""Log sources: files (plain or gzip, told by magic bytes) or standard input, with their format.

Every source is read from where it lives exactly once, and may be read any number of times
(``decode`` reads it once, ``dashboard`` several times): a file is reopened, while a pipe
(standard input, a FIFO, a shell's ``<(...)``) is copied, as it is read, into an owner-only
spool file that later reads use. A FIFO that nothing opens for writing within
:data:`FIFO_WAIT` seconds is refused with one line instead of blocking forever; a FIFO
whose writer is there but silent is waited for, like any pipe. Nothing here opens a log in
a way that could block: a name is opened with ``O_NONBLOCK`` and checked by its descriptor,
so a file swapped for a FIFO after planning cannot hang a later read either.

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
import os
import shutil
import stat
import sys
import tempfile
import time
import weakref
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from .formats import DETECT_LINES, FORMATS, detect

__all__ = ["FIFO_WAIT", "STDIN", "Source", "open_sources"]

#: The name that stands for standard input.
STDIN = "-"
#: Seconds to wait for something to open a named pipe (FIFO) for writing before refusing it.
FIFO_WAIT = 10.0
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16  # bytes read from a pipe at a time (and spooled in one write)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


class Source:
    """One log: its name (a path, or ``-``), its format, and its lines as bytes.

    The lines may be read any number of times: a file is reopened for each read; a pipe
    (:attr:`is_stdin`: standard input, a FIFO...) is read from the pipe once, and what was
    read is kept in a spool file that later reads replay.
    """

    __slots__ = ("_head", "_spool", "_stream", "format", "name")

    def __init__(self, name: str, format: str, *, stream: BinaryIO | None = None,
                 head: list[bytes] | None = None) -> None:
        self.name = name
        self.format = format
        self._stream = stream
        self._head: list[bytes] | None = head or []
        self._spool = _find_tee(stream)

    def __repr__(self) -> str:
        return f"Source({self.name!r}, {self.format!r})"

    @property
    def is_stdin(self) -> bool:
        """Whether this log is standard input or another pipe (not a file that can be
        reopened: engines that need a file name copy it)."""
        return self._stream is not None

    def open(self) -> BinaryIO:
        """A binary stream of the whole log (decompressed), from its start."""
        if self._stream is None:
            return _open_file(self.name)
        if self._head is not None:  # the first read: from the pipe, copied as it goes
            head, self._head = self._head, None
            return _Replay(head, self._stream)  # type: ignore[return-value]
        what = "standard input" if self.name == STDIN else self.name
        if self._spool is None:  # a stream handed in, not opened here: nothing kept
            raise ValueError(f"{what} can be read only once (it is a pipe)")
        return _open_file(self._spool.complete(what))

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
    """A pipe with the lines already read for detection put back in front."""

    def __init__(self, head: list[bytes], rest: BinaryIO) -> None:
        super().__init__()
        self._lines: Iterator[bytes] = itertools.chain(head, rest)
        self._rest = rest

    def __iter__(self) -> Iterator[bytes]:
        return self._lines

    def readable(self) -> bool:
        return True


class _Tee(io.RawIOBase):
    """The raw bytes of a pipe, each also written to an owner-only spool file as it is read
    (below any buffering or decompression, so the spool holds the pipe's bytes exactly,
    from the very first, which format detection reads). The spool's private folder goes
    with this object, or at exit."""

    def __init__(self, source: Any, prefix: bytes = b"", *, owned: bool = False) -> None:
        super().__init__()
        self._source = source
        self._owned = owned  # closed with this reader (a FIFO we opened; never stdin)
        self._read = getattr(source, "read1", None) or source.read
        self._prefix = prefix
        self.done = False
        self.failure = ""
        self.spool: Any = None  # a binary file, or None once spooling failed or ended
        self.path = ""
        try:
            folder = tempfile.mkdtemp(prefix="pathbeacon-pipe-")  # mode 0700
            weakref.finalize(self, shutil.rmtree, folder, True)
            self.path = os.path.join(folder, "log")
            self.spool = open(self.path, "xb")  # noqa: SIM115 - closed when complete
        except OSError as error:  # this read goes on; a second one will say why it cannot
            self.failure = error.strerror or str(error)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            data, self._prefix = self._prefix[:len(buffer)], self._prefix[len(buffer):]
        else:
            data = self._read(len(buffer))
        if not data:
            self.done = True
            return 0
        if self.spool is not None:
            try:
                self.spool.write(data)
            except OSError as error:  # a full TMPDIR: this read goes on, a second cannot
                self.failure = error.strerror or str(error)
                self.spool.close()
                self.spool = None
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        super().close()
        if self._owned:
            self._source.close()

    def complete(self, what: str) -> str:
        """The spool file's path, holding the whole pipe (what earlier reads left is copied
        in now); ``ValueError`` when no copy could be kept."""
        if self.spool is not None:
            while not self.done and self.spool is not None:
                self.readinto(bytearray(1 << 16))
            if self.spool is not None:
                self.spool.close()
                self.spool = None
        if self.failure:
            raise ValueError(f"{what} can be read only once (it is a pipe), and no copy"
                             f" of it could be kept to read it again: {self.failure}")
        return self.path


def _find_tee(stream: Any) -> _Tee | None:
    """The :class:`_Tee` under ``stream`` (a buffered reader, or gzip over one)."""
    for _ in range(3):
        if isinstance(stream, _Tee):
            return stream
        stream = getattr(stream, "fileobj", None) or getattr(stream, "raw", None)
        if stream is None:
            return None
    return None


def _nonblocking_open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None


def _open_file(path: str) -> BinaryIO:
    """A regular file, plain or gzip. Opened without blocking and checked by its
    descriptor: a FIFO swapped in for a planned file is refused, not waited on."""
    fd = _nonblocking_open(path)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise ValueError(f"cannot read {path}: {what}")
        os.set_blocking(fd, True)
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    if stream.peek(2)[:2] == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return stream


def _kind(path: str) -> int | None:
    """``path``'s file type (``stat.S_IFMT``), or ``None`` when it cannot be told (reported
    when it is opened)."""
    try:
        return stat.S_IFMT(os.stat(path).st_mode)
    except OSError:
        return None


def _is_pipe(path: str) -> bool:
    """Whether ``path`` names something that is not a regular file or a directory (a FIFO,
    ``/dev/stdin``, a shell's ``<(...)``): reading it consumes it."""
    kind = _kind(path)
    return kind is not None and kind not in (stat.S_IFREG, stat.S_IFDIR)


def _wait_for_writer(fd: int, path: str) -> bytes:
    """Wait (at most :data:`FIFO_WAIT` seconds) until the FIFO open as ``fd`` has a writer,
    or had one; return the bytes this read on the way. ``ValueError`` if none came.

    A non-blocking read tells: data, or EOF after a writer came and went (poll reports
    POLLHUP); ``EAGAIN`` while a writer is there but silent; EOF with no POLLHUP while no
    writer ever opened it."""
    import select

    deadline = time.monotonic() + FIFO_WAIT
    poller = select.poll() if hasattr(select, "poll") else None
    if poller is not None:
        poller.register(fd, select.POLLIN)
    while True:
        if poller is not None and poller.poll(50):
            return b""  # data, or a writer that came and went: read as usual
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return b""  # a writer is there: wait for its data as for any pipe
        if data:
            return data
        if time.monotonic() >= deadline:
            raise ValueError(
                f"cannot read {path}: a named pipe (FIFO) that nothing opened for writing"
                f" within {FIFO_WAIT:g} seconds"
            )
        if poller is None:
            time.sleep(0.05)


def _open_pipe(path: str) -> BinaryIO:
    """A pipe named by ``path``, read once through a :class:`_Tee`: a FIFO is opened
    without blocking and waited on for a writer (see :func:`_wait_for_writer`)."""
    fd = _nonblocking_open(path)
    try:
        prefix = b""
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            prefix = _wait_for_writer(fd, path)
        os.set_blocking(fd, True)
        raw = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(_Tee(raw, prefix, owned=True), _CHUNK)


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
        if name == STDIN or _is_pipe(name):
            # A pipe (stdin, a FIFO, a shell's <(...)) can be read only once: the lines
            # read to detect its format are kept and put back in front.
            what = "standard input" if name == STDIN else name
            if name != STDIN:
                raw_stream = _open_pipe(name)
            elif stdin is None and sys.stdin is None:  # started with its descriptor 0 closed
                raise ValueError("cannot read standard input: it is closed")
            else:
                given = stdin if stdin is not None else sys.stdin.buffer
                raw_stream = io.BufferedReader(_Tee(given), _CHUNK)
            stream: BinaryIO = raw_stream
            peek = getattr(raw_stream, "peek", None)
            if peek is not None and peek(2)[:2] == _GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=raw_stream, mode="rb")  # type: ignore[assignment]
            try:
                head = _head_lines(stream) if format == "auto" else []
            except (OSError, EOFError, zlib.error) as error:
                raise ValueError(f"cannot read {what}: {error}") from None
            chosen = _detected(what, head) if format == "auto" else format
            sources.append(Source(name, chosen, stream=stream, head=head))
            continue
        with _open_file(name) as file:
            try:
                head = _head_lines(file) if format == "auto" else [file.read(1)]
            except (OSError, EOFError, zlib.error) as error:
                raise ValueError(f"cannot read {name}: {error}") from None
        sources.append(Source(name, _detected(name, head) if format == "auto" else format))
    return sources
