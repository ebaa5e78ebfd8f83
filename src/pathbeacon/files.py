"""One safe way to touch a file, for every file pathbeacon reads or writes.

A file pathbeacon opens may sit in a folder other people can write to (a shared
``PATHBEACON_CACHE_DIR``), on a network home that hangs, or be replaced by anything at all:
a FIFO that blocks ``open`` forever, a symlink that redirects a write onto the user's own
files, a device, a directory, a file of gigabytes. So:

- :func:`read` opens with ``O_NONBLOCK`` (a FIFO or a terminal can't stall ``open`` or
  ``read``), checks the opened descriptor is a regular file (a link may lead to one: dotfile
  managers link config files), and reads at most ``limit`` bytes, refusing a larger file;
- :func:`replace` and :class:`AtomicFile` write a fresh temporary file beside the target
  (``O_CREAT | O_EXCL | O_NOFOLLOW``, so nothing planted at that name is ever followed) and
  ``os.replace`` it into place only when complete, so a reader sees the old file or the new
  one, never half of one, and a failure leaves nothing behind;
- :func:`create` is an exclusive create (a claim that only one process can win);
- :func:`append` adds to a regular file, never through a link.

Only ``os`` is imported (no ``__future__``, no ``typing``): :func:`read` runs on the host's
importing thread.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sub", "state")
    >>> print(read(path, 64))
    None
    >>> replace(path, b"1.5\\n")
    >>> read(path, 64)
    b'1.5\\n'
    >>> create(path, b"x")
    False
    >>> os.mkfifo(path + ".fifo")
    >>> try:
    ...     read(path + ".fifo", 64)
    ... except OSError as error:
    ...     print(error.strerror)
    not a regular file
"""

import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["AtomicFile", "append", "create", "read", "remove", "replace"]

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ = os.O_RDONLY | _O_NONBLOCK | _O_BINARY | _O_CLOEXEC
_FRESH = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY | _O_CLOEXEC
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY
_APPEND |= _O_CLOEXEC
_MISSING = (2, 20)  # ENOENT, ENOTDIR: no such file, which is not an error here


def _regular(fd: int, path: str) -> int:
    """The size of the regular file open as ``fd``; ``OSError`` for anything else."""
    import stat

    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(22, "not a regular file", path)  # EINVAL
    return info.st_size


def read(path: str, limit: int) -> "bytes | None":
    """The contents of the regular file ``path`` (at most ``limit`` bytes), or ``None`` when
    there is no such file. ``OSError`` for a file that is not regular (FIFO, device,
    directory), is larger than ``limit``, or cannot be read. Never blocks on a FIFO.

        >>> print(read("/nonexistent/pathbeacon", 10))
        None
    """
    try:
        fd = os.open(path, _READ)
    except OSError as error:
        if error.errno in _MISSING:
            return None
        raise
    try:
        if _regular(fd, path) > limit:
            raise OSError(27, f"larger than {limit} bytes", path)  # EFBIG
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # grew since fstat
        raise OSError(27, f"larger than {limit} bytes", path)
    return data


def _fresh(path: str, mode: int) -> "tuple[int, str]":
    """A new file beside ``path``, opened for writing; its folder is made (owner-only) if
    missing. The name is random, and ``O_EXCL`` refuses anything already there."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    base = os.path.basename(path)
    while True:
        temporary = os.path.join(folder, f".{base}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temporary, _FRESH, mode), temporary
        except FileExistsError:  # astronomically rare; a planted name is never followed
            continue


def _discard(temporary: str) -> None:
    try:
        os.unlink(temporary)
    except OSError:
        pass


def replace(path: str, data: bytes, mode: int = 0o600) -> None:
    """Make ``path`` hold exactly ``data``, atomically; ``OSError`` (nothing left behind) on
    failure. A link at ``path`` is replaced, never followed."""
    fd, temporary = _fresh(path, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        _discard(temporary)
        raise


def create(path: str, data: bytes = b"", mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` only if nothing is there (not even a dangling link):
    ``True`` if this call created it, ``False`` if something was there. Other failures raise
    ``OSError``. The file appears whole: it is written first under a temporary name and
    linked into place."""
    fd, temporary = _fresh(path, mode)
    try:
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # atomic, and fails on anything already at `path`
        except FileExistsError:
            return False
        except OSError as error:
            if error.errno not in (1, 38, 95):  # EPERM, ENOSYS, EOPNOTSUPP: no hard links
                raise
            fd = os.open(path, _FRESH, mode)  # still exclusive, but briefly empty
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        return True
    except FileExistsError:
        return False
    finally:
        _discard(temporary)


def remove(path: str) -> bool:
    """Remove ``path`` (a link itself, never its target); ``False`` if it was not there or
    could not be removed."""
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def append(path: str, data: bytes, mode: int = 0o600) -> int:
    """Append ``data`` to the regular file ``path`` (created if missing, never through a link)
    in one write; return the file's size afterwards. ``OSError`` on failure."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd = os.open(path, _APPEND, mode)
    try:
        _regular(fd, path)
        os.write(fd, data)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


class AtomicFile:
    """An output file that appears whole or not at all: written under a temporary name
    beside ``path`` and renamed over it when the ``with`` block ends without an exception
    (after ``fsync``); on any failure the temporary file is removed and the old ``path``, if
    any, is untouched. Every ``OSError`` on the way (a full disk, a missing folder) arrives as
    :class:`pathbeacon.errors.OutputError` naming ``path``.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "page.html")
        >>> with AtomicFile(path) as out:
        ...     _ = out.write("<p>hello</p>")
        ...     os.path.exists(path)
        False
        >>> open(path).read()
        '<p>hello</p>'
    """

    def __init__(self, path: str, binary: bool = False, newline: "str | None" = None) -> None:
        self.path = path
        self._binary = binary
        self._newline = newline
        self._temporary = ""
        self._stream: IO[Any] | None = None

    @property
    def temporary(self) -> str:
        """The temporary file's path while the block runs (for tools that write by name)."""
        return self._temporary

    def __enter__(self) -> "IO[Any]":
        from pathbeacon.errors import OutputError

        folder = os.path.dirname(self.path) or "."
        if not os.path.isdir(folder):
            raise OutputError(self.path, "no such folder")
        try:
            fd, self._temporary = _fresh(self.path, 0o666)  # the umask applies, as for open()
            if self._binary:
                self._stream = os.fdopen(fd, "wb")
            else:
                self._stream = os.fdopen(fd, "w", encoding="utf-8", newline=self._newline)
        except OSError as error:
            if self._temporary:
                _discard(self._temporary)
            raise OutputError(self.path, error.strerror or str(error)) from None
        return self._stream

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        from pathbeacon.errors import OutputError

        stream, self._stream = self._stream, None
        if stream is None:
            return
        if kind is not None:  # the block failed: drop what it wrote, keep its exception
            try:
                stream.close()
            except OSError:
                pass
            _discard(self._temporary)
            # A write that failed inside the block (a full disk) carries no file name.
            if isinstance(error, OSError) and not isinstance(error, OutputError) \
                    and error.filename is None:
                raise OutputError(self.path, error.strerror or str(error)) from None
            return
        try:
            stream.flush()
            os.fsync(stream.fileno())
            stream.close()
            os.replace(self._temporary, self.path)
        except OSError as failure:
            try:
                stream.close()
            except OSError:
                pass
            _discard(self._temporary)
            raise OutputError(self.path, failure.strerror or str(failure)) from None
