"""The ingest store, with real files and a real DuckDB: idempotent, growing and rotated logs."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathbeacon.analysis import stats as log_stats
from pathbeacon.analysis import store

pytest.importorskip("duckdb", reason="the analysis extra (pip install '.[analysis]')")

from . import logs
from .conftest import run_cli

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


def test_the_store_holds_no_client_address_nor_user_agent(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    db = tmp_path / "beacons.duckdb"
    log.write_text("".join(random_lines(random.Random(5), 300)))
    now = datetime.now(timezone.utc).date()
    leftovers = set(Path(tempfile.gettempdir()).glob("pathbeacon-ingest-*"))
    ingest([log], db, today=now)
    assert set(Path(tempfile.gettempdir()).glob("pathbeacon-ingest-*")) == leftovers
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
