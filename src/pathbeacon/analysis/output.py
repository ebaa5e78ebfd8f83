"""Writing decoded rows and stats: JSON lines, CSV, Parquet, and the aligned table.

Every value in a row came from a stranger's request, so each output kind has ONE escaping
rule, applied here and nowhere else (see ``docs/outputs.md``):

- JSON (:func:`json_text`): always valid JSON, and safe on a terminal: every character
  that is not printable is written as a JSON ``\\uXXXX`` escape;
- CSV (:func:`csv_cell`): a text cell that a spreadsheet would run as a formula is
  prefixed with ``'``;
- files (:func:`write_rows`) are written through :class:`pathbeacon.files.AtomicFile`:
  they appear whole or not at all.

    >>> import io
    >>> out = io.StringIO()
    >>> write_table({"lines": {}, "rows": [{"os": "linux", "events": 12, "reporters": None}]}, out)
    >>> print(out.getvalue(), end="")
    os     events  reporters
    linux      12          -
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from typing import IO, Any

from ..errors import OutputError
from ..files import AtomicFile

__all__ = [
    "OUTPUT_KINDS", "csv_cell", "json_text", "output_kind", "write_csv", "write_decoded",
    "write_jsonl", "write_rows", "write_table",
]

#: Output kinds by file suffix.
OUTPUT_KINDS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def output_kind(path: str) -> str:
    """The kind of file ``--output`` names, from its suffix; ``ValueError`` otherwise.

        >>> output_kind("rows.parquet")
        'parquet'
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in OUTPUT_KINDS:
        raise ValueError(f"--output {path}: the name must end in .jsonl, .csv or .parquet")
    return OUTPUT_KINDS[suffix]


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"


def json_text(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON text: printable characters as they are (UTF-8), every other one as
    a ``\\u`` escape. So the text is always valid JSON, reads back to ``value``, and holds
    nothing a terminal would act on (the one JSON rule of every command and file).

        >>> print(json_text({"os": "linux\\u202e\\U000f0000", "n": 1}))
        {"os": "linux\\u202e\\udb80\\udc00", "n": 1}
        >>> json.loads(json_text("\\x9b\\U000f0000 é")) == "\\x9b\\U000f0000 é"
        True
    """
    if indent is None:
        text = _ENCODE(value)
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    # json.dumps escapes what JSON forbids raw (C0 controls); what it leaves raw but
    # str.isprintable() refuses (C1 controls, bidi overrides, private-use, unassigned and
    # lone surrogates) is exactly what the terminal escaper of pathbeacon.cli would turn
    # into Python escapes, which are not JSON. Newlines only come from ``indent``.
    if text.isprintable() or text.replace("\n", "").isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else _json_escape(c) for c in text)


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """One JSON object per line (printable non-ASCII kept as UTF-8; see :func:`json_text`)."""
    write = out.write
    for row in rows:
        write(json_text(row))
        write("\n")


#: What a spreadsheet (Excel, LibreOffice, Google Sheets) may take as the start of a
#: formula; OWASP's "CSV injection" rule.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell that a spreadsheet shows and never runs: text starting with
    ``= + - @``, a tab or a carriage return gets a leading ``'`` (OWASP's rule); ``None`` is
    an empty cell; numbers and other text are kept.

        >>> [csv_cell(v) for v in ["=1+2", "-1", "@x", "linux", 12, None]]
        ["'=1+2", "'-1", "'@x", 'linux', 12, '']
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _LineFeed:
    """Lets the csv module quote a cell holding a lone CR (it quotes only what its line
    terminator holds) while lines still end in ``\\n``: each row arrives in one write."""

    def __init__(self, out: IO[str]) -> None:
        self._write = out.write

    def write(self, text: str) -> int:
        return self._write(text[:-2] + "\n" if text.endswith("\r\n") else text)


def write_csv(rows: Iterable[dict[str, Any]], columns: Iterable[str], out: IO[str]) -> None:
    """A header line, then one line per row, every cell through :func:`csv_cell`."""
    writer = csv.writer(_LineFeed(out), lineterminator="\r\n")
    names = list(columns)
    writer.writerow([csv_cell(n) for n in names])
    for row in rows:
        writer.writerow([csv_cell(row.get(n)) for n in names])


def _parquet_from_jsonl(jsonl: str, columns: list[str], path: str) -> None:
    try:
        import duckdb  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        pass
    else:
        types = ", ".join(
            f"{json.dumps(c)}: '{'INTEGER' if c == 'status' else 'VARCHAR'}'" for c in columns
        )
        con = duckdb.connect()
        try:
            con.execute(
                "COPY (SELECT * FROM read_json(?, format='newline_delimited',"
                f" columns={{{types}}})) TO ? (FORMAT parquet)",
                [jsonl, path],
            )
        finally:
            con.close()
        return
    try:
        from pyspark.sql import SparkSession  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ValueError(
            "writing Parquet needs duckdb (pip install 'pathbeacon[analysis]') or pyspark"
        ) from None
    spark = SparkSession.builder.master("local[1]").getOrCreate()
    frame = spark.read.schema(
        ", ".join(f"`{c}` {'INT' if c == 'status' else 'STRING'}" for c in columns)
    ).json(jsonl)
    scratch = tempfile.mkdtemp(prefix=".pathbeacon-parquet-", dir=os.path.dirname(path) or ".")
    try:  # Spark writes a folder of parts: its one part becomes the file
        frame.coalesce(1).write.mode("overwrite").parquet(scratch)
        part = next(name for name in os.listdir(scratch) if name.endswith(".parquet"))
        os.replace(os.path.join(scratch, part), path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_failure(error: BaseException) -> str | None:
    """Why writing failed, when ``error`` is the engine's report of a failed write (a full
    disk, a missing permission) rather than of anything else."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    kind = type(error)
    module = kind.__module__.split(".")[0].lstrip("_")
    if module == "duckdb" and kind.__name__ == "IOException":
        errno = re.search(r'"errno":\s*"?(\d+)', str(error))  # the OS's reason, when named
        return os.strerror(int(errno.group(1))) if errno else str(error).splitlines()[0]
    if module in ("py4j", "pyspark") and "java.io.IOException" in str(error):
        text = str(error)
        return text[text.index("java.io.IOException"):].splitlines()[0]
    return None


class _Output:
    """:class:`AtomicFile` for every kind of output, with the engines' reports of a failed
    write (DuckDB's ``IOException``, Spark's ``java.io.IOException``) made
    :class:`OutputError` too: one line on stderr and exit status 1, nothing left behind."""

    def __init__(self, path: str, binary: bool = False, newline: str | None = None) -> None:
        self.file = AtomicFile(path, binary=binary, newline=newline)
        self.stream: IO[Any] | None = None

    @property
    def temporary(self) -> str:
        """The temporary file, for a writer that takes a name (renamed over the target)."""
        return self.file.temporary

    def __enter__(self) -> _Output:
        self.stream = self.file.__enter__()
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self.file.__exit__(kind, error, trace)  # drops the temporary file on failure
        if error is None:
            return
        if isinstance(error, OutputError):
            if error.path != self.file.path:  # a writer aimed at our temporary file: name ours
                raise OutputError(self.file.path, error.reason) from None
            return
        reason = _write_failure(error)
        if reason is not None:
            raise OutputError(self.file.path, reason) from None


def write_rows(rows: Iterable[dict[str, Any]], columns: Sequence[str], path: str,
               kind: str | None = None) -> None:
    """Write every row to ``path`` as ``kind`` (default: from the suffix), atomically: the
    file appears whole or not at all, and a failure is :class:`OutputError`."""
    kind = kind or output_kind(path)
    if kind == "parquet":
        # Rows stream through a temporary JSON-lines file, then DuckDB or Spark convert it.
        with _Output(path, binary=True) as target, \
                tempfile.TemporaryDirectory(prefix="pathbeacon-") as tmp:
            jsonl = os.path.join(tmp, "rows.jsonl")
            with open(jsonl, "w", encoding="utf-8") as scratch:
                write_jsonl(rows, scratch)
            _parquet_from_jsonl(jsonl, list(columns), target.temporary)
        return
    with _Output(path, newline="") as target:
        assert target.stream is not None
        if kind == "csv":
            write_csv(rows, columns, target.stream)
        else:
            write_jsonl(rows, target.stream)


def write_decoded(engine: Any, plan: Any, path: str, kind: str | None = None) -> Any:
    """Decode ``plan`` with ``engine`` (an :class:`~pathbeacon.analysis.engines.Engine`,
    above this layer) into the file ``path`` (its kind from the suffix); the line counts.
    Parquet is the engine's own writer, aimed at the temporary file."""
    kind = kind or output_kind(path)
    if kind == "parquet":
        with _Output(path, binary=True) as target:
            return engine.write_parquet(plan, target.temporary)
    decoded = engine.decode(plan)
    write_rows(decoded, decoded.columns, path, kind)
    return decoded.counts


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def write_table(result: dict[str, Any], out: IO[str]) -> None:
    """The ``stats`` rows as an aligned table: text left, numbers right, ``-`` for none."""
    rows = result["rows"]
    if not rows:
        out.write("(no rows)\n")
        return
    columns = list(rows[0])
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [c in ("events", "reporters") for c in columns]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)
        ]
        return "  ".join(parts).rstrip() + "\n"

    out.write(line(columns))
    for row_cells in cells:
        out.write(line(row_cells))
