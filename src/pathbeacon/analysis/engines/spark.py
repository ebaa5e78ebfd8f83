"""The spark engine: the compiled Spark SQL over ``spark.read.text(paths)``.

The very query :func:`pathbeacon.analysis.sql.query` prints for ``--dialect spark`` runs
over each group of logs of one format, so it runs unchanged on a cluster (``master=``, or
a ``SparkSession`` of your own via ``session=``). ``stats`` groups and counts reporter-days
and machines in Spark SQL (a keyed MD5 of the day and address with a random per-run key,
never the client itself); only one row per group comes back to Python, where
:func:`~pathbeacon.analysis.stats.finish` applies the k rule, asking Spark about the folds.

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
from collections.abc import Iterator, Sequence
from typing import Any

from ..formats import CLOUDFRONT_DEFAULT_FIELDS
from ..sources import Source
from ..sql import counted
from ..sql import query as compile_query
from ..stats import Counts, GroupKey, GroupValue, Reach, StatsQuery, address_sql, finish
from . import Decoded, Engine, Plan
from .files import Spool, is_gzip

__all__ = ["SQL_CONF", "LocalFiles", "SparkEngine", "cloudfront_layout", "java_options",
           "new_session", "prepare", "session_settings", "view_name"]

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
    ``config``, which wins over these (an ``-Xss`` in its Java options too); ``master``
    wins over a ``spark.master`` there.

    The configuration applies only when no session runs yet in this process.

        >>> session = new_session(config={"spark.driver.memory": "2g"})  # doctest: +SKIP
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("pathbeacon")
    for key, value in session_settings(master, config).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return prepare(session)


def session_settings(master: str | None = None,
                     config: dict[str, str] | None = None) -> dict[str, str]:
    """The settings :func:`new_session` starts a session with.

        >>> settings = session_settings(config={"spark.sql.shuffle.partitions": "64",
        ...     "spark.driver.extraJavaOptions": "-XX:+UseSerialGC"})
        >>> settings["spark.sql.shuffle.partitions"], settings["spark.driver.extraJavaOptions"]
        ('64', '-Xss64m -XX:+UseSerialGC')
        >>> session_settings("yarn", {"spark.master": "local[2]"})["spark.master"]
        'yarn'
    """
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8",
        # the compiled query is one long pipeline: generating Java for it all at once
        # exceeds the JVM's method size and falls back after a slow attempt
        "spark.sql.codegen.wholeStage": "false",
        **(config or {}),
    }
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        settings[key] = java_options(settings.get(key, ""))
    if master is not None:
        settings["spark.master"] = master
    elif "spark.master" not in settings and not os.environ.get("MASTER"):
        settings["spark.master"] = "local[*]"
    return settings


def java_options(given: str) -> str:
    """``given`` JVM options after the deep thread stack the long-line regexes need (the
    JVM takes the last ``-Xss``: one given here wins).

        >>> java_options(""), java_options("-XX:+UseSerialGC"), java_options("-Xss8m")
        ('-Xss64m', '-Xss64m -XX:+UseSerialGC', '-Xss64m -Xss8m')
    """
    return f"-Xss64m {given}".strip()


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
    """Local paths Spark reads as their content says (gzip or not), and the copies a
    :class:`~pathbeacon.analysis.engines.files.Spool` makes (standard input, a log whose
    first line starts with a byte order mark, which Spark's reader would drop, a CloudFront
    log whose layout changes within it)."""

    def __init__(self) -> None:
        self._spool = Spool()

    def path(self, source: Source) -> str:
        path = self._spool.readable(source)
        return path if source.is_stdin or path != str(source.name) else self.local(path)

    def layouts(self, spark: Any, path: str) -> list[tuple[tuple[str, ...], str]]:
        """The (``#Fields`` layout, path) pieces of a CloudFront log (Spool.layouts for a
        local file; for a path Spark resolves itself, the layout of its first lines)."""
        if os.path.isfile(path):
            return self._spool.layouts(path)
        return [(cloudfront_layout(spark, path), path)]

    def local(self, name: str) -> str:
        """``name``, or for a local file whose gzip content and name disagree, a link
        (or copy) under a name that agrees."""
        if "://" in name or not os.path.isfile(name):
            return name  # a path Spark resolves itself (s3a://, hdfs://...)
        gzip = is_gzip(name)
        if gzip == name.endswith(".gz"):
            return os.path.abspath(name)
        link = self._spool.name("log", ".gz" if gzip else ".log")
        try:  # Hadoop resolves a symbolic link to its target's name: a hard link, or a copy
            os.link(os.path.abspath(name), link)
        except OSError:
            shutil.copyfile(name, link)
        return link

    def close(self) -> None:
        self._spool.close()


def lines_frame(spark: Any, plan: Plan, files: LocalFiles | None = None) -> Any:
    """A DataFrame of every line of the plan's sources with the compiled query's columns."""
    files = files or LocalFiles()
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for source in plan.sources:
        path = files.path(source)
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            continue
        if source.format != "cloudfront":
            groups.setdefault((source.format, ()), []).append(path)
            continue
        for layout, piece in files.layouts(spark, path):
            groups.setdefault((source.format, layout), []).append(piece)
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
    """Runs the compiled Spark SQL: ``master=`` (default ``local[*]``) and ``config=``
    (settings for the session it starts), or a ``session=`` of the caller's."""

    name = "spark"

    def __init__(self, master: str | None = None, session: Any = None,
                 config: dict[str, str] | None = None) -> None:
        if session is not None and (master is not None or config):
            raise ValueError("give the spark engine a master and settings, or a session, "
                             "not both")
        self._master = master
        self._config = dict(config or {})
        self._session = session
        self._owned = False
        self._files = LocalFiles()

    def _spark(self) -> Any:
        if self._session is None:
            from pyspark.sql import SparkSession

            running = SparkSession.getActiveSession()
            if running is not None:  # the caller's: used as it is, and never stopped here
                if self._master is not None or self._config:
                    raise ValueError("a Spark session already runs in this process: "
                                     "--master and --spark-conf cannot change it")
                self._session = running
                return prepare(running)
            try:
                self._session = new_session(self._master, self._config)
            except Exception as error:  # Spark's launcher or JVM refused them
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ValueError(f"Spark did not start (check --master and --spark-conf): "
                                 f"{first}") from error
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
                f"'{secret}', day, chr(0), {address_sql('client', 'spark')})) END")
        view = view_name("pathbeacon_lines")
        fold_view = f"{view}_fold"
        lines = lines_frame(spark, plan, self._files).selectExpr(
            "category", f"coalesce({counted(query)}, false) AS counted",
            f"{period} AS period", *by, "day AS pb_day", f"{rkey} AS rkey").cache()
        del secret
        width = len(by)
        group_cols = ", ".join(["period", *by])
        try:
            lines.createOrReplaceTempView(view)
            counts = _counts(lines)
            found = spark.sql(f"""SELECT {group_cols}, sum(e), sum(r), max(r), sum(seen)
                FROM (SELECT {group_cols}, pb_day, count(*) AS e, count(DISTINCT rkey) AS r,
                             count(rkey) AS seen
                      FROM {view} WHERE counted GROUP BY {group_cols}, pb_day) AS d
                GROUP BY {group_cols}""").collect()
            groups: dict[GroupKey, GroupValue] = {}
            for row in found:
                events, reporters, machines, seen = row[1 + width:]
                groups[(row[0], tuple(row[1:1 + width]))] = (
                    (int(events), None, None) if not seen
                    else (int(events), int(reporters), int(machines)))
            join = " AND ".join(f"l.{c} <=> f.{c}" for c in ["period", *by])

            def union(sets: Sequence[Sequence[GroupKey]]) -> list[Reach]:
                from pyspark.sql.types import IntegerType, StringType, StructField, StructType

                schema = StructType(
                    [StructField("pb_set", IntegerType()), StructField("period", StringType())]
                    + [StructField(name, StringType()) for name in query.by])
                spark.createDataFrame(
                    [(number, key[0], *key[1]) for number, keys in enumerate(sets)
                     for key in keys], schema).createOrReplaceTempView(fold_view)
                reach = {row[0]: row[1:] for row in spark.sql(f"""
                    SELECT pb_set, sum(r), max(r), sum(seen)
                    FROM (SELECT f.pb_set, l.pb_day, count(DISTINCT l.rkey) AS r,
                                 count(l.rkey) AS seen
                          FROM {view} AS l JOIN {fold_view} AS f ON {join}
                          WHERE l.counted GROUP BY f.pb_set, l.pb_day) AS d
                    GROUP BY pb_set""").collect()}
                return [None if number not in reach or not reach[number][2]
                        else (int(reach[number][0]), int(reach[number][1]))
                        for number in range(len(sets))]

            return finish(counts, groups, query, union)
        finally:
            lines.unpersist()
            spark.catalog.dropTempView(view)
            spark.catalog.dropTempView(fold_view)
