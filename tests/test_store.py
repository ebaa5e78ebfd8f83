"""The ingest store, with real files and a real DuckDB: idempotent, growing and rotated logs."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathbeacon.analysis import stats as log_stats
from pathbeacon.analysis import store

pytest.importorskip("duckdb", reason="the analysis extra (pip install '.[analysis]')")

from . import logs
from .conftest import clean_env, run_cli

TEMPLATE = "<base>/<package>/<version>/<os>"
BASE = "https://gw.example/t"
TODAY = date(2026, 8, 22)
QUERIES: list[tuple[list[str], str | None, int, dict[str, str]]] = [
    ([], None, 1, {}),
    (["version"], None, 1, {}),
    (["version", "os"], "day", 1, {}),
    (["os"], "week", 2, {}),
    (["package", "version"], "month", 3, {}),
    (["os"], None, 1, {"since": "2026-08-22"}),
    (["version"], "day", 2, {"until": "2026-08-22"}),
    (["package", "version", "os"], None, 12, {}),  # several small groups fold together
    (["version", "os"], "day", 9, {"since": "2026-08-21"}),
]
CLIENTS = [f"203.0.113.{n}" for n in range(1, 9)] + ["2001:db8::77"]
AGENTS = ["pathbeacon/0.1.0 (platform=linux; arch=x86_64; python=3.11.7)", "curl/8.0"]


def beacon(day: int, hour: int, client: str | None, agent: str, target: str,
           status: int = 204) -> str:
    record: dict[str, object] = {"time": f"2026-08-{day:02d}T{hour:02d}:30:00+02:00",
                                 "request": target, "status": status, "agent": agent}
    if client is not None:
        record["client"] = client
    return json.dumps(record) + "\n"


def random_lines(rng: random.Random, count: int, days: tuple[int, ...] = (21, 22)) -> list[str]:
    """JSON log lines of every kind: beacons, bad statuses, other paths, junk."""
    lines = []
    for _ in range(count):
        kind = rng.random()
        target = (f"/t/{rng.choice(['acme', 'zeta'])}/{rng.choice(['1.0', '2.0', '2.1', '%22q%27%5C%2C%C3%A9%5CN'])}/"
                  f"{rng.choice(['linux', 'macos', 'Mac_OS_X', 'Debian_GNU%2FLinux'])}")
        client, agent = rng.choice(CLIENTS), rng.choice(AGENTS)
        day, hour = rng.choice(days), rng.randrange(2, 24)  # +02:00: the same UTC day
        if kind < 0.75:
            lines.append(beacon(day, hour, client, agent, target))
        elif kind < 0.85:
            lines.append(beacon(day, hour, client, agent, target, rng.choice([404, 500])))
        elif kind < 0.95:
            lines.append(beacon(day, hour, client, agent, "/elsewhere" + target))
        else:
            lines.append(rng.choice(["not json\n", "{\"request\": 7}\n", "\n", "[1]\r\n"]))
    return lines


def assert_same_stats(db: Path, logs: list[Path], queries: int = len(QUERIES),
                      engines: tuple[str, ...] = ("python", "auto")) -> None:
    """stats from the store == stats from the logs (python engine, and the default)."""
    for by, every, k, window in QUERIES[:queries]:
        from_store = store.stats(str(db), by, every=every, k=k, **window)
        for engine in engines:
            from_logs = log_stats(TEMPLATE, [str(p) for p in logs], by, every=every, k=k,
                                  base=BASE, engine=engine, **window)
            assert from_store == from_logs, (by, every, k, window, engine)


def ingest(logs: list[Path], db: Path, today: date = TODAY) -> list[store.Ingested]:
    return store.ingest(TEMPLATE, [str(p) for p in logs], str(db), base=BASE, today=today)


def test_ingest_twice_adds_nothing_and_stats_match_the_logs(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = random_lines(random.Random(1), 600)
    log.write_bytes("".join(lines).encode() + b"\xff\xfe not utf-8\n")
    db = tmp_path / "beacons.duckdb"
    (first,) = ingest([log], db)
    non_empty = sum(1 for line in lines if line.strip()) + 1
    assert first.new_lines == non_empty and not first.resumed
    assert sum(first.counts) == non_empty and first.counts.malformed >= 1
    (second,) = ingest([log], db)
    assert second.new_lines == 0 and second.resumed
    assert_same_stats(db, [log])


def test_a_growing_log_adds_only_its_new_complete_lines(tmp_path: Path) -> None:
    rng = random.Random(2)
    log = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    head = random_lines(rng, 30)
    unfinished = beacon(22, 9, CLIENTS[0], AGENTS[0], "/t/acme/9.9/linux")
    log.write_text("".join(head) + unfinished[:25])  # the server is mid-write
    (first,) = ingest([log], db)
    assert first.new_lines == sum(1 for line in head if line.strip())
    more = random_lines(rng, 20)
    with log.open("a") as out:
        out.write(unfinished[25:] + "".join(more))
    (second,) = ingest([log], db)
    assert second.resumed
    assert second.new_lines == 1 + sum(1 for line in more if line.strip())
    rows = store.stats(str(db), ["version"])["rows"]
    assert {"version": "9.9", "events": 1, "reporters": 1} in rows
    assert_same_stats(db, [log])


def test_rotated_logs_are_recognised_renamed_and_compressed(tmp_path: Path) -> None:
    rng = random.Random(3)
    live = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    a, b, c, d, e = (random_lines(rng, 40) for _ in range(5))
    live.write_text("".join(a))
    assert ingest([live], db)[0].new_lines == len([x for x in a if x.strip()])

    # The server writes B, then logrotate renames the file and the server starts anew.
    with live.open("a") as out:
        out.write("".join(b))
    rotated = tmp_path / "access.log.1"
    live.rename(rotated)
    live.write_text("".join(c))
    results = ingest([live, rotated], db)
    assert [r.resumed for r in results] == [False, True]
    assert [r.new_lines for r in results] == [len([x for x in lines if x.strip()])
                                              for lines in (c, b)]

    # Next rotation compresses the old one: the .gz copy is known by its first bytes.
    compressed = tmp_path / "access.log.2.gz"
    with rotated.open("rb") as src, gzip.open(compressed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    rotated.unlink()
    with live.open("a") as out:
        out.write("".join(d))
    results = ingest([live, compressed], db)
    assert [r.new_lines for r in results] == [len([x for x in d if x.strip()]), 0]
    assert all(r.resumed for r in results)

    # copytruncate: the same file (same inode) starts over with new content.
    kept = tmp_path / "c-and-d.log"
    shutil.copy(live, kept)
    inode = live.stat().st_ino
    with live.open("r+") as out:
        out.truncate(0)
        out.write("".join(e))
    assert live.stat().st_ino == inode
    (result,) = ingest([live], db)
    assert not result.resumed and result.new_lines == len([x for x in e if x.strip()])
    assert ingest([live, compressed, kept], db)[0].new_lines == 0
    assert_same_stats(db, [compressed, kept, live])


def test_a_rewritten_file_with_the_same_start_is_read_again(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    first = beacon(22, 1, CLIENTS[0], AGENTS[0], "/t/acme/1.0/linux")
    log.write_text(first + beacon(22, 2, CLIENTS[1], AGENTS[0], "/t/acme/2.0/linux"))
    ingest([log], db)
    log.write_text(first)  # shorter than what was read: truncated and started again
    assert ingest([log], db)[0].new_lines == 1
    assert store.stats(str(db))["lines"]["matched"] == 3


def test_a_log_too_short_to_tell_its_format_waits_for_more_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    log.write_text("not json\n" + beacon(22, 9, CLIENTS[0], AGENTS[0], "/t/acme/1.0/linux")[:30])
    (waiting,) = ingest([log], db)
    assert waiting.new_lines == 0 and not waiting.resumed
    log.write_text("not json\n" + beacon(22, 9, CLIENTS[0], AGENTS[0], "/t/acme/1.0/linux"))
    (read,) = ingest([log], db)
    assert read.new_lines == 2 and not read.resumed
    assert read.counts == (1, 0, 0, 1)
    junk = tmp_path / "junk.log"
    junk.write_text("not json\n" * 40)
    with pytest.raises(ValueError, match="cannot tell the log format"):
        ingest([junk], db)


def test_day_keys_live_two_days_and_late_lines_join_their_day(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    keys = tmp_path / "beacons.duckdb.keys"
    target = "/t/acme/1.0/linux"
    # Times are +02:00: 01:30 on the 22nd is 23:30 UTC on the 21st.
    log.write_text(beacon(22, 12, CLIENTS[0], AGENTS[0], target)
                   + beacon(22, 1, CLIENTS[0], AGENTS[0], target)
                   + beacon(19, 12, CLIENTS[0], AGENTS[0], target))
    ingest([log], db, today=TODAY)
    assert store.DayKeys(str(keys)).days() == ["2026-08-21", "2026-08-22"]
    assert keys.stat().st_mode & 0o077 == 0  # the owner's only
    # The same reporter, late, for the 21st: still one reporter that day.
    with log.open("a") as out:
        out.write(beacon(22, 0, CLIENTS[0], AGENTS[0], target))
    ingest([log], db, today=TODAY)
    rows = store.stats(str(db), [], every="day")["rows"]
    assert rows == [
        {"period": "2026-08-21", "events": 2, "reporters": 1},
        {"period": "2026-08-19", "events": 1, "reporters": 1},
        {"period": "2026-08-22", "events": 1, "reporters": 1},
    ]
    assert_same_stats(db, [log])
    # A day later the key of the 21st is gone too: from the key file, and from the disk
    # blocks that file had (overwritten before it was replaced); never in the database.
    secret = store.DayKeys(str(keys))("2026-08-21")
    old_inode = keys.stat().st_ino
    with keys.open("rb") as old_file:
        ingest([log], db, today=date(2026, 8, 23))
        old_file.seek(0)
        assert old_file.read().strip(b"\0") == b""  # the replaced file, still open here
    assert keys.stat().st_ino != old_inode
    assert store.DayKeys(str(keys)).days() == ["2026-08-22"]
    for place in (keys, db):
        data = place.read_bytes()
        assert secret not in data and secret.hex().encode() not in data


def test_the_store_holds_no_client_address_nor_user_agent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    log.write_text("".join(random_lines(random.Random(5), 300)))
    now = datetime.now(timezone.utc).date()
    scratch = tmp_path / "tmp"  # a TMPDIR of its own: other runs share the system's
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ingest([log], db, today=now)
    assert list(scratch.iterdir()) == []
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("beacons"))
    for secret in [*CLIENTS, "203.0.113", "2001:db8", "curl/8.0", "platform=linux"]:
        assert secret.encode() not in data, secret
    for client in CLIENTS[:8]:
        packed = bytes(int(part) for part in client.split("."))
        assert packed not in data, client
    with store.Store.open(str(db)) as opened:
        columns = [row[0] for row in opened.connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'beacons'").fetchall()]
    assert columns == ["source", "time", "status", "reporter", "package", "version", "os"]


def test_cloudfront_fields_header_is_kept_across_runs(tmp_path: Path) -> None:
    log = tmp_path / "cf.log"
    db = tmp_path / "beacons.duckdb"
    header = "#Version: 1.0\n#Fields: date time c-ip cs(User-Agent) sc-status cs-uri-stem\n"

    def row(day: int, version: str) -> str:
        return f"2026-08-{day}\t10:00:00\t198.51.100.4\tua\t200\t/t/acme/{version}/linux\n"

    log.write_text(header + row(21, "1.0") + row(22, "2.0"))
    ingest([log], db)
    with log.open("a") as out:
        out.write(row(22, "3.0"))
    assert ingest([log], db)[0].new_lines == 1
    assert [r["version"] for r in store.stats(str(db), ["version"])["rows"]] == ["1.0", "2.0",
                                                                               "3.0"]
    assert_same_stats(db, [log])


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 4000), max_size=4))
def test_ingest_after_any_appends_equals_stats_of_the_whole(seed: int, cuts: list[int]) -> None:
    """However a log grows between ingests (even mid-line), the store counts it once."""
    with tempfile.TemporaryDirectory() as folder:
        log, db = Path(folder) / "access.log", Path(folder) / "beacons.duckdb"
        data = "".join(random_lines(random.Random(seed), 60)).encode()
        log.write_bytes(b"")
        done = 0
        for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
            with log.open("ab") as out:
                out.write(data[done:cut])
            done = max(done, cut)
            if log.stat().st_size:
                ingest([log], db)
        assert_same_stats(db, [log], queries=5, engines=("python",))


# ---- command line -----------------------------------------------------------------------


def test_cli_ingest_then_stats_db_equals_stats_of_the_logs(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(6), 200)))
    db = tmp_path / "beacons.duckdb"
    for expected_new in ("new source", "resumed"):
        result = run_cli("ingest", TEMPLATE, str(log), "--db", str(db), f"base={BASE}")
        assert result.returncode == 0, result.stderr
        assert expected_new in result.stdout
    for extra in (["--json"], ["--csv"], []):
        args = ["--by", "version,os", "--every", "day", "--k", "2", *extra]
        from_db = run_cli("stats", TEMPLATE, "--db", str(db), *args)
        from_log = run_cli("stats", TEMPLATE, str(log), f"base={BASE}", *args)
        assert from_db.returncode == 0, from_db.stderr
        assert from_db.stdout == from_log.stdout and from_db.stdout
        assert from_db.stderr == from_log.stderr


@pytest.mark.parametrize("args", [
    ("stats", TEMPLATE, "--db", "{missing}"),
    ("stats", TEMPLATE, "{log}", "--db", "{db}"),
    ("stats", "<base>/<os>", "--db", "{db}"),
    ("stats", TEMPLATE, "--db", "{db}", "--engine", "python"),
    ("stats", TEMPLATE, "--db", "{db}", "--by", "arch"),
    ("stats", TEMPLATE),
    ("ingest", "<base>/<os>", "{log}", "--db", "{db}"),
    ("ingest", TEMPLATE, "{log}", "--db", "{db}", "base=https://gw.example/other"),
    ("ingest", TEMPLATE, "-", "--db", "{db}"),
    ("ingest", TEMPLATE, "{missing}", "--db", "{db}"),
    ("ingest", TEMPLATE, "{log}", "--db", "{db}", "--format", "apache"),
    ("ingest", "<base>/<time>", "{log}", "--db", "{other}", "base=/t"),
    ("ingest", TEMPLATE, "{log}", "--db", "{notastore}"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(7), 20)))
    db = tmp_path / "beacons.duckdb"
    ingest([log], db)
    import duckdb

    duckdb.connect(str(tmp_path / "other.duckdb")).close()
    with duckdb.connect(str(tmp_path / "plain.duckdb")) as plain:
        plain.execute("CREATE TABLE t (x INTEGER)")
    names = {"log": str(log), "db": str(db), "missing": str(tmp_path / "missing"),
             "other": str(tmp_path / "new.duckdb"), "notastore": str(tmp_path / "plain.duckdb")}
    result = run_cli(*(arg.format(**names) for arg in args))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("pathbeacon: error: ") and len(result.stderr.splitlines()) == 1
    assert os.path.exists(db)


def test_a_template_with_no_field_but_base_counts_events(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(beacon(22, 9, CLIENTS[0], AGENTS[0], "/t/ping")
                   + beacon(22, 9, CLIENTS[1], AGENTS[0], "/t/ping")
                   + beacon(22, 9, CLIENTS[1], AGENTS[0], "/t/pong"))
    db = tmp_path / "pings.duckdb"
    store.ingest("<base>/ping", [str(log)], str(db), base=BASE)
    assert store.stats(str(db)) == log_stats("<base>/ping", [str(log)], base=BASE,
                                             engine="python")
    assert store.stats(str(db))["rows"] == [{"events": 2, "reporters": 2}]


@pytest.mark.parametrize("flavour", logs.FLAVOURS)
def test_every_log_format_grows_and_rotates_into_the_same_stats(tmp_path: Path,
                                                               flavour: str) -> None:
    """Each format the decoder reads, as its gateway writes it: in two runs, then its
    compressed copy; the store answers as stats over the log does."""
    rng = random.Random(flavour)
    hits = []
    for n in range(80):
        version = rng.choice(["1.0", "2.0", "%22q%27%5C%2C%C3%A9"])
        target = f"/t/{rng.choice(['acme', 'zeta'])}/{version}/{rng.choice(['linux', 'macos'])}"
        if n % 9 == 0:
            target = "/other" + target
        hits.append(logs.Hit(target, status=rng.choice([204, 204, 204, 302, 404]),
                             time=datetime(2026, 8, rng.choice([21, 22]), rng.randrange(24),
                                           tzinfo=timezone.utc),
                             client=rng.choice(CLIENTS), agent=rng.choice(AGENTS)))
    log = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    logs.write_log(log, flavour, hits[:50], extra_lines=["junk line"])
    first = ingest([log], db)[0]
    with log.open("ab") as out:
        out.write("".join(line + "\n" for line in logs.lines(flavour, hits[50:])
                          if not line.startswith("#")).encode())
    second = ingest([log], db)[0]
    assert second.resumed and second.new_lines == 30
    headers = 2 if flavour == "cloudfront" else 0  # "#Version", "#Fields": other_path
    assert first.new_lines + second.new_lines == 81 + headers
    compressed = tmp_path / "access.log.1.gz"
    compressed.write_bytes(gzip.compress(log.read_bytes()))
    assert ingest([compressed], db)[0].new_lines == 0
    assert_same_stats(db, [log])


def test_a_compressed_log_cut_short_gives_its_whole_lines_then_the_rest(tmp_path: Path) -> None:
    """logrotate compressing a file while ingest reads it: nothing half-read is counted."""
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(8), 2000)))
    packed = gzip.compress(log.read_bytes())
    growing = tmp_path / "access.log.1.gz"
    growing.write_bytes(packed[: len(packed) // 2])
    db = tmp_path / "beacons.duckdb"
    (first,) = ingest([growing], db)
    assert "cut short" in str(first) and 0 < first.new_lines < 2000
    growing.write_bytes(packed)
    (second,) = ingest([growing], db)
    assert second.resumed and "cut short" not in str(second)
    assert first.new_lines + second.new_lines == sum(1 for x in log.read_text().splitlines()
                                                     if x.strip())
    assert_same_stats(db, [log])


def test_a_damaged_compressed_log_is_one_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "access.log.gz"
    log.write_bytes(gzip.compress(b"".join(
        beacon(22, 9, CLIENTS[0], AGENTS[0], f"/t/acme/{n}/linux").encode()
        for n in range(3000)))[:300] + b"\x00garbage" * 2000)
    result = run_cli("ingest", TEMPLATE, str(log), "--db", str(tmp_path / "b.duckdb"),
                     f"base={BASE}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"pathbeacon: error: cannot read {log}")
    assert "Traceback" not in result.stderr


# ---- hostile places, full disks and other versions (issue 13, items 4, 5 and 6) ----------


def _one_line(result: Any, status: int) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("pathbeacon: error: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return str(result.stderr)


def _victim(tmp_path: Path) -> tuple[Path, bytes]:
    """A file the ingest user can write but must never touch (a copy of /etc/passwd)."""
    victim = tmp_path / "elsewhere" / "passwd"
    victim.parent.mkdir()
    shutil.copyfile("/etc/passwd", victim)
    return victim, victim.read_bytes()


@pytest.mark.parametrize("side", [".keys", ".wal"])
def test_a_link_planted_beside_the_store_is_refused(tmp_path: Path, side: str) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(8), 50)))
    db = tmp_path / "beacons.duckdb"
    ingest([log], db)
    victim, before = _victim(tmp_path)
    if os.path.exists(str(db) + side):
        os.unlink(str(db) + side)
    Path(str(db) + side).symlink_to(victim)
    log.write_text(log.read_text() + "".join(random_lines(random.Random(9), 50, days=(23,))))
    result = run_cli("ingest", TEMPLATE, str(log), "--db", str(db), f"base={BASE}")
    assert "symbolic link" in _one_line(result, 2)
    assert victim.read_bytes() == before
    assert os.path.islink(str(db) + side)  # left for its owner to look at


def test_day_keys_swapped_for_a_link_during_an_ingest_are_refused(tmp_path: Path) -> None:
    victim, before = _victim(tmp_path)
    path = tmp_path / "b.duckdb.keys"
    keys = store.DayKeys(str(path))
    keys("2026-08-21")  # the file exists now, as during an ingest
    os.unlink(path)
    path.symlink_to(victim)  # swapped in between two saves
    with pytest.raises(ValueError, match="symbolic link"):
        keys("2026-08-22")
    assert victim.read_bytes() == before
    os.unlink(path)
    os.link(victim, path)  # a second name for someone else's file
    with pytest.raises(ValueError, match="not a file of the store's own"):
        keys("2026-08-23")
    assert victim.read_bytes() == before


def test_day_keys_file_is_owner_only_and_replaced_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "b.duckdb.keys"
    keys = store.DayKeys(str(path))
    keys("2026-08-21")
    first = os.stat(path)
    keys("2026-08-22")
    second = os.stat(path)
    assert (second.st_mode & 0o777) == 0o600
    assert second.st_ino != first.st_ino  # a fresh file renamed into place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.duckdb.keys"]


def test_a_store_in_a_folder_anyone_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: anyone may plant beacons.duckdb.wal there
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(8), 20)))
    result = run_cli("ingest", TEMPLATE, str(log), "--db", str(shared / "b.duckdb"),
                     f"base={BASE}")
    assert "writable by anyone" in _one_line(result, 2)
    assert list(shared.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: writes past it fail with ENOSPC, as on a full disk."""
    place = tmp_path / "small"
    place.mkdir()
    mount = shutil.which("mount") or "/bin/mount"
    done = subprocess.run([mount, "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs",
                           str(place)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN): "
                    + done.stderr.strip()[:80])
    try:
        yield place
    finally:
        subprocess.run([shutil.which("umount") or "/bin/umount", str(place)], check=True)


def _big_log(path: Path) -> Path:
    path.write_text("".join(beacon(21, n % 24, f"203.0.113.{n % 200}", AGENTS[0],
                                   f"/t/acme/{n}.{'x' * 40}/linux") for n in range(6000)))
    return path


def test_a_full_temporary_folder_during_ingest_is_one_line_and_leaves_nothing(
        tmp_path: Path, small_disk: Path) -> None:
    log = _big_log(tmp_path / "access.log")
    db = tmp_path / "beacons.duckdb"
    result = run_cli("ingest", TEMPLATE, str(log), "--db", str(db), f"base={BASE}",
                     env=clean_env(TMPDIR=str(small_disk)))
    assert "No space left on device" in _one_line(result, 1)
    assert list(small_disk.iterdir()) == []  # no pathbeacon-ingest-*.tsv left behind
    # the store is intact: the next run, with room, reads every line once
    again = run_cli("ingest", TEMPLATE, str(log), "--db", str(db), f"base={BASE}")
    assert again.returncode == 0, again.stderr
    assert store.stats(str(db))["lines"]["matched"] == 6000


def test_a_full_disk_under_the_store_is_one_line(tmp_path: Path, small_disk: Path) -> None:
    log = _big_log(tmp_path / "access.log")
    result = run_cli("ingest", TEMPLATE, str(log), "--db", str(small_disk / "b.duckdb"),
                     f"base={BASE}")
    assert "No space left on device" in _one_line(result, 1)
    assert not [p for p in small_disk.iterdir() if p.name.startswith(".")]


def _schema_store(tmp_path: Path) -> Path:
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(10), 120)))
    db = tmp_path / "beacons.duckdb"
    ingest([log], db)
    return db


@pytest.mark.parametrize("change, message", [
    ("UPDATE meta SET value = '3' WHERE name = 'schema'", "schema 3, written by a newer"),
    ("DELETE FROM meta WHERE name = 'schema'", "records no schema"),
    ("ALTER TABLE beacons DROP COLUMN os", "the table beacons was altered"),
    ("ALTER TABLE beacons ALTER COLUMN status TYPE VARCHAR", "the table beacons was altered"),
    ("ALTER TABLE sources RENAME COLUMN read_to TO done", "the table sources was altered"),
    ("DROP TABLE sources", "no table sources"),
])
def test_a_store_of_another_schema_or_altered_is_refused_in_one_line(
        tmp_path: Path, change: str, message: str) -> None:
    import duckdb

    db = _schema_store(tmp_path)
    with duckdb.connect(str(db)) as connection:
        connection.execute(change)
    before = db.read_bytes()
    for args in (("stats", TEMPLATE, "--db", str(db), "--by", "os"),
                 ("ingest", TEMPLATE, str(tmp_path / "access.log"), "--db", str(db))):
        assert message in _one_line(run_cli(*args), 2)
    assert db.read_bytes() == before  # never written to


def test_a_schema_1_store_is_read_then_migrated_with_one_reporter_a_day(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "old.duckdb"
    # what schema 1 held: one hash per (day, client, user agent)
    with duckdb.connect(str(db)) as connection:
        connection.execute(store._SCHEMA)
        connection.execute("CREATE TABLE beacons (source INTEGER NOT NULL, time TIMESTAMP,"
                           " status SMALLINT NOT NULL, reporter BLOB, package VARCHAR,"
                           " version VARCHAR, os VARCHAR)")
        connection.execute("INSERT INTO meta VALUES ('template', ?), ('base', ?),"
                           " ('schema', '1')", [TEMPLATE, "/t"])
        rows = [(f"2026-08-{21 + n % 2} 10:00:00", os.urandom(16), "1.0") for n in range(6)]
        rows += [("2026-08-21 11:00:00", os.urandom(16), "2.0")]
        connection.executemany("INSERT INTO beacons VALUES (1, ?, 204, ?, 'acme', ?, 'linux')",
                               rows)
        connection.execute("INSERT INTO sources VALUES (1, 'old.log', 1, 1, 10, 'x', 10,"
                           " 'json', 7, 0, 0, 0, NULL, NULL)")
    want = [{"version": "1.0", "events": 6, "reporters": 2},  # a reporter on each of 2 days
            {"version": "2.0", "events": 1, "reporters": 1}]
    assert store.stats(str(db), ["version"])["rows"] == want  # read as it is
    # their hashes covered the user agent: a day of them proves one machine, not k=2
    assert store.stats(str(db), ["version"], k=2)["rows"] == []
    log = tmp_path / "access.log"
    log.write_text(beacon(21, 12, "203.0.113.1", AGENTS[0], "/t/acme/1.0/linux"))
    ingest([log], db)  # writing migrates
    with duckdb.connect(str(db), read_only=True) as connection:
        assert connection.execute("SELECT value FROM meta WHERE name = 'schema'").fetchall() \
            == [(str(store.SCHEMA),)]
    rows = store.stats(str(db), ["version"])["rows"]
    # the new address on the 21st may be the machine the old mark stands for: still 2
    assert rows == [{"version": "1.0", "events": 7, "reporters": 2},
                    {"version": "2.0", "events": 1, "reporters": 1}]


def test_a_line_after_its_days_key_is_deleted_adds_no_machine(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    target = "/t/acme/1.0/linux"
    log.write_text(beacon(21, 12, CLIENTS[0], AGENTS[0], target)
                   + beacon(21, 13, CLIENTS[1], AGENTS[0], target))
    ingest([log], db, today=TODAY)
    # two days on, the key of the 21st is gone; the first client's late line arrives
    with log.open("a") as out:
        out.write(beacon(21, 14, CLIENTS[0], AGENTS[0], target))
    ingest([log], db, today=date(2026, 8, 24))
    rows = store.stats(str(db), [], every="day")["rows"]
    assert rows == [{"period": "2026-08-21", "events": 3, "reporters": 2}]  # not 3
    assert store.stats(str(db), [], k=3)["rows"] == []  # two addresses are not three
    # a backlog of a day never seen before is counted in full, in one run
    late = tmp_path / "late.log"
    late.write_text(beacon(18, 12, CLIENTS[2], AGENTS[0], target)
                    + beacon(18, 13, CLIENTS[3], AGENTS[0], target))
    ingest([late], db, today=date(2026, 8, 24))
    ingest([late], db, today=date(2026, 8, 25))
    assert store.stats(str(db), [], every="day")["rows"][-1] == {
        "period": "2026-08-18", "events": 2, "reporters": 2}


# ---- the fast path (the duckdb engine's SQL) against the Python path ---------------------


def _contents(db: Path) -> tuple[list[Any], list[Any]]:
    """Every beacon row (sorted: the table is a multiset) and every source's record."""
    with store.Store.open(str(db)) as opened:
        rows = opened.connection.execute("SELECT * FROM beacons ORDER BY ALL").fetchall()
        sources = opened.connection.execute(
            "SELECT id, path, device, inode, fingerprint_length, fingerprint, read_to, format,"
            " matched, bad_status, other_path, malformed FROM sources ORDER BY id").fetchall()
    return rows, sources


def _ingest_both(monkeypatch: pytest.MonkeyPatch, folder: Path, log: Path,
                 fmt: str = "auto", today: date = TODAY,
                 template: str = TEMPLATE) -> tuple[Any, Any, int]:
    """Ingest ``log`` into ``python.duckdb`` by the Python path, then into ``fast.duckdb``
    under the same day keys; return both results and how many pieces took the fast path."""
    pieces = []
    real = store._ingest_piece

    def spy(*args: Any) -> None:
        pieces.append(args[2])
        real(*args)

    keys = folder / "python.duckdb.keys"
    if not keys.exists():  # the same key for each day (a day first seen draws one)
        seeded = store.DayKeys(str(keys))
        for day in range(15, 26):
            seeded(f"2026-08-{day}")
    shutil.copy(keys, folder / "fast.duckdb.keys")
    with monkeypatch.context() as patch:
        patch.setattr(store, "_fast_query", lambda _store, _format: None)
        patch.setattr(store, "_ingest_piece", spy)
        slow = store.ingest(template, [str(log)], str(folder / "python.duckdb"), base=BASE,
                            format=fmt, today=today)
    assert not pieces
    with monkeypatch.context() as patch:
        patch.setattr(store, "_ingest_piece", spy)
        fast = store.ingest(template, [str(log)], str(folder / "fast.duckdb"), base=BASE,
                            format=fmt, today=today)
    # the same days' keys drawn, used and closed
    assert (folder / "fast.duckdb.keys").read_bytes() == keys.read_bytes()
    return slow, fast, len(pieces)


def _combined(day: int, hour: int, client: str, agent: str, target: str,
              status: int = 204) -> str:
    return (f'{client} - - [{day:02d}/Aug/2026:{hour:02d}:30:00 +0200] "GET {target} HTTP/1.1"'
            f' {status} 0 "-" "{agent}"\n')


def _hostile_lines(fmt: str) -> list[bytes]:
    """Lines of one format: beacons of live and closed days, with and without a client,
    IPv6 and escapes, bad statuses, other paths, and what a hostile client may send."""
    write = beacon if fmt == "json" else _combined
    lines = [write(day, hour, client, agent, target, status).encode()
             for day, hour, client, agent, target, status in [
                 (22, 9, CLIENTS[0], AGENTS[0], "/t/acme/1.0/linux", 204),
                 (22, 1, CLIENTS[8], AGENTS[1], "/t/acme/2.0/Debian_GNU%2FLinux", 204),
                 (21, 23, "2001:DB8:0:0:1::9", AGENTS[0], "/t/zeta/%22q%27%5C/macos", 302),
                 (19, 12, CLIENTS[1], AGENTS[0], "/t/acme/1.0/linux", 204),  # a closed day
                 (22, 9, CLIENTS[2], AGENTS[0], "/t/acme/1.0/linux", 404),
                 (22, 9, CLIENTS[3], AGENTS[0], "/elsewhere/t/acme/1.0/linux", 204),
                 (22, 9, "::ffff:192.0.2.1", AGENTS[0], "/t/acme/%2E%2E/linux", 204),
                 (22, 9, CLIENTS[4], 'a "quoted" \\ agent', "/t/acme/1.0/linux", 204)]]
    if fmt == "json":
        lines += [beacon(22, 3, None, AGENTS[0], "/t/acme/1.0/linux").encode(),
                  b'{"time":"2026-08-21T14:00:00+00:00","request":"/t/acme/1.0/linux",'
                  b'"status":204,"agent":"ua","client":""}\n',
                  b'{"time":"2026-08-21T14:00:00+00:00","request":"/t/acme/1.0/linux",'
                  b'"status":204,"agent":"ua","client":"203.0.113.9"}\n',  # nginx's shape
                  b'{"time":1787313600,"request":"/t/acme/3.0/linux","status":"204"}\n']
    else:
        lines += [b'203.0.113.9 a] "b [21/Aug/2026:14:00:00 +0000] "GET /t/acme/1.0/linux'
                  b' HTTP/1.1" 204 0 "-" "ua"\n',
                  b'203.0.113.9 - - [31/Feb/2026:14:00:00 +0000] "GET /t/acme/1.0/linux'
                  b' HTTP/1.1" 204 0\n',
                  b'203.0.113.9 - - [21/Aug/2026:24:00:00 +0000] "GET /t/acme/1.0/linux'
                  b' HTTP/1.1" 204 0\n',
                  b'203.0.113.9 - - [21/Aug/2026:14:00:00 +0000] "GET https://gw.example'
                  b'/t/acme/1.0/linux HTTP/1.1" 204 0\n']
    return lines


#: What a hostile client or a broken log may put inside a line.
_JUNK = [b"\r", b"\r\n", b"\x00", b"\xff", b"\xc3", "\U0010ffff".encode(), b"\xef\xbb\xbf",
         b"\\", b'"', b" ", b"\t", "\u00e9".encode(), b"\n", b"\x0b", b"\x1c", b"{", b"]"]


@settings(max_examples=30)
@given(fmt=st.sampled_from(["json", "combined"]),
       picks=st.lists(st.tuples(st.integers(0, 11),
                                st.lists(st.tuples(st.integers(0, 200), st.sampled_from(_JUNK)),
                                         max_size=2)), min_size=1, max_size=25),
       bom=st.booleans(), last_newline=st.booleans(), compressed=st.booleans(),
       block=st.sampled_from([1, 7, 64, 1 << 20]), piece=st.sampled_from([1, 300, 1 << 26]),
       cut=st.integers(0, 10_000))
def test_the_fast_path_stores_what_the_python_path_stores(
        fmt: str, picks: list[tuple[int, list[tuple[int, bytes]]]], bom: bool,
        last_newline: bool, compressed: bool, block: int, piece: int, cut: int) -> None:
    """The same rows (reporters under the same day keys), line counts, read positions and
    results, whatever the lines hold, however the log is cut into blocks and pieces, and
    as it grows (a second ingest reads the rest)."""
    choices = _hostile_lines(fmt)
    data = b"\xef\xbb\xbf" if bom else b""
    for number, junk in picks:
        line = choices[number % len(choices)]
        for at, bad in junk:
            at %= len(line)
            line = line[:at] + bad + line[at:]
        data += line
    if not last_newline:
        data = data.rstrip(b"\n")
    with tempfile.TemporaryDirectory() as name, pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "_BLOCK", block)
        patch.setattr(store, "_PIECE", piece)
        folder = Path(name)
        log = folder / ("access.log.gz" if compressed else "access.log")
        cut %= len(data) + 1
        for part in ([data] if compressed else [data[:cut], data]):
            log.write_bytes(gzip.compress(part) if compressed else part)
            slow, fast, pieces = _ingest_both(patch, folder, log, fmt)
            assert fast == slow
            assert _contents(folder / "fast.duckdb") == _contents(folder / "python.duckdb")
            if sum(fast[0].counts) and b"\r" not in part:
                assert pieces  # the comparison is with the fast path indeed


def test_the_fast_path_reads_the_common_logs_and_not_cloudfront(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """nginx's JSON lines and combined lines go through DuckDB; a CloudFront log (whose
    #Fields may change within a file) and a piece with a lone CR through Python."""
    rng = random.Random(11)
    json_log = tmp_path / "json.log"
    json_log.write_text("".join(random_lines(rng, 300)))
    (tmp_path / "json").mkdir()
    slow, fast, pieces = _ingest_both(monkeypatch, tmp_path / "json", json_log)
    assert pieces == 1 and fast == slow and fast[0].counts.matched > 100
    cr_log = tmp_path / "cr.log"
    raw_cr = beacon(22, 9, CLIENTS[0], "a\rb", "/t/acme/1.0/linux").replace("\\r", "\r")
    cr_log.write_bytes(json_log.read_bytes() + raw_cr.encode())
    (tmp_path / "cr").mkdir()
    slow, fast, pieces = _ingest_both(monkeypatch, tmp_path / "cr", cr_log)
    assert pieces == 0 and fast == slow
    assert _contents(tmp_path / "cr" / "fast.duckdb") == _contents(
        tmp_path / "cr" / "python.duckdb")
    cloudfront = tmp_path / "cf.log"
    cloudfront.write_text(
        "#Version: 1.0\n#Fields: date time c-ip cs(User-Agent) sc-status cs-uri-stem\n"
        "2026-08-21\t10:00:00\t198.51.100.4\tua\t200\t/t/acme/1.0/linux\n")
    (tmp_path / "cf").mkdir()
    slow, fast, pieces = _ingest_both(monkeypatch, tmp_path / "cf", cloudfront)
    assert pieces == 0 and fast == slow and fast[0].counts.matched == 1


def test_the_fast_path_holds_one_piece_at_a_time_and_leaves_no_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays flat in the log's size: each DuckDB pass reads a copy of at most
    about one piece of new lines, removed before the next is made and at the end."""
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(12), 2000)))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(store, "_PIECE", 20_000)
    monkeypatch.setattr(store, "_BLOCK", 4096)
    seen: list[tuple[int, list[str]]] = []
    real = store._ingest_piece

    def spy(*args: Any) -> None:
        seen.append((os.path.getsize(args[2]), sorted(os.listdir(scratch))))
        real(*args)

    monkeypatch.setattr(store, "_ingest_piece", spy)
    (result,) = ingest([log], tmp_path / "beacons.duckdb")
    assert result.new_lines == sum(1 for line in log.read_text().splitlines() if line.strip())
    assert len(seen) > 10
    for size, present in seen:
        # a piece ends at the first block that fills it: a block and a line over at most
        assert size <= 20_000 + 4096 + max(len(x) for x in log.read_bytes().split(b"\n")) + 2
        assert len(present) == 1  # this piece's copy only
    assert list(scratch.iterdir()) == []
    assert_same_stats(tmp_path / "beacons.duckdb", [log], queries=3, engines=("python",))


@pytest.mark.parametrize("template", ["<base>/<package>/<rowid>/<os>",
                                      "<base>/<package>/<version>/<client>"])
def test_fields_named_like_columns_store_the_same_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str) -> None:
    """A field named like a column of DuckDB's (rowid) or of the query's (client, which
    the query refuses: the Python path reads it) changes nothing in the store."""
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(13), 400)))
    slow, fast, pieces = _ingest_both(monkeypatch, tmp_path, log, template=template)
    assert fast == slow and fast[0].counts.matched > 100
    assert pieces == (0 if "<client>" in template else 1)
    assert _contents(tmp_path / "fast.duckdb") == _contents(tmp_path / "python.duckdb")


def test_a_run_stopped_between_pieces_keeps_them_and_the_next_reads_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each piece is committed with the place it ends at: a run that fails midway keeps
    its whole pieces, and the next run reads the rest, so every line counts once."""
    log = tmp_path / "access.log"
    log.write_text("".join(random_lines(random.Random(14), 1500)))
    monkeypatch.setattr(store, "_PIECE", 40_000)
    monkeypatch.setattr(store, "_BLOCK", 4096)
    real = store._ingest_piece
    calls: list[str] = []

    def failing(*args: Any) -> None:
        calls.append(args[2])
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(*args)

    monkeypatch.setattr(store, "_ingest_piece", failing)
    db = tmp_path / "fast.duckdb"
    with pytest.raises(OSError):
        ingest([log], db)
    with store.Store.open(str(db)) as opened:
        kept = opened.counts()
        read_to = opened.connection.execute("SELECT read_to FROM sources").fetchall()
    assert 0 < sum(kept) < 1500 and 0 < read_to[0][0] < log.stat().st_size
    monkeypatch.setattr(store, "_ingest_piece", real)
    (rest,) = ingest([log], db)
    assert rest.resumed and sum(kept) + rest.new_lines == sum(
        1 for line in log.read_text().splitlines() if line.strip())
    assert_same_stats(db, [log], queries=4, engines=("python",))
