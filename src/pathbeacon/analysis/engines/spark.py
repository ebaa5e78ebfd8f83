"""The spark engine: the compiled Spark SQL over ``spark.read.text(paths)``.

The very query :func:`pathbeacon.analysis.sql.query` prints for ``--dialect spark`` runs
over each group of logs of one format, so it runs unchanged on a cluster (``master=``, or
a ``SparkSession`` of your own via ``session=``). ``stats`` groups, counts reporter-days
(a keyed MD5 with a random per-run key, never the client itself) and folds small groups
in Spark SQL; only the final rows come back to Python.

Spark tells a gzip file by its ``.gz`` name: a local log whose name and content disagree
is linked (or copied) under a name that tells the truth. Standard input is spooled to a local file
(so, with a cluster master, pass files the executors can read). Known difference: Spark
also ends a line at a lone ``\\r`` (gateways escape it).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from ..formats import CLOUDFRONT_DEFAULT_FIELDS
from ..sources import Source
from ..sql import counted
from ..sql import query as compile_query
from ..stats import OTHER, Counts, StatsQuery, shape
from . import Decoded, Engine, Plan

__all__ = ["SQL_CONF", "LocalFiles", "SparkEngine", "cloudfront_layout", "new_session",
           "prepare", "view_name"]

_GZIP_MAGIC = b"\x1f\x8b"
_CATEGORIES = ("matched", "bad_status", "other_path", "malformed")
_views = itertools.count()


def view_name(prefix: str) -> str:
    """A temporary view name of its own in this process."""
    return f"{prefix}_{next(_views)}"


#: Session settings the compiled Spark SQL needs: the variant of a JSON line keeps one of
#: two equal keys instead of failing (the query itself refuses a line that repeats a key
#: it reads, as every engine does, and reads the others' lines).
SQL_CONF = {"spark.sql.variant.allowDuplicateKeys": "true"}


def prepare(session: Any) -> Any:
    """Apply :data:`SQL_CONF` to ``session`` (a runtime setting) and return it."""
    for key, value in SQL_CONF.items():
        session.conf.set(key, value)
    return session


def new_session(master: str | None = None, config: dict[str, str] | None = None) -> Any:
    """A SparkSession for pathbeacon (or the active one): UTC, no UI, a deep thread
    stack (Java's regex recurses once per repetition on long lines), and any other
    ``config`` (such as ``{"spark.driver.memory": "2g"}``).

    The configuration applies only when no session runs yet in this process.
    """
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.appName("pathbeacon")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Xss64m")
        .config("spark.executor.extraJavaOptions", "-Xss64m")
        .config("spark.sql.shuffle.partitions", "8")
        # the compiled query is one long pipeline: generating Java for it all at once
        # exceeds the JVM's method size and falls back after a slow attempt
        .config("spark.sql.codegen.wholeStage", "false")
    )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    if master is not None:
        builder = builder.master(master)
    elif not os.environ.get("MASTER"):
        builder = builder.master("local[*]")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return prepare(session)


def cloudfront_layout(spark: Any, path: str) -> tuple[str, ...]:
    """The ``#Fields`` layout a CloudFront log declares in its first lines."""
    fields: tuple[str, ...] = CLOUDFRONT_DEFAULT_FIELDS
    for row in spark.read.text(path).limit(50).collect():
        text = (row[0] or "").rstrip("\r")
        if not text:
            continue
        if not text.startswith("#"):
            break
        if text.startswith("#Fields:"):
            fields = tuple(text[len("#Fields:"):].split())
    return fields


class LocalFiles:
    """Local paths Spark reads as their content says (gzip or not), and spooled stdin."""

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def _scratch(self) -> str:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="pathbeacon-spark-")
        return self._dir.name

    def path(self, source: Source) -> str:
        if source.is_stdin:
            path = os.path.join(self._scratch(), f"stdin-{len(os.listdir(self._scratch()))}")
            with source.open() as stream, open(path, "wb") as out:
                out.writelines(stream)  # standard input may be read by lines only
            return path
        return self.local(str(source.name))

    def local(self, name: str) -> str:
        """``name``, or for a local file whose gzip content and name disagree, a link
        (or copy) under a name that agrees."""
        if "://" in name or not os.path.isfile(name):
            return name  # a path Spark resolves itself (s3a://, hdfs://...)
        with open(name, "rb") as probe:
            gzip = probe.read(2) == _GZIP_MAGIC
        if gzip == name.endswith(".gz"):
            return os.path.abspath(name)
        link = os.path.join(self._scratch(), f"log-{len(os.listdir(self._scratch()))}"
                            + (".gz" if gzip else ".log"))
        try:  # Hadoop resolves a symbolic link to its target's name: a hard link, or a copy
            os.link(os.path.abspath(name), link)
        except OSError:
            shutil.copyfile(name, link)
        return link

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def lines_frame(spark: Any, plan: Plan, files: LocalFiles | None = None) -> Any:
    """A DataFrame of every line of the plan's sources with the compiled query's columns."""
    files = files or LocalFiles()
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for source in plan.sources:
        path = files.path(source)
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            continue
        layout = cloudfront_layout(spark, path) if source.format == "cloudfront" else ()
        groups.setdefault((source.format, layout), []).append(path)
    frames = []
    for (fmt, layout), paths in groups.items():
        view = view_name("pathbeacon_logs")
        spark.read.text(paths).withColumnRenamed("value", "line").createOrReplaceTempView(view)
        compiled = compile_query(plan.matcher, "spark", fmt, layout or CLOUDFRONT_DEFAULT_FIELDS)
        frames.append(spark.sql(compiled.replace("\nFROM logs\n", f"\nFROM {view}\n", 1)))
    if not frames:
        fields = ", ".join(f"CAST(NULL AS STRING) AS `{name}`" for name in plan.matcher.fields)
        return spark.sql(
            "SELECT CAST(NULL AS STRING) AS `time`, CAST(NULL AS BIGINT) AS `status`"
            + (f", {fields}" if fields else "")
            + ", CAST(NULL AS STRING) AS `day`, CAST(NULL AS STRING) AS `client`,"
            " CAST(NULL AS STRING) AS `agent`, CAST(NULL AS STRING) AS category WHERE false")
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    return frame


def _counts(frame: Any) -> Counts:
    found = {row[0]: int(row[1]) for row in frame.groupBy("category").count().collect()}
    return Counts(*(found.get(name, 0) for name in _CATEGORIES))


class SparkEngine(Engine):
    """Runs the compiled Spark SQL: ``master=`` (default ``local[*]``) or ``session=``."""

    name = "spark"

    def __init__(self, master: str | None = None, session: Any = None) -> None:
        if master is not None and session is not None:
            raise ValueError("give the spark engine a master or a session, not both")
        self._master = master
        self._session = session
        self._owned = False
        self._files = LocalFiles()

    def _spark(self) -> Any:
        if self._session is None:
            self._session = new_session(self._master)
            self._owned = True
        return prepare(self._session)

    def close(self) -> None:
        self._files.close()
        if self._owned and self._session is not None:
            self._session.stop()
        self._session = None
        self._owned = False

    def _matched(self, plan: Plan) -> tuple[Any, Counts]:
        frame = lines_frame(self._spark(), plan, self._files).cache()
        counts = _counts(frame)
        columns = [f"`{c}`" for c in plan.columns]
        return frame.where("category = 'matched'").selectExpr(*columns), counts

    def decode(self, plan: Plan) -> Decoded:
        matched, counts = self._matched(plan)
        columns = plan.columns

        def rows() -> Iterator[dict[str, Any]]:
            for row in matched.toLocalIterator():
                values = list(row)
                values[1] = int(values[1])
                yield dict(zip(columns, values))

        return Decoded(columns, rows(), lambda: counts)

    def write_parquet(self, plan: Plan, path: str) -> Counts:
        matched, counts = self._matched(plan)
        typed = matched.withColumn("status", matched["status"].cast("int"))
        scratch = tempfile.mkdtemp(prefix="pathbeacon-parquet-", dir=os.path.dirname(
            os.path.abspath(path)) or None)
        try:
            typed.coalesce(1).write.mode("overwrite").parquet(scratch)
            part = next(name for name in os.listdir(scratch) if name.endswith(".parquet"))
            os.replace(os.path.join(scratch, part), path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return counts

    def stats(self, plan: Plan, query: StatsQuery) -> dict[str, Any]:
        spark = self._spark()
        secret = os.urandom(32).hex()
        by = [f"`{name}`" for name in query.by]
        if query.every == "day":
            period = "day"
        elif query.every == "week":
            period = "CAST(trunc(to_date(day), 'week') AS STRING)"
        elif query.every == "month":
            period = "concat(substr(day, 1, 8), '01')"
        else:
            period = "CAST(NULL AS STRING)"
        rkey = (f"CASE WHEN day IS NOT NULL AND client IS NOT NULL THEN md5(concat("
                f"'{secret}', day, chr(0), client, chr(0), coalesce(agent, ''))) END")
        view = view_name("pathbeacon_lines")
        lines = lines_frame(spark, plan, self._files).selectExpr(
            "category", f"coalesce({counted(query)}, false) AS counted",
            f"{period} AS period", *by, f"{rkey} AS rkey").cache()
        del secret
        try:
            lines.createOrReplaceTempView(view)
            counts = _counts(lines)
            group_cols = ", ".join(["period", *by])
            groups = spark.sql(f"""SELECT {group_cols}, count(*) AS events,
                    count(DISTINCT rkey) AS reporters, count(rkey) AS reporters_seen
                FROM {view} WHERE counted GROUP BY {group_cols}""").cache()
            gview = f"{view}_groups"
            groups.createOrReplaceTempView(gview)
            measure = "(CASE WHEN reporters_seen = 0 THEN events ELSE reporters END)"
            all_other = " AND ".join(f"{b} = '{OTHER}'" for b in by) or "true"
            kept = spark.sql(f"""SELECT {group_cols}, events,
                    CASE WHEN reporters_seen = 0 THEN NULL ELSE reporters END
                FROM {gview} WHERE NOT ({measure} < {query.k} OR ({all_other}))""").collect()
            join = " AND ".join(f"l.{c} <=> g.{c}" for c in ["period", *by])
            g_measure = "(CASE WHEN g.reporters_seen = 0 THEN g.events ELSE g.reporters END)"
            g_other = " AND ".join(f"g.{b} = '{OTHER}'" for b in by) or "true"
            folded = spark.sql(f"""SELECT l.period, count(*) AS events,
                    count(DISTINCT l.rkey) AS reporters, count(l.rkey) AS reporters_seen
                FROM {view} AS l JOIN {gview} AS g ON {join}
                WHERE l.counted AND ({g_measure} < {query.k} OR ({g_other}))
                GROUP BY l.period""").collect()
            groups.unpersist()
        finally:
            lines.unpersist()
            spark.catalog.dropTempView(view)
            spark.catalog.dropTempView(f"{view}_groups")
        width = len(by)
        final: list[tuple[str | None, tuple[str, ...], int, int | None]] = [
            (row[0], tuple(row[1:1 + width]), int(row[1 + width]),
             None if row[2 + width] is None else int(row[2 + width]))
            for row in kept
        ]
        for period_value, events, reporters, seen in folded:
            count = None if seen == 0 else int(reporters)
            if (int(events) if count is None else count) >= query.k:
                final.append((period_value, (OTHER,) * width, int(events), count))
        return shape(counts, final, query)

