"""Decode access logs inside a Spark job of your own: a DataFrame, computed where Spark runs.

    from pathbeacon.analysis.spark import decode
    rows = decode(spark, ["s3a://logs/gateway/2026/08/*.gz"], "default",
                  base="https://acme.gateway.scarf.sh/telemetry", format="combined")
    rows.groupBy("version").count().show()

The DataFrame holds the decoded rows of the matched lines: ``time`` (UTC ISO text or
null), ``status`` (integer), then one column per template field. It is the very query
``pathbeacon sql --dialect spark`` prints, over ``spark.read.text(paths)``: paths are read
as Spark reads them (``s3a://``, ``hdfs://``, globs; gzip told by a ``.gz`` name, or for
a local file by its content). The
client address never leaves the query: it is not a column.

``format="auto"`` reads the first lines of each path through Spark to tell its format;
give ``format=`` to skip that. CloudFront logs take their ``#Fields`` layout from the
first path of each format.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from typing import Any

from ..catalogue import resolve
from ..template import Template
from .engines.spark import LocalFiles, cloudfront_layout, prepare, view_name
from .formats import CLOUDFRONT_DEFAULT_FIELDS, FORMATS, detect
from .matcher import Matcher
from .sql import query

__all__ = ["decode"]

# Local logs whose gzip content and name disagree are linked under an honest name; the
# links live as long as the DataFrames that read them may (this process).
_files = LocalFiles()
atexit.register(_files.close)


def _format_of(spark: Any, path: str) -> str:
    rows = spark.read.text(path).limit(40).collect()
    found = detect([(row[0] or "").encode("utf-8") for row in rows])
    if found is None:
        raise ValueError(f"cannot tell the log format of {path} from its first lines:"
                         f" pass format= ({', '.join(FORMATS)})")
    return found


def decode(spark: Any, paths: str | Sequence[str], template: Template | str, *,
           base: str | None = None, format: str = "auto") -> Any:
    """A DataFrame of the decoded rows of every matched line in ``paths``.

    ``ValueError`` for an unknown format or a template ``base`` cannot go with.
    """
    if format != "auto" and format not in FORMATS:
        raise ValueError(
            f"unknown log format {format!r}: choose one of {', '.join(FORMATS)} or auto")
    prepare(spark)  # the settings the compiled query needs (engines.spark.SQL_CONF)
    matcher = Matcher(resolve(template), base)
    names = [_files.local(p) for p in ([paths] if isinstance(paths, str) else map(str, paths))]
    if not names:
        raise ValueError("no log given: name one or more paths")
    groups: dict[str, list[str]] = {}
    for path in names:
        groups.setdefault(format if format != "auto" else _format_of(spark, path),
                          []).append(path)
    columns = [f"`{name}`" for name in ("time", "status", *matcher.fields)]
    frame = None
    for fmt, group in groups.items():
        layout = cloudfront_layout(spark, group[0]) if fmt == "cloudfront" else ()
        lines = spark.read.text(group).withColumnRenamed("value", "line")
        compiled = query(matcher, "spark", fmt, layout or CLOUDFRONT_DEFAULT_FIELDS)
        # the query reads a relation named logs: a view of a name of its own stands in
        view = view_name("pathbeacon_decode")
        lines.createOrReplaceTempView(view)
        part = spark.sql(compiled.replace("\nFROM logs\n", f"\nFROM {view}\n", 1)).where(
            "category = 'matched'").selectExpr(*columns)
        frame = part if frame is None else frame.unionByName(part)
    assert frame is not None
    return frame.withColumn("status", frame["status"].cast("int"))
