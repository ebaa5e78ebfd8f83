"""The spark engine: the compiled Spark SQL over ``spark.read.text(paths)``.

The very query :func:`pathbeacon.analysis.sql.query` prints for ``--dialect spark`` runs
over each group of logs of one format, so it runs unchanged on a cluster (``master=``, or
a ``SparkSession`` of your own via ``session=``). ``stats`` is one streamed aggregation, as
in the duckdb engine (no line is kept): line counts, and per UTC day and group the events
and distinct addresses (a keyed MD5 of the day and address with a random per-run key,
never the client itself); one row per day-group comes back to Python, where
:func:`~pathbeacon.analysis.engines.finish_by_days` sums the days and applies the k rule,
and only when small groups fold together does a second pass count their addresses.

Spark tells a gzip file by its ``.gz`` name: a local log whose name and content disagree
is linked (or copied) under a name that tells the truth. Standard input is spooled to a local file
(so, with a cluster master, pass files the executors can read). Known difference: Spark
also ends a line at a lone ``\\r`` (gateways escape it).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from ...errors import first_line
from ..formats import CLOUDFRONT_DEFAULT_FIELDS
from ..sources import Source
from ..sql import counted
from ..sql import query as compile_query
from ..stats import Counts, Reach, StatsQuery, address_sql
from . import DayGroup, Decoded, Engine, Plan, finish_by_days
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


# what Hadoop's paths read as a glob or a URL's parts
_HADOOP_SPECIAL = re.compile(r"[*?\[\]{}\\:^]")


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
        """``name``, or for a local file whose gzip content and name disagree, or whose
        path Hadoop would take for a pattern or a URL (``[``, ``*``, ``{``, ``:``...), a
        link (or copy) under a plain name that agrees."""
        if "://" in name or not os.path.isfile(name):
            return name  # a path Spark resolves itself (s3a://, hdfs://...)
        gzip = is_gzip(name)
        if gzip == name.endswith(".gz") and not _HADOOP_SPECIAL.search(os.path.abspath(name)):
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
            + ", CAST(NULL AS STRING) AS `day`, CAST(NULL AS BIGINT) AS `day_number`,"
            " CAST(NULL AS STRING) AS `client`,"
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
                raise ValueError(f"Spark did not start (check --master and --spark-conf): "
                                 f"{first_line(error)}") from error
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
        days = query.every is not None
        rkey = (f"CASE WHEN day IS NOT NULL AND client IS NOT NULL THEN md5(concat("
                f"'{secret}', day, chr(0), {address_sql('client', 'spark')})) END")
        del secret
        # every counted line keeps its day: machines are the most addresses on one day
        keep = counted(query, numbered=True)
        picked = "".join(f", CASE WHEN counted THEN {b} END AS {b}" for b in by)
        view = view_name("pathbeacon_lines")
        fold_view = f"{view}_fold"
        lines_frame(spark, plan, self._files).createOrReplaceTempView(view)
        # no line is kept: a pass over the logs is one streamed aggregation (and a second
        # pass only when small groups fold together), as in the duckdb engine; each
        # column once (a column the query repeats would repeat its whole expression)
        lines = (f"SELECT category, counted, CASE WHEN counted THEN day_number END"
                 f" AS day_number{picked}, CASE WHEN counted THEN rkey END AS rkey"
                 f" FROM (SELECT *, coalesce({keep}, false) AS counted, {rkey} AS rkey"
                 f" FROM {view}) AS keyed")
        keys = ", ".join(["category", "counted", "day_number", *by])
        try:
            # distinct addresses per day as two plain aggregations (a day-group's
            # addresses, then the day-groups)
            found = spark.sql(
                f"SELECT {keys}, sum(n), count(rkey), sum(CASE WHEN rkey IS NOT NULL THEN n END)"
                f" FROM (SELECT {keys}, rkey, count(*) AS n FROM ({lines}) AS lines"
                f" GROUP BY {keys}, rkey) AS days GROUP BY {keys}").collect()
            tally = dict.fromkeys(_CATEGORIES, 0)
            by_day: dict[DayGroup, tuple[int, int, int]] = {}
            for row in found:
                tally[row[0]] += int(row[-3])
                if row[1]:
                    by_day[(row[2], tuple(row[3:-3]))] = (
                        int(row[-3]), int(row[-2]), int(row[-1] or 0))

            def unions(wanted: list[list[DayGroup]]) -> list[Reach]:
                """(reporter-days, machines) over each list of day-groups: one more pass."""
                from pyspark.sql.types import (
                    IntegerType,
                    LongType,
                    StringType,
                    StructField,
                    StructType,
                )

                if not wanted:
                    return []
                # without periods a group's days all fold together: its values pick them
                cols = ["pb_set", *(["day_number"] if days else []), *query.by]
                schema = StructType(
                    [StructField("pb_set", IntegerType())]
                    + ([StructField("day_number", LongType())] if days else [])
                    + [StructField(name, StringType()) for name in query.by])
                rows = {(number, *([day] if days else []), *group): None
                        for number, members in enumerate(wanted) for day, group in members}
                spark.createDataFrame(list(rows), schema).createOrReplaceTempView(fold_view)
                # Only the keys join (a line not counted has none: no set has a NULL), and
                # lines without an address count nothing: a condition on the lines alone
                # would be pushed into the compiled query, each column replaced by its
                # expression, which repeats them without end.
                join = " AND ".join(f"l.`{c}` <=> f.`{c}`" for c in cols[1:])
                reach = {int(row[0]): (int(row[1]), int(row[2])) for row in spark.sql(f"""
                    SELECT pb_set, sum(a), max(a) FROM (
                      SELECT pb_set, day_number, count(rkey) AS a FROM (
                        SELECT f.pb_set, l.day_number, l.rkey
                        FROM ({lines}) AS l JOIN {fold_view} AS f ON {join or 'true'}
                        GROUP BY f.pb_set, l.day_number, l.rkey) AS sets
                      GROUP BY pb_set, day_number) AS days
                    GROUP BY pb_set""").collect()}
                return [reach[number] if reach.get(number, (0, 0))[0] else None
                        for number in range(len(wanted))]

            counts = Counts(*(tally[name] for name in _CATEGORIES))
            return finish_by_days(counts, by_day, query, unions)
        finally:
            spark.catalog.dropTempView(view)
            spark.catalog.dropTempView(fold_view)
