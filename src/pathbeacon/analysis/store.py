"""The ingest store: decoded beacons kept in a DuckDB file, read again by ``stats --db``.

``ingest`` appends the matched lines of access logs to a database file and may be run as
often as one likes on the same, growing and rotated logs: each source is known by a
fingerprint of its first bytes (and its device and inode), with how far it was read, so a
file read before adds only its new complete lines, a rotated file (renamed, or compressed
to ``.gz``) is recognised, and a new file with the same name is read from its start.

No client address is ever stored. A line with a time and a client keeps only a keyed hash
of its UTC day and address (:func:`~pathbeacon.analysis.stats.address_key`; BLAKE2b, keyed),
under a random key drawn for that UTC day and kept beside the database (``FILE.keys``,
see :class:`DayKeys`) until the day is two days old; then the key is deleted, and the
hashes of that day can no longer be linked to anyone (nor were they ever linkable across
days). A line that arrives while its day's key
still exists joins its day; later than that, its day gets a fresh key (so a reporter
could then be counted twice for that day).

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> log = os.path.join(folder, "access.log")
    >>> with open(log, "w") as f:
    ...     _ = f.write('{"time":"2026-08-21T12:00:00+00:00","request":"/t/acme/1.0",'
    ...                 '"status":204,"agent":"pathbeacon/1.0","client":"192.0.2.7"}\\n')
    >>> db = os.path.join(folder, "beacons.duckdb")
    >>> [r.new_lines for r in ingest("<base>/<package>/<version>", [log], db, base="/t")]
    [1]
    >>> [r.new_lines for r in ingest("<base>/<package>/<version>", [log], db, base="/t")]
    [0]
    >>> stats(db, ["version"])["rows"]
    [{'version': '1.0', 'events': 1, 'reporters': 1}]

New lines are read by the duckdb engine's compiled query
(:func:`~pathbeacon.analysis.sql.query`): the new whole lines of a source are copied, a
piece of about 64 MiB at a time, to a private temporary file (in ``TMPDIR``) that DuckDB
reads (:func:`~pathbeacon.analysis.engines.duckdb.logs_relation`: a line that is not
UTF-8 is counted ``malformed``); a piece's rows wait in a temporary table while each
distinct day and client is hashed once, then go into ``beacons`` in the log's order,
committed with the place the piece ends at (a run stopped midway keeps its whole pieces;
the next reads the rest). Memory so stays flat in the log's size. The Python path (the
python engine's rules, line by line) still reads what that query cannot: CloudFront logs
(a ``#Fields`` line may change the layout within a file), templates the query refuses (a
field named like one of its columns), and a piece holding a ``\\r`` that does not end a
line (DuckDB's reader would end the line there). Both store the same rows, counts and
read positions (``tests/test_store.py`` compares them). Standard input and pipes are
refused either way: a source must be found again.

The database records the store's layout as ``meta.schema`` (:data:`SCHEMA`). A store of
schema 1 (before ``k`` counted machines: its reporter hashes covered the user agent too)
is read as if each of its days held one reporter, the most its hashes can prove, and
``ingest`` rewrites it so; a newer schema, or tables altered by hand, are refused in one
line. The store's side files (``FILE.keys``, and DuckDB's ``FILE.wal`` and ``FILE.tmp``)
are never reached through a link: a link found there is refused, and so is a folder
anyone may write to, where one could be planted while DuckDB runs.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import stat
import tempfile
import zlib
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import IO, Any, BinaryIO

from .. import files
from ..catalogue import resolve
from ..errors import OutputError, first_line
from ..template import Template
from .formats import DETECT_LINES, detect, line_text, parser
from .matcher import Matcher
from .stats import Counts, GroupKey, GroupValue, Reach, StatsQuery, address_key, finish

__all__ = [
    "FINGERPRINT",
    "KEEP_DAYS",
    "SCHEMA",
    "DayKeys",
    "Ingested",
    "Store",
    "ingest",
    "stats",
]

#: How many leading bytes (decompressed) identify a source.
FINGERPRINT = 4096
#: A day's key is deleted once the day is this many days old.
KEEP_DAYS = 2
#: The layout this version writes (``meta.schema``): 2 since reporters are addresses.
SCHEMA = 2
# Files beside the database: the day keys (ours) and DuckDB's write-ahead log and spill folder.
_SIDE = (".keys", ".wal", ".tmp")
# What the tables hold (besides one VARCHAR column per field in beacons).
_BEACONS = (("source", "INTEGER"), ("time", "TIMESTAMP"), ("status", "SMALLINT"),
            ("reporter", "BLOB"))
_SOURCES = (("id", "INTEGER"), ("path", "VARCHAR"), ("device", "UBIGINT"),
            ("inode", "UBIGINT"), ("fingerprint_length", "INTEGER"),
            ("fingerprint", "VARCHAR"), ("read_to", "UBIGINT"), ("format", "VARCHAR"),
            ("matched", "BIGINT"), ("bad_status", "BIGINT"), ("other_path", "BIGINT"),
            ("malformed", "BIGINT"), ("first_read", "TIMESTAMP"), ("last_read", "TIMESTAMP"))
# A schema-1 line's reporter, like that of a line ingested after its day's key was deleted
# (DayKeys), stands for "one reporter that day": its day as 10 bytes, apart from the 16-byte
# hashes of schema 2.
_LEGACY = "encode(strftime(time, '%Y-%m-%d'))"
# Distinct reporters among the values ``r`` of one day: a day holding both schema-1 marks and
# schema-2 hashes proves no more than its hashes (the marked reporter may be one of them).
_DISTINCT = ("count(DISTINCT r) - CASE WHEN min(octet_length(r)) < 16"
             " AND max(octet_length(r)) >= 16 THEN 1 ELSE 0 END")
# Rows go to DuckDB through a JSON-lines file in batches of this many.
_BATCH = 200_000
# Column names the store uses itself; a template field may not take one of them.
_FIXED = ("source", "time", "status", "reporter")
_GZIP_MAGIC = b"\x1f\x8b"
_CATEGORIES = ("matched", "bad_status", "other_path", "malformed")
_CUT_SHORT = " (a compressed file cut short: its whole lines so far)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    path VARCHAR NOT NULL,
    device UBIGINT,
    inode UBIGINT,
    fingerprint_length INTEGER NOT NULL,
    fingerprint VARCHAR NOT NULL,
    read_to UBIGINT NOT NULL,
    format VARCHAR NOT NULL,
    matched BIGINT NOT NULL DEFAULT 0,
    bad_status BIGINT NOT NULL DEFAULT 0,
    other_path BIGINT NOT NULL DEFAULT 0,
    malformed BIGINT NOT NULL DEFAULT 0,
    first_read TIMESTAMP,
    last_read TIMESTAMP
);
"""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise ValueError(
            "the ingest store needs DuckDB: pip install 'pathbeacon[analysis]'"
        ) from None
    return duckdb


@dataclass(frozen=True)
class Ingested:
    """What one ``ingest`` did with one log: the lines it read anew, by count."""

    path: str
    new_lines: int
    counts: Counts
    resumed: bool
    note: str = ""

    def __str__(self) -> str:
        how = "resumed" if self.resumed else "new source"
        return f"{self.path}: {self.new_lines} new lines ({how}){self.note}; {self.counts}"


class Store:
    """An open store: a DuckDB database bound to one template and base.

    Open it with :meth:`open`; use it as a context manager (it closes the connection).
    """

    def __init__(self, connection: Any, template: Template, base: str | None,
                 path: str = "") -> None:
        self.connection = connection
        self.path = path
        self.template = template
        self.base = base
        self.matcher = Matcher(template, base)
        self.fields = self.matcher.fields
        self._reporter = "reporter"  # what stands for a line's reporter (see _LEGACY)

    def _check_tables(self, tables: set[str]) -> None:
        """One line, not a traceback, when the tables are not the ones ingest made."""
        wanted = {"beacons": (*_BEACONS, *((name, "VARCHAR") for name in self.fields)),
                  "sources": _SOURCES}
        for table, columns in wanted.items():
            if table not in tables:
                raise ValueError(f"{self.path}: the store has no table {table}: it was"
                                 " altered, and pathbeacon cannot use it")
            found = tuple((str(name), str(kind)) for name, kind in self.connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
                [table]).fetchall())
            if found != columns:
                have = ", ".join(f"{name} {kind}" for name, kind in found)
                raise ValueError(f"{self.path}: the table {table} was altered (it has {have};"
                                 f" pathbeacon made {', '.join(f'{n} {k}' for n, k in columns)})")

    def _migrate(self) -> None:
        """Schema 1 to 2: a reporter hash that covered the user agent proves one reporter a
        day, no more, so it becomes the mark of its day (see :data:`_LEGACY`)."""
        connection = self.connection
        connection.execute("BEGIN")
        try:
            connection.execute(f"UPDATE beacons SET reporter = {_LEGACY}"
                               " WHERE reporter IS NOT NULL")
            connection.execute("UPDATE meta SET value = ? WHERE name = 'schema'", [str(SCHEMA)])
            connection.execute("COMMIT")
        except BaseException:
            _rollback(connection)
            raise

    @classmethod
    def open(cls, path: str, template: str | Template | None = None,
             base: str | None = None, *, write: bool = False) -> Store:
        """Open (with ``write``, create) the store at ``path``.

        A new store takes ``template`` and ``base``; an existing one checks that
        ``template`` (when given) and ``base`` (when given) are the ones it holds.
        """
        duckdb = _duckdb()
        if not write and not os.path.exists(path):
            raise ValueError(f"no store at {path}: create it with pathbeacon ingest")
        _check_place(path, write)
        try:
            connection = duckdb.connect(path, read_only=not write)
        except duckdb.Error as error:
            raise ValueError(f"cannot open the store {path}: {first_line(error)}") from None
        try:
            return cls._bind(connection, path, template, base, write)
        except duckdb.Error as error:
            connection.close()
            raise ValueError(f"{path}: not a store pathbeacon can use:"
                             f" {first_line(error)}") from None
        except BaseException:
            connection.close()
            raise

    @classmethod
    def _bind(cls, connection: Any, path: str, template: str | Template | None,
              base: str | None, write: bool) -> Store:
        known: dict[str, str] = {}
        tables = {row[0] for row in connection.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        if "meta" in tables:
            known = dict(connection.execute("SELECT name, value FROM meta").fetchall())
        elif tables:
            raise ValueError(f"{path} is a DuckDB database but not a pathbeacon store")
        wanted = resolve(template) if template is not None else None
        if "template" in known:
            schema = _schema(path, known)
            held = Template(known["template"])
            held_base = known.get("base") or None
            if wanted is not None and wanted != held:
                raise ValueError(
                    f"{path} holds beacons of the template {held.text!r}, not {wanted.text!r}"
                )
            if base is not None and (Matcher(held, base).base_path
                                     != Matcher(held, held_base).base_path):
                raise ValueError(f"{path} holds beacons under base={held_base}, not {base}")
            store = cls(connection, held, held_base, path)
            store._check_tables(tables)
            if schema < SCHEMA and write:
                store._migrate()
            elif schema < SCHEMA:
                store._reporter = f"CASE WHEN reporter IS NULL THEN NULL ELSE {_LEGACY} END"
            return store
        if not write:
            raise ValueError(f"{path} holds no beacons yet: run pathbeacon ingest first")
        if wanted is None:
            raise ValueError("a new store needs the template")
        store = cls(connection, wanted, base, path)  # checks template and base together
        clash = [name for name in store.fields if name in _FIXED]
        if clash:
            raise ValueError(f"a field named {clash[0]!r} cannot be stored (the store uses"
                             f" {', '.join(_FIXED)} itself)")
        columns = "".join(f", {_quote(name)} VARCHAR" for name in store.fields)
        connection.execute("BEGIN")
        connection.execute(_SCHEMA)
        connection.execute(
            "CREATE TABLE beacons (source INTEGER NOT NULL, time TIMESTAMP, "
            f"status SMALLINT NOT NULL, reporter BLOB{columns})"
        )
        connection.execute("INSERT INTO meta VALUES ('template', ?), ('base', ?), "
                           "('schema', ?)", [wanted.text, base or "", str(SCHEMA)])
        connection.execute("COMMIT")
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        try:
            self.close()
        except (OSError, ValueError):
            if kind is None:  # else the error already on its way is the one to tell
                raise

    def close(self) -> None:
        try:
            self.connection.close()
        except _duckdb().Error as error:
            raise _store_error(self.path, error) from None

    @property
    def keys_path(self) -> str:
        """The file beside the database that holds the day keys."""
        return self.path + ".keys"

    # ---- reading ------------------------------------------------------------------------

    def counts(self) -> Counts:
        """The four line counts over every line ingested."""
        row = self.connection.execute(
            "SELECT coalesce(sum(matched), 0), coalesce(sum(bad_status), 0), "
            "coalesce(sum(other_path), 0), coalesce(sum(malformed), 0) FROM sources"
        ).fetchone()
        return Counts(*(int(n) for n in row))

    def stats(self, query: StatsQuery) -> dict[str, Any]:
        """The ``stats --json`` structure over the stored beacons (the rules of
        :mod:`~pathbeacon.analysis.stats`, applied by :func:`~pathbeacon.analysis.stats.finish`)."""
        where = []
        params: list[Any] = []
        if query.needs_time:
            where.append("time IS NOT NULL")
        if query.since is not None:
            where.append("CAST(time AS DATE) >= ?")
            params.append(query.since)
        if query.until is not None:
            where.append("CAST(time AS DATE) < ?")
            params.append(query.until)
        period = {
            None: "CAST(NULL AS VARCHAR)",
            "day": "strftime(CAST(time AS DATE), '%Y-%m-%d')",
            "week": "strftime(date_trunc('week', CAST(time AS DATE)), '%Y-%m-%d')",
            "month": "strftime(date_trunc('month', CAST(time AS DATE)), '%Y-%m-%d')",
        }[query.every]
        columns = "".join(f", {_quote(name)}" for name in query.by)
        condition = " AND ".join(where) or "TRUE"
        names = ", ".join(["pb_period", *(_quote(name) for name in query.by)])
        # A group is told by its period and values joined with U+001F, which no decoded
        # value holds (the fits rule refuses control characters).
        key = "concat_ws(chr(31), " + ", ".join(
            ["coalesce(pb_period, '')", *(_quote(name) for name in query.by)]) + ")"
        lines = (f"(SELECT {period} AS pb_period{columns}, CAST(time AS DATE) AS pb_day,"
                 f" {self._reporter} AS r FROM beacons WHERE {condition})")
        width = len(query.by)
        groups: dict[GroupKey, GroupValue] = {}
        for row in self._query(
                f"SELECT {names}, sum(e), sum(d), max(d), sum(seen) FROM (SELECT {names},"
                f" pb_day, count(*) AS e, {_DISTINCT} AS d, count(r) AS seen FROM {lines}"
                f" GROUP BY ALL) GROUP BY ALL", params):
            events, reporters, machines, seen = row[1 + width:]
            groups[(row[0], tuple(row[1:1 + width]))] = (
                (int(events), None, None) if not seen
                else (int(events), int(reporters), int(machines)))

        def union(sets: Sequence[Sequence[GroupKey]]) -> list[Reach]:
            numbers = [number for number, keys in enumerate(sets) for _ in keys]
            wanted = ["\x1f".join([period or "", *values])
                      for keys in sets for period, values in keys]
            reach = {row[0]: row[1:] for row in self._query(
                f"SELECT pb_set, sum(d), max(d), sum(seen) FROM (SELECT f.pb_set, pb_day,"
                f" {_DISTINCT} AS d, count(r) AS seen FROM (SELECT *, {key} AS pb_key FROM"
                f" {lines}) AS l JOIN (SELECT unnest(?::INTEGER[]) AS pb_set,"
                f" unnest(?::VARCHAR[]) AS pb_key) AS f USING (pb_key)"
                f" GROUP BY f.pb_set, pb_day) GROUP BY pb_set", [*params, numbers, wanted])}
            return [None if number not in reach or not reach[number][2]
                    else (int(reach[number][0]), int(reach[number][1]))
                    for number in range(len(sets))]

        return finish(self.counts(), groups, query, union)

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            rows: list[Any] = self.connection.execute(sql, list(params)).fetchall()
        except _duckdb().Error as error:
            raise ValueError(f"{self.path}: cannot read the store: {first_line(error)}") from None
        return rows



def _schema(path: str, known: dict[str, str]) -> int:
    """The store's schema number, if this version can read it; else one clear line."""
    text = known.get("schema", "")
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{path}: the store records no schema pathbeacon knows"
                         f" (meta.schema is {text or 'missing'!r})")
    if int(text) > SCHEMA:
        raise ValueError(f"{path} is a store of schema {text}, written by a newer pathbeacon"
                         f" (this one knows schema {SCHEMA} and older): upgrade pathbeacon")
    return int(text)


def _check_place(path: str, write: bool) -> None:
    """To write, refuse a store whose file or side files are links (or not files), and a
    folder anyone may write to: DuckDB opens its side files following links, so one planted
    there while it runs would have it write wherever the link points. (Reading writes
    nothing: a link to a store may be read.)"""
    if not write:
        return
    for name in (path, *(path + side for side in _SIDE)):
        try:
            info = os.lstat(name)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise ValueError(f"cannot open the store: {name}: {error.strerror}") from None
        if stat.S_ISLNK(info.st_mode):
            raise ValueError(f"{name} is a symbolic link: pathbeacon never follows a link"
                             " beside its store (remove it if you made it)")
        spill = name.endswith(".tmp")  # DuckDB's spill folder
        if not (stat.S_ISDIR if spill else stat.S_ISREG)(info.st_mode):
            raise ValueError(f"{name} is not a {'folder' if spill else 'regular file'}:"
                             " pathbeacon does not use it")
    folder = os.path.dirname(os.path.abspath(path))
    if os.stat(folder).st_mode & stat.S_IWOTH:
        raise ValueError(f"the store's folder {folder} is writable by anyone: a link planted"
                         " there could redirect the store's files; keep it in a folder of"
                         " your own")


def _store_error(path: str, error: BaseException) -> Exception:
    """One line for a DuckDB error while writing the store: a failed write (a full disk)
    is an :class:`~pathbeacon.errors.OutputError` (exit status 1), anything else a
    ``ValueError``."""
    line = first_line(error)
    if isinstance(error, _duckdb().IOException) or any(
            sign in line for sign in ("could not write", "No space left", "quota")):
        return OutputError(path, line)
    return ValueError(f"{path}: {line}")


def _rollback(connection: Any) -> None:
    """Roll back, quietly when the failure already ended the transaction."""
    try:
        connection.execute("ROLLBACK")
    except Exception:  # the first error is the one to report
        pass


class DayKeys:
    """The random key of each UTC day, in a small file beside the store (``FILE.keys``).

    The keys live apart from the database so that a deleted key is gone for good: a
    database file keeps deleted rows in its free blocks, whereas this file is written
    anew each time (readable by its owner only) and the old one overwritten with zeros
    before it is replaced. A day whose key was deleted is *closed*: it never gets another
    (its late lines could not be told from its earlier ones, and would count one machine
    twice), and the file keeps only its date.

        >>> import os, tempfile
        >>> keys = DayKeys(os.path.join(tempfile.mkdtemp(), "b.duckdb.keys"))
        >>> len(keys("2026-08-21")) == 32 and keys("2026-08-21") == keys("2026-08-21")
        True
        >>> keys.forget(date(2026, 8, 23)), keys.days(), keys("2026-08-21")
        (1, [], None)
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._keys = self._load()

    def _load(self) -> dict[str, bytes]:
        try:
            if stat.S_ISLNK(os.lstat(self.path).st_mode):
                raise ValueError(f"{self.path} is a symbolic link: pathbeacon never follows"
                                 " a link beside its store (remove it if you made it)")
        except FileNotFoundError:
            return {}
        try:
            data = files.read(self.path, 1 << 20)
            if data is None:
                return {}
            found = json.loads(data.decode("ascii"))
            return {str(day): bytes.fromhex(key) for day, key in found.items()}
        except (OSError, ValueError, AttributeError, TypeError) as error:
            raise ValueError(f"cannot read the day keys in {self.path}: {error}") from None

    def days(self) -> list[str]:
        """The UTC days that have a key, in order."""
        return sorted(day for day, key in self._keys.items() if key)

    def __call__(self, day: str) -> bytes | None:
        """The key of ``day`` (``YYYY-MM-DD``), drawn and saved at once when it has none;
        ``None`` for a closed day."""
        key = self._keys.get(day)
        if key == b"":
            return None
        if key is None:
            key = self._keys[day] = os.urandom(32)
            self._save()
        return key

    def forget(self, today: date | None = None) -> int:
        """Delete the keys of days at least :data:`KEEP_DAYS` old; return how many."""
        today = today or datetime.now(timezone.utc).date()
        limit = (today - timedelta(days=KEEP_DAYS)).isoformat()
        old = [day for day, key in self._keys.items() if key and day <= limit]
        for day in old:
            self._keys[day] = b""  # closed
        if old:
            self._save()
        return len(old)

    def _save(self) -> None:
        text = json.dumps({day: key.hex() for day, key in sorted(self._keys.items())})
        self._zero()
        try:
            files.replace(self.path, text.encode("ascii"))  # owner-only, a link replaced
        except OSError as error:
            raise OutputError(self.path, error.strerror or str(error)) from None

    def _zero(self) -> None:
        """Overwrite the old keys with zeros, through a descriptor that cannot be a link
        (``O_NOFOLLOW``) and must be the owner's own regular file with no other name."""
        flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return
        except OSError as error:
            if stat.S_ISLNK(os.lstat(self.path).st_mode):
                raise ValueError(f"{self.path} is a symbolic link: pathbeacon never follows"
                                 " a link beside its store (remove it if you made it)") from None
            raise OutputError(self.path, error.strerror or str(error)) from None
        try:
            info = os.fstat(fd)
            if (not stat.S_ISREG(info.st_mode) or info.st_nlink != 1
                    or info.st_uid != os.geteuid()):
                raise ValueError(f"{self.path} is not a file of the store's own (a link, or"
                                 " another owner's file): pathbeacon does not overwrite it")
            os.write(fd, b"\0" * info.st_size)
            os.fsync(fd)
        except OSError as error:
            raise OutputError(self.path, error.strerror or str(error)) from None
        finally:
            os.close(fd)


# ---- sources ----------------------------------------------------------------------------


def _open_raw(path: str) -> BinaryIO:
    try:
        stream: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    if stream.peek(2)[:2] == _GZIP_MAGIC:  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return stream


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class _Known:
    id: int
    read_to: int
    format: str
    fingerprint_length: int
    device: int | None
    inode: int | None


def _find(connection: Any, head: bytes, device: int, inode: int) -> _Known | None:
    """The known source whose fingerprint the file's first bytes give again, if any.

    A source first read while shorter than :data:`FINGERPRINT` has a shorter fingerprint;
    it matches a file whose first bytes of that length are the same. Of several matches,
    the same device and inode win, then the one read furthest.
    """
    lengths = [row[0] for row in connection.execute(
        "SELECT DISTINCT fingerprint_length FROM sources").fetchall()]
    best: _Known | None = None
    for length in lengths:
        if length > len(head):
            continue  # the file is shorter than that source was: not the same file
        rows = connection.execute(
            "SELECT id, read_to, format, fingerprint_length, device, inode FROM sources "
            "WHERE fingerprint_length = ? AND fingerprint = ?",
            [length, _digest(head[:length])],
        ).fetchall()
        for row in rows:
            known = _Known(*row)
            rank = ((known.device, known.inode) == (device, inode), known.read_to)
            if best is None or rank > ((best.device, best.inode) == (device, inode),
                                       best.read_to):
                best = known
    return best


def _complete_lines(stream: BinaryIO, final: bool) -> Iterator[tuple[bytes, int]]:
    """Each line (without ``\\n``) with the number of bytes it took; an unfinished last
    line is left for next time unless ``final`` (a compressed file is complete)."""
    for raw in stream:
        if raw.endswith(b"\n"):
            yield raw[:-1], len(raw)
        elif final and raw:
            yield raw, len(raw)


def _skip(stream: BinaryIO, count: int) -> int:
    """Read past ``count`` bytes; return how many there were."""
    if hasattr(stream, "seekable") and stream.seekable() and not isinstance(
            stream, gzip.GzipFile):
        stream.seek(count)
        return stream.tell()
    done = 0
    while done < count:
        chunk = stream.read(min(1 << 20, count - done))
        if not chunk:
            break
        done += len(chunk)
    return done


# ---- ingest -----------------------------------------------------------------------------


def _reporter(secret: bytes, day: str, client: str) -> bytes:
    """The keyed hash that stands for one address (see
    :func:`~pathbeacon.analysis.stats.address_key`) on one UTC day: BLAKE2b (16 bytes)
    keyed with that day's key, so it is the same in every run while the key lives."""
    text = f"{day}\0{address_key(client)}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, key=secret, digest_size=16).digest()


def _classify(parse: Any, match: Any, raw: bytes) -> tuple[int, Any, Any]:
    """(category, record, values) of one non-empty line: 0 matched, 1 bad_status,
    2 other_path (a header too), 3 malformed. The rules of the python engine."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    line = line_text(raw)  # the engines' rule: UTF-8 without U+10FFFF
    if line is None:
        return 3, None, None
    record = parse(line)
    if record is None:
        return 3, None, None
    target, status = record[1], record[2]
    values = match(target) if target is not None else None
    if values is None:
        return 2, record, None
    if status is None or not 200 <= status <= 399:
        return 1, record, values
    return 0, record, values


class _Rows:
    """The lines of one source read by the Python path: counted by category, the matched
    ones added to ``batch`` with their reporter (the rules of :func:`_classify`)."""

    def __init__(self, store: Store, parse: Any, secrets: DayKeys) -> None:
        self.parse = parse
        self.match = store.matcher.match
        self.secrets = secrets
        self.counts = [0, 0, 0, 0]
        self.lines = 0
        self.batch: _Batch | None = None

    def add(self, raw: bytes) -> None:
        """One line (without its ``\\n``); an empty one is no line."""
        if not raw or raw == b"\r":
            return
        category, record, values = _classify(self.parse, self.match, raw)
        self.lines += 1
        self.counts[category] += 1
        if category == 0:
            assert self.batch is not None
            time, _target, status, _agent, client = record
            reporter = None
            if time is not None and client is not None:
                day = time[:10]
                secret = self.secrets(day)
                # a closed day's line proves one reporter that day, no more (_LEGACY)
                reporter = (day.encode("ascii") if secret is None
                            else _reporter(secret, day, client))
            self.batch.add(time, status, reporter, values)


# ---- the fast path: the duckdb engine's compiled SQL over the new bytes -------------------

#: At most about this many bytes of new lines go through one DuckDB pass (a temporary copy
#: and a temporary table of its lines): what one pass holds, whatever the log's size.
_PIECE = 64 << 20
_BLOCK = 1 << 20


def _fast_query(store: Store, format: str) -> str | None:
    """The duckdb engine's compiled query for ``format``, or None where the fast path does
    not apply: CloudFront (its ``#Fields`` lines may change the layout within a file, which
    only the Python path follows) and templates the SQL refuses (a field named like one of
    its columns)."""
    if format == "cloudfront":
        return None
    from .sql import query

    try:
        return query(store.matcher, "duckdb", format)
    except ValueError:
        return None


def _pieces(path: str, start: int, final: bool,
            cut_short: list[bool]) -> Generator[tuple[str, int, bool], None, None]:
    """The whole lines of ``path`` after byte ``start`` (decompressed), copied to private
    temporary files of about :data:`_PIECE` bytes: each (file, the bytes of the log it
    holds, whether a line holds a ``\\r`` not before its end). The same lines as
    :func:`_new_lines`; a file is removed once the next is asked for (or on close).

    Each file starts with an empty line, which no engine counts: DuckDB's reader would
    take a byte order mark at a file's start for no part of the line.
    """
    out: IO[bytes] | None = None
    name = ""
    size = 0
    lone = False

    def write(data: bytes) -> None:
        nonlocal out, name, size, lone
        try:
            if out is None:
                handle, name = tempfile.mkstemp(prefix="pathbeacon-ingest-", suffix=".log")
                out = os.fdopen(handle, "wb")
                out.write(b"\n")
            out.write(data)
        except OSError as error:
            raise _temporary_failed(name, error) from None
        size += len(data)
        # a "\r" ends a line for DuckDB's reader, but for Python only before "\n"
        lone = lone or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n"))

    def done() -> tuple[str, int, bool]:
        nonlocal out
        assert out is not None
        try:
            out.close()
        except OSError as error:
            raise _temporary_failed(name, error) from None
        out = None
        return name, size, lone

    try:
        with _open_raw(path) as stream:
            tail: list[bytes] = []  # a line begun, not yet ended
            try:
                _skip(stream, start)
                while True:
                    block = stream.read1(_BLOCK)  # type: ignore[attr-defined]
                    if not block:
                        break
                    cut = block.rfind(b"\n") + 1
                    if not cut:
                        tail.append(block)
                        continue
                    write(b"".join([*tail, block[:cut]]) if tail else block[:cut])
                    tail = [block[cut:]] if cut < len(block) else []
                    if size >= _PIECE:
                        yield done()
                        _unlink(name)
                        size, lone = 0, False
                if final and tail:  # a compressed log's last line needs no "\n"
                    write(b"".join(tail))
            except EOFError:  # compressed, still being written: its whole lines so far
                cut_short.append(True)
            except OutputError:  # writing the copy failed: said as such
                raise
            except (OSError, zlib.error) as error:
                raise ValueError(f"cannot read {path}: {error}") from None
        if out is not None:
            yield done()
    finally:
        if out is not None:
            try:
                out.close()
            except OSError:
                pass
        if name:
            _unlink(name)


def _temporary_failed(path: str, error: OSError) -> OutputError:
    folder = os.path.dirname(path) if path else tempfile.gettempdir()
    return OutputError(f"{folder} (ingest's temporary copy of new lines; TMPDIR chooses the"
                       " folder)", error.strerror or str(error))


def _ingest_piece(store: Store, query: str, piece: str, source: int, rows: _Rows) -> None:
    """The lines of the file ``piece`` through ``query`` in DuckDB: counted by category,
    the matched ones inserted into ``beacons``, in the order of the log. A reporter is
    hashed in Python (:func:`_reporter`, called by DuckDB) once per distinct day and
    client, and joined to its lines."""
    from .engines.duckdb import over_logs, set_aside

    connection = store.connection
    lines = over_logs(query, [piece], False, "pb_rejects")
    # the fields by number in the temporary table: a template's names (say "rowid") never
    # meet the table's own columns
    fields = "".join(f", {_quote(name)} AS pb_f{i}" for i, name in enumerate(store.fields))
    values = "".join(f", l.pb_f{i}" for i in range(len(store.fields)))
    keys: dict[str, bytes | None] = {}

    def reporter(day: str, client: str) -> bytes:
        secret = keys[day]
        # a closed day's line proves one reporter that day, no more (_LEGACY)
        return day.encode("ascii") if secret is None else _reporter(secret, day, client)

    connection.create_function("pb_reporter", reporter, ["VARCHAR", "VARCHAR"], "BLOB",
                               side_effects=False)
    try:
        # The piece's lines, kept in DuckDB (a temporary table: in memory, or in DuckDB's
        # spill folder beside the store) until inserted: every line's category, and the
        # columns of a matched one; its client only with a time (else no reporter).
        # The query's times are all "YYYY-MM-DDTHH:MM:SSZ", which DuckDB casts as UTC.
        connection.execute(
            "CREATE TEMP TABLE pb_lines AS SELECT category,"
            " CASE WHEN category = 'matched' THEN CAST(time AS TIMESTAMP) END AS time,"
            " CASE WHEN category = 'matched' THEN CAST(status AS SMALLINT) END AS status,"
            " CASE WHEN category = 'matched' AND time IS NOT NULL THEN client END AS client"
            f"{fields} FROM ({lines}) AS lines")
        found = dict(connection.execute(
            "SELECT category, count(*) FROM pb_lines GROUP BY category").fetchall())
        not_utf8 = set_aside(connection, "pb_rejects")
        for number, name in enumerate(_CATEGORIES):
            rows.counts[number] += int(found.get(name, 0))
        rows.counts[3] += not_utf8
        rows.lines += sum(int(n) for n in found.values()) + not_utf8
        connection.execute(
            "CREATE TEMP TABLE pb_keys AS SELECT DISTINCT CAST(time AS DATE) AS day, client"
            " FROM pb_lines WHERE client IS NOT NULL")
        for (day,) in connection.execute(
                "SELECT DISTINCT strftime(day, '%Y-%m-%d') FROM pb_keys").fetchall():
            keys[day] = rows.secrets(day)  # drawn (and saved) here, not inside DuckDB
        # (ordered as read: an insert in order writes compressed blocks as it goes)
        connection.execute(
            f"INSERT INTO beacons SELECT {source}, l.time, l.status, r.reporter{values}"
            " FROM (SELECT * FROM pb_lines WHERE category = 'matched') AS l POSITIONAL JOIN"
            " (SELECT k.reporter FROM pb_lines AS l LEFT JOIN (SELECT day, client,"
            " pb_reporter(strftime(day, '%Y-%m-%d'), client) AS reporter FROM pb_keys) AS k"
            " ON CAST(l.time AS DATE) = k.day AND l.client = k.client"
            " WHERE category = 'matched' ORDER BY l.rowid) AS r")
    finally:
        for table in ("pb_lines", "pb_keys", "pb_rejects", "pb_rejects_scans"):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.remove_function("pb_reporter")


class _Batch:
    """Rows bound for the ``beacons`` table, written through a private tab-separated file.

    Tabs and newlines never occur in a value: the fits rule refuses every whitespace and
    control character in a decoded value, and times, statuses and hashes have none.
    """

    def __init__(self, store: Store, source: int) -> None:
        self._store = store
        self._source = source
        self._file: IO[str] | None = None
        self._path = ""
        self._size = 0

    def add(self, time: str | None, status: int, reporter: bytes | None,
            values: dict[str, str]) -> None:
        stamp = f"{time[:10]} {time[11:19]}" if time else ""
        cells = [stamp, str(status), reporter.hex() if reporter else ""]
        cells += [values[name] for name in self._store.fields]
        try:
            if self._file is None:
                handle, self._path = tempfile.mkstemp(prefix="pathbeacon-ingest-",
                                                      suffix=".tsv")
                self._file = os.fdopen(handle, "w", encoding="utf-8", newline="\n")
            self._file.write("\t".join(cells) + "\n")
        except OSError as error:
            self.discard()
            raise self._failed(error) from None
        self._size += 1
        if self._size >= _BATCH:
            self.flush()

    def _failed(self, error: OSError) -> OutputError:
        folder = os.path.dirname(self._path) if self._path else tempfile.gettempdir()
        return OutputError(f"{folder} (ingest's temporary rows; TMPDIR chooses the folder)",
                           error.strerror or str(error))

    def flush(self) -> None:
        if self._file is None:
            return
        fields = self._store.fields
        names = [f"c{i}" for i in range(3 + len(fields))]
        columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
        try:
            try:
                self._file.close()
            except OSError as error:  # the last rows did not reach the disk
                raise self._failed(error) from None
            self._store.connection.execute(
                f"INSERT INTO beacons SELECT {self._source}, CAST(c0 AS TIMESTAMP), "
                f"CAST(c1 AS SMALLINT), unhex(c2){''.join(', ' + n for n in names[3:])} "
                f"FROM read_csv(?, delim='\t', quote='', escape='', header=false, "
                f"auto_detect=false, columns={columns}, nullstr=''"
                + (f", force_not_null={names[3:]!r})" if fields else ")"),
                [self._path],
            )
        finally:
            self._file = None
            self._size = 0
            _unlink(self._path)

    def discard(self) -> None:
        """Remove the temporary file, whatever state a failure left it in."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
            _unlink(self._path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _ingest_one(store: Store, path: str, format: str, secrets: DayKeys) -> Ingested:
    connection = store.connection
    try:
        info = os.stat(path)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        # read once, it could be neither found again nor resumed
        raise ValueError(f"cannot ingest {path}: a pipe, not a file that can be read again")
    with _open_raw(path) as stream:
        try:
            head = stream.read(FINGERPRINT)
        except EOFError:  # compressed, and cut short before its first bytes: later
            return Ingested(path, 0, Counts(0, 0, 0, 0), False, _CUT_SHORT)
        except (OSError, zlib.error) as error:
            raise ValueError(f"cannot read {path}: {error}") from None
    if not head:
        return Ingested(path, 0, Counts(0, 0, 0, 0), False)
    final = _is_gzip(path)  # a compressed log is complete: its last line is whole
    known = _find(connection, head, info.st_dev, info.st_ino)
    start = 0
    if known is not None:
        chosen = known.format
        # Shorter than what was read: truncated and rewritten with the same first bytes.
        start = 0 if not final and info.st_size < known.read_to else known.read_to
    else:
        whole = head if final else head[: head.rfind(b"\n") + 1]
        if not whole and len(head) >= FINGERPRINT:  # a first line longer than the head
            whole = _first_lines(path)
        if not whole.strip():
            return Ingested(path, 0, Counts(0, 0, 0, 0), False)  # no whole line yet
        if format != "auto":
            chosen = format
        else:
            found = detect(whole.split(b"\n"))
            lines_seen = sum(1 for line in whole.split(b"\n") if line.strip())
            if found is None and not final and len(head) < FINGERPRINT and \
                    lines_seen < DETECT_LINES:
                # Too few lines to tell yet (the first may be junk): wait for more.
                return Ingested(path, 0, Counts(0, 0, 0, 0), False)
            if found is None:
                raise ValueError(f"cannot tell the log format of {path} from its first"
                                 " lines: pass --format")
            chosen = found
    rows = _Rows(store, parser(chosen).parse, secrets)
    fast = _fast_query(store, chosen)
    length = min(len(head), FINGERPRINT)
    recorded = [0, 0, 0, 0]  # the counts the sources table has of this run
    in_table = known is not None

    def record(position: int) -> None:
        """The source read up to ``position`` with this run's counts so far; commit."""
        nonlocal in_table
        counts = [now - before for now, before in zip(rows.counts, recorded)]
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        if not in_table:
            connection.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [source, path, info.st_dev, info.st_ino, length, _digest(head[:length]),
                 position, chosen, *counts, now, now],
            )
            in_table = True
        else:
            connection.execute(
                "UPDATE sources SET path = ?, device = ?, inode = ?, fingerprint_length = ?, "
                "fingerprint = ?, read_to = ?, matched = matched + ?, "
                "bad_status = bad_status + ?, other_path = other_path + ?, "
                "malformed = malformed + ?, last_read = ? WHERE id = ?",
                [path, info.st_dev, info.st_ino, length, _digest(head[:length]),
                 position, *counts, now, source],
            )
        connection.execute("COMMIT")
        recorded[:] = rows.counts

    connection.execute("BEGIN")
    batch: _Batch | None = None
    try:
        if known is None:
            source = int(connection.execute(
                "SELECT coalesce(max(id), 0) + 1 FROM sources").fetchall()[0][0])
        else:
            source = known.id
        batch = rows.batch = _Batch(store, source)
        position = start
        cut_short: list[bool] = []
        if fast is None:
            for raw, size in _new_lines(path, start, final, chosen, rows.parse, cut_short):
                position += size
                rows.add(raw)
        else:
            with contextlib.closing(_pieces(path, start, final, cut_short)) as pieces:
                for piece, size, lone_cr in pieces:
                    position += size
                    if lone_cr:  # DuckDB's reader would end a line there: Python reads it
                        with open(piece, "rb") as stream:
                            for raw, _size in _complete_lines(stream, True):
                                rows.add(raw)
                        batch.flush()
                    else:
                        _ingest_piece(store, fast, piece, source, rows)
                    # Each piece is committed with the place it ends at: what a transaction
                    # holds (DuckDB keeps a dropped table until the commit) stays one
                    # piece's, and a run cut short keeps its whole pieces, once each.
                    record(position)
                    connection.execute("BEGIN")
        batch.flush()
        record(position)
    except BaseException as error:
        if batch is not None:
            batch.discard()
        _rollback(connection)
        if isinstance(error, _duckdb().Error):
            raise _store_error(store.path, error) from None
        raise
    counts, lines = rows.counts, rows.lines
    note = _CUT_SHORT if cut_short else ""
    return Ingested(path, lines, Counts(*counts), known is not None, note)


def _new_lines(path: str, start: int, final: bool, format: str, parse: Any,
               cut_short: list[bool]) -> Iterator[tuple[bytes, int]]:
    """The whole lines of ``path`` after byte ``start`` (decompressed), with their sizes.

    A compressed file that ends early (still being written by logrotate) gives its whole
    lines so far, and ``cut_short`` gets an entry; a damaged one is a ``ValueError``.
    """
    with _open_raw(path) as stream:
        try:
            if start and format == "cloudfront":
                _replay_headers(stream, start, parse)
            else:
                _skip(stream, start)
            yield from _complete_lines(stream, final)
        except EOFError:
            cut_short.append(True)
        except (OSError, zlib.error) as error:
            raise ValueError(f"cannot read {path}: {error}") from None


def _first_lines(path: str) -> bytes:
    """The first whole lines of a plain log (up to :data:`DETECT_LINES`), read past the
    fingerprint because the first of them is longer."""
    lines: list[bytes] = []
    with _open_raw(path) as stream:
        for raw in stream:
            if not raw.endswith(b"\n"):
                break
            lines.append(raw)
            if len(lines) >= DETECT_LINES:
                break
    return b"".join(lines)


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as raw:
        return raw.read(2) == _GZIP_MAGIC


def _replay_headers(stream: BinaryIO, until: int, parse: Any) -> None:
    """Feed the ``#`` lines already read to a CloudFront parser (``#Fields`` sets columns)."""
    position = 0
    while position < until:
        raw = stream.readline()
        if not raw:
            break
        position += len(raw)
        if raw.startswith(b"#"):
            parse(raw.rstrip(b"\r\n").decode("utf-8", "replace"))


def ingest(template: str | Template, logs: Sequence[str] | str, db: str, *,
           base: str | None = None, format: str = "auto",
           today: date | None = None) -> list[Ingested]:
    """Append the new lines of ``logs`` to the store ``db`` (created when missing).

    Returns what was read from each log, in order. Idempotent: a log read before adds only
    what it gained since. Keys of days two days old are deleted before and after
    (see :class:`DayKeys`).
    """
    names = [logs] if isinstance(logs, str) else list(logs)
    if not names:
        raise ValueError("no log given: name one or more files")
    if "-" in names:
        raise ValueError("ingest reads files, not standard input: it must find them again")
    if format != "auto":
        parser(format)  # ValueError for an unknown format
    results = []
    with Store.open(db, template, base, write=True) as store:
        secrets = DayKeys(store.keys_path)
        secrets.forget(today)
        for name in names:
            results.append(_ingest_one(store, str(name), format, secrets))
        secrets.forget(today)
        try:
            store.connection.execute("CHECKPOINT")
        except _duckdb().Error as error:
            raise _store_error(store.path, error) from None
    return results


def stats(db: str, by: Iterable[str] | str = (), *, template: str | Template | None = None,
          every: str | None = None, since: object = None, until: object = None,
          k: int = 1) -> dict[str, Any]:
    """``stats`` over the store ``db``: the same structure, and the same answer, as
    :func:`pathbeacon.analysis.stats` over the logs it was fed."""
    with Store.open(db, template) as store:
        query = StatsQuery.make(store.template.fields, by=by, every=every, since=since,
                                until=until, k=k)
        return store.stats(query)
