"""Errors raised by pathbeacon's pure core and by opt-in strict delivery."""

from __future__ import annotations


class TemplateError(ValueError):
    """A template, or a URL or value given to one, is not acceptable.

    ``position`` is the 0-based offset in ``text`` where the problem starts (or ``None``
    when the problem is not tied to a place in a text). ``str(error)`` names the problem
    and, when it can, shows the text with a caret under the position::

        >>> from pathbeacon import Template, TemplateError
        >>> try:
        ...     Template("https://example.com/<OS>")
        ... except TemplateError as e:
        ...     print(e)
        bad placeholder name 'OS': names match [a-z][a-z0-9_]* (at position 20)
          https://example.com/<OS>
                              ^
    """

    def __init__(self, message: str, text: str | None = None, position: int | None = None):
        self.message = message
        self.text = text
        self.position = position
        super().__init__(self._render())

    def _render(self) -> str:
        if self.position is None:
            return self.message
        head = f"{self.message} (at position {self.position})"
        if self.text is None or not self.text.isprintable():
            return head
        return f"{head}\n  {self.text}\n  {' ' * self.position}^"

    def __reduce__(self) -> tuple[type[TemplateError], tuple[str, str | None, int | None]]:
        return (type(self), (self.message, self.text, self.position))


class DeliveryError(OSError):
    """A report could not be delivered (only raised where the caller asked for it).

    ``status`` is the HTTP status when the server answered, else ``None``.

        >>> from pathbeacon import DeliveryError
        >>> str(DeliveryError("server answered 500", status=500))
        'server answered 500'
    """

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status

    def __reduce__(self) -> tuple[type[DeliveryError], tuple[str, int | None]]:
        return (type(self), (self.reason, self.status))

    def __str__(self) -> str:
        return self.reason


class OutputError(OSError):
    """A file pathbeacon was asked to write could not be written whole (exit status 1 on
    the command line); nothing half-written is left in its place.

        >>> from pathbeacon.errors import OutputError
        >>> str(OutputError("/full/rows.csv", "No space left on device"))
        'cannot write /full/rows.csv: No space left on device'
    """

    def __init__(self, path: str, reason: str):
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[type[OutputError], tuple[str, str]]:
        return (type(self), (self.path, self.reason))

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"


class EngineError(RuntimeError):
    """An SQL engine (DuckDB or Spark) stopped with an error of its own while it read logs:
    a log it cannot read (a gzip file cut short), no memory or disk left for what it
    spills, a JVM that died (exit status 1 on the command line).

        >>> from pathbeacon.errors import EngineError
        >>> str(EngineError("duckdb", "IO Error: Unexpected end of GZIP stream: a.log.gz"))
        'the duckdb engine failed: IO Error: Unexpected end of GZIP stream: a.log.gz'
    """

    def __init__(self, engine: str, reason: str):
        super().__init__(f"the {engine} engine failed: {reason}")
        self.engine = engine
        self.reason = reason

    def __reduce__(self) -> tuple[type[EngineError], tuple[str, str]]:
        return (type(self), (self.engine, self.reason))

    def __str__(self) -> str:
        return f"the {self.engine} engine failed: {self.reason}"


def first_line(error: BaseException, limit: int = 500) -> str:
    """What ``error`` says, as one line for a one-line message: the first line of its
    text that says more than which call failed (py4j opens with that), at most ``limit``
    characters, or its type's name when it says nothing.

        >>> first_line(ValueError("IO Error: cut short\\n\\nLINE 1: SELECT ..."))
        'IO Error: cut short'
        >>> first_line(RuntimeError()), first_line(OSError("x" * 600))[-3:]
        ('RuntimeError', 'xxx')
    """
    for line in str(error).splitlines():
        line = line.strip(" :\t")
        if line and not line.startswith("An error occurred while calling"):
            return line[:limit]
    return type(error).__name__
