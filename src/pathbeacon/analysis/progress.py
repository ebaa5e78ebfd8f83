"""Progress of a long command on stderr, drawn by ``tqdm``, only when stderr is a terminal.

Every engine reads the logs in this process (DuckDB through its own file handles), so the
bytes this process has read (``rchar`` of ``/proc/self/io``, which counts ``read`` and
``pread`` alike) measure how far a run has gone against the logs' total size, whatever the
engine; a thread samples it a few times a second. Where that count is not available (not
Linux, or a Spark cluster reading in other processes) the bar shows the time elapsed only.

    >>> import io
    >>> with Progress("stats", [], stream=io.StringIO()) as bar:  # not a terminal: silent
    ...     bar.enabled
    False
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["Progress", "wanted"]

_PROC_IO = "/proc/self/io"
# Seconds between two samples, and before the bar first appears (a quick run shows none).
_EVERY = 0.25
_DELAY = 0.5


def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
    """Whether to draw progress: not ``quiet``, and the stream (stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return not quiet and stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def _read_bytes() -> int | None:
    try:
        with open(_PROC_IO, "rb") as counters:
            for line in counters:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size if os.path.isfile(path) else 0
    except OSError:
        return 0


def _bytes_per_line(paths: Sequence[str]) -> float | None:
    """The mean length of the first lines of the first plain (not gzip) log, if any."""
    for path in paths:
        try:
            with open(path, "rb") as stream:
                head = stream.read(65536)
        except OSError:
            continue
        if head[:2] == b"\x1f\x8b" or not head:
            return None
        lines = head.count(b"\n")
        return len(head) / lines if lines else None
    return None


class Progress:
    """A context manager: while its block runs, a bar on ``stream`` (stderr) shows the bytes
    read of the ``paths``' total (``passes`` times over, for a command that reads them more
    than once), the rate in bytes and lines a second, and the time left. Drawn only when
    ``enabled`` (by default: :func:`wanted`); the bar is erased when the block ends."""

    def __init__(self, label: str, paths: Sequence[str], *, passes: int = 1,
                 enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = wanted(False, self.stream) if enabled is None else enabled
        self.label = label
        self.paths = [p for p in paths if p != "-"]
        self.passes = max(1, passes)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        import importlib.util

        if importlib.util.find_spec("tqdm") is None:  # the analysis extra
            self.enabled = False
            return self
        self._thread = threading.Thread(target=self._run, name="pathbeacon-progress",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        import importlib

        tqdm = importlib.import_module("tqdm").tqdm
        start = _read_bytes()
        total = sum(_size(p) for p in self.paths) * self.passes or None
        if start is None:
            total = None
        per_line = _bytes_per_line(self.paths)
        if self._stop.wait(_DELAY):
            return
        try:  # a terminal that reports no size (a bare pty) gets 80 x 24
            wide = os.get_terminal_size(self.stream.fileno()).columns > 0
        except (OSError, ValueError, AttributeError):
            wide = False
        bar = tqdm(total=total, desc=self.label, unit="B", unit_scale=True, unit_divisor=1024,
                   file=self.stream, leave=False, dynamic_ncols=wide,
                   ncols=None if wide else 80, nrows=None if wide else 24,
                   mininterval=_EVERY)
        try:
            while not self._stop.wait(_EVERY):
                now = _read_bytes()
                if start is None or now is None:
                    bar.refresh()
                    continue
                done = now - start
                if total is not None:
                    done = min(done, total - 1)  # never "100 %" before it is
                bar.update(max(0, done - bar.n))
                rate = bar.format_dict.get("rate")
                if per_line and rate:
                    bar.set_postfix_str(f"{rate / per_line:,.0f} lines/s", refresh=False)
        finally:
            bar.close()
