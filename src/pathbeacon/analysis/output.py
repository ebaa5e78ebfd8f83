"""Writing decoded rows and stats: JSON lines, CSV, Parquet, and the aligned table.

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
import tempfile
from collections.abc import Iterable, Sequence
from typing import IO, Any

__all__ = ["OUTPUT_KINDS", "output_kind", "write_csv", "write_jsonl", "write_rows", "write_table"]

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


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """One JSON object per line (non-ASCII kept as UTF-8)."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    write = out.write
    for row in rows:
        write(dumps(row))
        write("\n")


def write_csv(rows: Iterable[dict[str, Any]], columns: Iterable[str], out: IO[str]) -> None:
    """A header line, then one line per row (an empty cell for ``None``)."""
    writer = csv.writer(out, lineterminator="\n")
    names = list(columns)
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row.get(n) is None else row.get(n) for n in names])


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
        except duckdb.Error as error:
            raise ValueError(f"cannot write {path}: {error}") from None
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
    frame.coalesce(1).write.mode("overwrite").parquet(path)


def write_rows(rows: Iterable[dict[str, Any]], columns: Sequence[str], path: str,
               kind: str | None = None) -> None:
    """Write every row to ``path`` as ``kind`` (default: from the suffix)."""
    kind = kind or output_kind(path)
    if kind == "parquet":
        # Rows stream through a temporary JSON-lines file, then DuckDB or Spark convert it.
        with tempfile.TemporaryDirectory(prefix="pathbeacon-") as tmp:
            jsonl = os.path.join(tmp, "rows.jsonl")
            with open(jsonl, "w", encoding="utf-8") as out:
                write_jsonl(rows, out)
            _parquet_from_jsonl(jsonl, list(columns), path)
        return
    try:
        out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as error:
        raise ValueError(f"cannot write {path}: {error.strerror or error}") from None
    with out:
        if kind == "csv":
            write_csv(rows, columns, out)
        else:
            write_jsonl(rows, out)


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
