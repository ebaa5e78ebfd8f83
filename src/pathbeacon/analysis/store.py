"""The ingest store: decoded beacons kept in a DuckDB file, read again by ``stats --db``.

``ingest`` appends the matched lines of access logs to a database file and may be run as
often as one likes on the same, growing and rotated logs: each source is known by a
fingerprint of its first bytes (and its device and inode), with how far it was read, so a
file read before adds only its new complete lines, a rotated file (renamed, or compressed
to ``.gz``) is recognised, and a new file with the same name is read from its start.

No client address is ever stored. A line with a time and a client keeps only a keyed hash
of its UTC day, client and user agent (BLAKE2b, keyed),
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
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import stat
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import IO, Any, BinaryIO

from ..catalogue import resolve
from ..template import Template
from .arguments import gather_positionals, split_pairs
from .formats import DETECT_LINES, detect, line_text, parser
from .matcher import Matcher
from .stats import Counts, GroupKey, GroupValue, StatsQuery, finish

__all__ = [
    "FINGERPRINT",
    "KEEP_DAYS",
    "DayKeys",
    "Ingested",
    "Store",
    "ingest",
    "register",
    "stats",
]

#: How many leading bytes (decompressed) identify a source.
FINGERPRINT = 4096
#: A day's key is deleted once the day is this many days old.
KEEP_DAYS = 2
# Rows go to DuckDB through a JSON-lines file in batches of this many.
_BATCH = 200_000
# Column names the store uses itself; a template field may not take one of them.
_FIXED = ("source", "time", "status", "reporter")
_GZIP_MAGIC = b"\x1f\x8b"
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
        try:
            connection = duckdb.connect(path, read_only=not write)
        except duckdb.Error as error:
            raise ValueError(f"cannot open the store {path}: {_first_line(error)}") from None
        try:
            return cls._bind(connection, path, template, base, write)
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
            held = Template(known["template"])
            held_base = known.get("base") or None
            if wanted is not None and wanted != held:
                raise ValueError(
                    f"{path} holds beacons of the template {held.text!r}, not {wanted.text!r}"
                )
            if base is not None and (Matcher(held, base).base_path
                                     != Matcher(held, held_base).base_path):
                raise ValueError(f"{path} holds beacons under base={held_base}, not {base}")
            return cls(connection, held, held_base, path)
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
                           "('schema', '1')", [wanted.text, base or ""])
        connection.execute("COMMIT")
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

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
            None: "NULL",
            "day": "strftime(CAST(time AS DATE), '%Y-%m-%d')",
            "week": "strftime(date_trunc('week', CAST(time AS DATE)), '%Y-%m-%d')",
            "month": "strftime(date_trunc('month', CAST(time AS DATE)), '%Y-%m-%d')",
        }[query.every]
        columns = "".join(f", {_quote(name)}" for name in query.by)
        condition = " AND ".join(where) or "TRUE"
        sql = (
            f"SELECT {period} AS period{columns}, count(*), count(DISTINCT reporter), "
            f"count(reporter) FROM beacons WHERE {condition} GROUP BY ALL"
        )
        groups: dict[GroupKey, GroupValue] = {}
        for row in self.connection.execute(sql, params).fetchall():
            events, distinct, counted = row[-3:]
            groups[(row[0], tuple(row[1:-3]))] = (int(events), int(distinct) if counted else None)
        # A group is told by its period and values joined with U+001F, which no decoded
        # value holds (the fits rule refuses control characters).
        key = "concat_ws(chr(31), " + ", ".join(
            [f"coalesce({period}, '')", *(_quote(name) for name in query.by)]) + ")"

        def union(keys: Sequence[GroupKey]) -> int | None:
            wanted = ["\x1f".join([group_period or "", *values]) for group_period, values in keys]
            distinct, counted = self.connection.execute(
                "SELECT count(DISTINCT reporter), count(reporter) FROM beacons "
                f"WHERE {condition} AND {key} IN (SELECT unnest(?::VARCHAR[]))",
                [*params, wanted],
            ).fetchone()
            return int(distinct) if counted else None

        return finish(self.counts(), groups, query, union)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class DayKeys:
    """The random key of each UTC day, in a small file beside the store (``FILE.keys``).

    The keys live apart from the database so that a deleted key is gone for good: a
    database file keeps deleted rows in its free blocks, whereas this file is written
    anew each time (readable by its owner only) and the old one overwritten with zeros
    before it is replaced.

        >>> import os, tempfile
        >>> keys = DayKeys(os.path.join(tempfile.mkdtemp(), "b.duckdb.keys"))
        >>> len(keys("2026-08-21")) == 32 and keys("2026-08-21") == keys("2026-08-21")
        True
        >>> keys.forget(date(2026, 8, 23)), keys.days()
        (1, [])
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._keys = self._load()

    def _load(self) -> dict[str, bytes]:
        try:
            with open(self.path, encoding="ascii") as stream:
                data = json.load(stream)
            return {str(day): bytes.fromhex(key) for day, key in data.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError, TypeError) as error:
            raise ValueError(f"cannot read the day keys in {self.path}: {error}") from None

    def days(self) -> list[str]:
        """The UTC days that have a key, in order."""
        return sorted(self._keys)

    def __call__(self, day: str) -> bytes:
        """The key of ``day`` (``YYYY-MM-DD``), drawn and saved at once when it has none."""
        key = self._keys.get(day)
        if key is None:
            key = self._keys[day] = os.urandom(32)
            self._save()
        return key

    def forget(self, today: date | None = None) -> int:
        """Delete the keys of days at least :data:`KEEP_DAYS` old; return how many."""
        today = today or datetime.now(timezone.utc).date()
        limit = (today - timedelta(days=KEEP_DAYS)).isoformat()
        old = [day for day in self._keys if day <= limit]
        for day in old:
            del self._keys[day]
        if old:
            self._save()
        return len(old)

    def _save(self) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        text = json.dumps({day: key.hex() for day, key in sorted(self._keys.items())})
        handle, temporary = tempfile.mkstemp(prefix=".keys-", dir=folder)  # mode 0600
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            try:
                with open(self.path, "r+b") as previous:
                    size = previous.seek(0, os.SEEK_END)
                    previous.seek(0)
                    previous.write(b"\0" * size)
                    previous.flush()
                    os.fsync(previous.fileno())
            except FileNotFoundError:
                pass
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise


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


def _reporter(secret: bytes, day: str, client: str, agent: str | None) -> bytes:
    """The keyed hash that stands for one reporter on one UTC day: BLAKE2b (16 bytes)
    keyed with that day's key, so it is the same in every run while the key lives."""
    text = f"{day}\0{client}\0{agent or ''}".encode("utf-8", "surrogatepass")
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
        if self._file is None:
            handle, self._path = tempfile.mkstemp(prefix="pathbeacon-ingest-", suffix=".tsv")
            self._file = os.fdopen(handle, "w", encoding="utf-8", newline="\n")
        stamp = f"{time[:10]} {time[11:19]}" if time else ""
        cells = [stamp, str(status), reporter.hex() if reporter else ""]
        cells += [values[name] for name in self._store.fields]
        self._file.write("\t".join(cells) + "\n")
        self._size += 1
        if self._size >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self._file is None:
            return
        self._file.close()
        fields = self._store.fields
        names = [f"c{i}" for i in range(3 + len(fields))]
        columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
        try:
            self._store.connection.execute(
                f"INSERT INTO beacons SELECT {self._source}, CAST(c0 AS TIMESTAMP), "
                f"CAST(c1 AS SMALLINT), unhex(c2){''.join(', ' + n for n in names[3:])} "
                f"FROM read_csv(?, delim='\t', quote='', escape='', header=false, "
                f"auto_detect=false, columns={columns}, nullstr=''"
                + (f", force_not_null={names[3:]!r})" if fields else ")"),
                [self._path],
            )
        finally:
            os.unlink(self._path)
            self._file = None
            self._size = 0

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            os.unlink(self._path)
            self._file = None


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
    parse = parser(chosen).parse
    match = store.matcher.match
    counts = [0, 0, 0, 0]
    lines = 0
    connection.execute("BEGIN")
    batch: _Batch | None = None
    try:
        if known is None:
            source = int(connection.execute(
                "SELECT coalesce(max(id), 0) + 1 FROM sources").fetchone()[0])
        else:
            source = known.id
        batch = _Batch(store, source)
        position = start
        cut_short: list[bool] = []
        for raw, size in _new_lines(path, start, final, chosen, parse, cut_short):
            position += size
            if not raw or raw == b"\r":
                continue
            category, record, values = _classify(parse, match, raw)
            if category < 0:
                continue
            lines += 1
            counts[category] += 1
            if category == 0:
                time, _target, status, agent, client = record
                reporter = None
                if time is not None and client is not None:
                    day = time[:10]
                    reporter = _reporter(secrets(day), day, client, agent)
                batch.add(time, status, reporter, values)
        batch.flush()
        length = min(len(head), FINGERPRINT)
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        if known is None:
            connection.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [source, path, info.st_dev, info.st_ino, length, _digest(head[:length]),
                 position, chosen, *counts, now, now],
            )
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
    except BaseException:
        if batch is not None:
            batch.discard()
        connection.execute("ROLLBACK")
        raise
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
        store.connection.execute("CHECKPOINT")
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


# ---- command line ----------------------------------------------------------------------


def _cmd_ingest(args: argparse.Namespace) -> int:
    logs, pairs = split_pairs(args.logs)
    if not logs:
        raise ValueError("no log given: name one or more files")
    results = ingest(args.template, logs, args.db, base=pairs.get("base"),
                     format=args.format)
    for result in results:
        print(result)
    return 0


def _stats_from_db(args: argparse.Namespace) -> int:
    from .output import write_csv, write_table

    logs, pairs = split_pairs(args.logs)
    if logs:
        raise ValueError("stats reads either logs or --db FILE, not both")
    if args.format != "auto" or args.engine != "auto" or args.master is not None:
        raise ValueError("--format, --engine and --master apply to logs, not to --db")
    with Store.open(args.db, args.template, pairs.get("base")) as store:
        query = StatsQuery.make(store.template.fields, by=args.by or (), every=args.every,
                                since=args.since, until=args.until, k=args.k)
        result = store.stats(query)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    elif args.csv:
        columns = (["period"] if query.every else []) + list(query.by) + ["events", "reporters"]
        write_csv(result["rows"], columns, sys.stdout)
    else:
        write_table(result, sys.stdout)
    if not args.json:
        sys.stdout.flush()
        print(str(Counts(**result["lines"])), file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``ingest``, and ``--db FILE`` to an existing ``stats``, to ``pathbeacon``."""
    p = sub.add_parser(
        "ingest", help="append the beacons of access logs to a DuckDB store",
        description=(
            "Append the new lines of access logs to a DuckDB store: run it as often as you\n"
            "like on growing and rotated logs; each line is counted once.\n\n"
            "  pathbeacon ingest '<base>/<package>/<version>/<os>' /var/log/nginx/pathbeacon.log"
            " --db beacons.duckdb base=https://g.example/t"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("logs", nargs="*", metavar="LOG|base=URL",
                   help="log files (plain or gzip) and base=URL")
    p.add_argument("--db", required=True, metavar="FILE", help="the DuckDB store")
    p.add_argument("--format", default="auto", metavar="F",
                   help="log format (default: detected per new file)")
    p.set_defaults(run=_cmd_ingest)
    gather_positionals(p, "logs")

    stats_parser = sub.choices.get("stats")
    if stats_parser is not None:
        # stats --db FILE: the logs become optional, and a --db run never reaches the
        # engines; without --db the command is exactly as it was.
        for action in stats_parser._actions:
            if action.dest == "logs":
                action.nargs = "*"
        stats_parser.add_argument("--db", default=None, metavar="FILE",
                                  help="read an ingest store instead of logs")
        from_logs = stats_parser.get_default("run")

        def run(args: argparse.Namespace) -> int:
            if args.db is not None:
                return _stats_from_db(args)
            if not args.logs:
                raise ValueError("stats needs logs (or --db FILE)")
            result: int = from_logs(args)
            return result

        stats_parser.set_defaults(run=run)
        gather_positionals(stats_parser, "logs")
