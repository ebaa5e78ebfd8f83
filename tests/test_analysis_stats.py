"""stats: reporter-days, periods, since/until, the k fold, order, and validation."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pathbeacon.analysis import stats
from pathbeacon.analysis.engines import get
from pathbeacon.analysis.stats import StatsQuery, address_key, address_sql, period_start

from .logs import Hit, write_log
from .test_analysis_engines import HAVE_SPARK, SPARK_REASON, spark  # noqa: F401 - a fixture

T = "<base>/<package>/<version>/<os>"
DAY = datetime(2026, 8, 21, 10, 0, tzinfo=timezone.utc)  # a Friday


def run(tmp_path: Path, hits: list[Hit], flavour: str = "combined", **kw):
    log = write_log(tmp_path / f"{flavour}.log", flavour, hits)
    return stats(T, [str(log)], kw.pop("by", ["version"]), engine="python", **kw)


def beacon(version: str, os: str = "linux", **kw) -> Hit:
    return Hit(f"/t/acme/{version}/{os}", **kw)


def test_reporters_are_reporter_days(tmp_path: Path) -> None:
    hits = [
        beacon("1.0", client="192.0.2.1", time=DAY),
        beacon("1.0", client="192.0.2.1", time=DAY + timedelta(hours=5)),  # same day: same
        beacon("1.0", client="192.0.2.1", time=DAY + timedelta(days=1)),  # next day: again
        beacon("1.0", client="192.0.2.1", agent="other/1", time=DAY),  # other agent: same
        beacon("1.0", client="192.0.2.2", time=DAY),
        beacon("1.1", client="192.0.2.2", time=DAY, status=404),  # not matched
    ]
    result = run(tmp_path, hits)
    assert result == {
        "lines": {"matched": 5, "bad_status": 1, "other_path": 0, "malformed": 0},
        "rows": [{"version": "1.0", "events": 5, "reporters": 3}],
    }


def test_offsets_decide_the_utc_day(tmp_path: Path) -> None:
    # 23:30 UTC written with +0200 is already the next local day; stats use the UTC day
    late = datetime(2026, 8, 21, 23, 30, tzinfo=timezone.utc)
    result = run(tmp_path, [beacon("1.0", time=late), beacon("1.0", time=late + timedelta(hours=1))],
                 every="day")
    assert [(r["period"], r["events"], r["reporters"]) for r in result["rows"]] == [
        ("2026-08-21", 1, 1), ("2026-08-22", 1, 1)]


@pytest.mark.parametrize("every, periods", [
    ("day", ["2026-08-21", "2026-08-22", "2026-08-24", "2026-09-01"]),
    ("week", ["2026-08-17", "2026-08-24", "2026-08-31"]),
    ("month", ["2026-08-01", "2026-09-01"]),
])
def test_periods_start_on_their_first_day(tmp_path: Path, every: str, periods: list[str]) -> None:
    days = [DAY, DAY + timedelta(days=1), DAY + timedelta(days=3), DAY + timedelta(days=11)]
    result = run(tmp_path, [beacon("1.0", time=d) for d in days], every=every)
    assert sorted(r["period"] for r in result["rows"]) == periods
    assert list(result["rows"][0]) == ["period", "version", "events", "reporters"]


def test_period_start() -> None:
    assert period_start("2026-01-01", "week") == "2025-12-29"  # ISO week, Monday
    assert period_start("2026-08-23", "week") == "2026-08-17"  # a Sunday
    assert period_start("2026-08-24", "week") == "2026-08-24"


def test_since_is_inclusive_and_until_exclusive(tmp_path: Path) -> None:
    days = [DAY + timedelta(days=i) for i in range(5)]  # 21..25 August
    result = run(tmp_path, [beacon("1.0", time=d) for d in days],
                 since="2026-08-22", until="2026-08-24")
    assert result["rows"] == [{"version": "1.0", "events": 2, "reporters": 2}]
    assert result["lines"]["matched"] == 5  # line counts ignore the window


def test_lines_without_time_or_client(tmp_path: Path) -> None:
    hits = [beacon("1.0"), beacon("1.0"), beacon("2.0")]
    assert run(tmp_path, hits, "urls")["rows"] == [
        {"version": "1.0", "events": 2, "reporters": None},
        {"version": "2.0", "events": 1, "reporters": None},
    ]
    # no time: left out once a window or period is asked for
    assert run(tmp_path, hits, "urls", since="2026-01-01")["rows"] == []
    assert run(tmp_path, hits, "urls", every="month")["rows"] == []


def test_k_folds_small_groups_into_other(tmp_path: Path) -> None:
    hits = (
        [beacon("1.0", client=f"192.0.2.{i}") for i in range(5)]
        + [beacon("1.1", client="192.0.2.1"), beacon("1.1", client="192.0.2.1")]
        + [beacon("1.2", client="192.0.2.1"), beacon("1.3", client="192.0.2.9")]
        + [beacon("0.9", client="192.0.2.7")]
    )
    result = run(tmp_path, hits, k=2)
    # 1.1, 1.2, 1.3 and 0.9 fold: 5 events, reporters over the union (.1, .9, .7) = 3
    assert result["rows"] == [
        {"version": "1.0", "events": 5, "reporters": 5},
        {"version": "other", "events": 5, "reporters": 3},
    ]
    # a fold below k takes in the smallest shown group (so nothing is left to subtract);
    # a fold below k with nothing to take in is dropped
    assert run(tmp_path, hits[:5] + hits[9:], k=2)["rows"] == [
        {"version": "other", "events": 6, "reporters": 6}]
    assert run(tmp_path, hits[9:], k=2)["rows"] == []
    # events stand in for reporters when the format has none
    assert run(tmp_path, hits, "urls", k=3)["rows"] == [
        {"version": "1.0", "events": 5, "reporters": None},
        {"version": "other", "events": 5, "reporters": None},
    ]


def test_k_folds_per_period_and_a_real_other_joins_the_fold(tmp_path: Path) -> None:
    hits = [
        beacon("1.0", client="192.0.2.1", time=DAY),
        beacon("1.0", client="192.0.2.2", time=DAY),
        beacon("other", client="192.0.2.3", time=DAY),
        beacon("other", client="192.0.2.4", time=DAY),
        beacon("1.1", client="192.0.2.1", time=DAY + timedelta(days=1)),
    ]
    result = run(tmp_path, hits, every="day", k=2)
    assert result["rows"] == [
        {"period": "2026-08-21", "version": "1.0", "events": 2, "reporters": 2},
        {"period": "2026-08-21", "version": "other", "events": 2, "reporters": 2},
    ]
    one = run(tmp_path, hits, every="day")  # k=1: "other" stays one row, nothing dropped
    assert sum(r["events"] for r in one["rows"]) == 5 and len(one["rows"]) == 3


def test_order_is_events_then_values(tmp_path: Path) -> None:
    hits = [beacon(v, os) for v, os in
            [("2.0", "linux"), ("1.0", "mac"), ("1.0", "linux"), ("1.0", "linux"), ("10", "aix")]]
    rows = run(tmp_path, hits, by=["version", "os"])["rows"]
    assert [(r["version"], r["os"], r["events"]) for r in rows] == [
        ("1.0", "linux", 2), ("1.0", "mac", 1), ("10", "aix", 1), ("2.0", "linux", 1)]
    total = run(tmp_path, hits, by=[])["rows"]
    assert total == [{"events": 5, "reporters": 1}]


@pytest.mark.parametrize("kw, message", [
    ({"by": ["arch"]}, "--by arch: the template has no field 'arch'"),
    ({"by": ["base"]}, "no field 'base'"),
    ({"by": ["os", "os"]}, "twice"),
    ({"every": "year"}, "--every takes day, week or month"),
    ({"since": "2026-13-01"}, "--since: '2026-13-01' is not a real date"),
    ({"until": "21.08.2026"}, "--until takes a date as YYYY-MM-DD"),
    ({"k": 0}, "--k takes a whole number"),
])
def test_bad_queries(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StatsQuery.make(("base", "package", "version", "os"), **kw)


def test_reporter_days_spilled_to_disk_count_the_same(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from pathbeacon.analysis.engines import python as engine

    # 1.0 from 40 addresses, each 2.x from one (two for all 2.x together), over 5 days
    hits = [beacon("1.0" if i % 3 else f"2.{i % 4}", ("linux", "mac")[i % 2],
                   client=f"192.0.2.{i % 40}" if i % 3 else f"198.51.100.{i % 6}",
                   time=DAY + timedelta(minutes=20 * i))
            for i in range(300)]
    queries = [{"k": 1}, {"k": 2}, {"k": 3, "every": "day"}, {"k": 12, "by": ["os"]}]
    before = [run(tmp_path, hits, **dict(q)) for q in queries]
    monkeypatch.setattr(engine, "SPILL_AFTER", 5)
    assert [run(tmp_path, hits, **dict(q)) for q in queries] == before
    # the 2.x versions fold, and their reporters are counted over the union, not summed
    small = [r for r in before[0]["rows"] if r["version"].startswith("2.")]
    other = [r for r in before[1]["rows"] if r["version"] == "other"]
    assert len(small) == 4 and len(other) == 1
    assert other[0]["events"] == sum(r["events"] for r in small)
    assert other[0]["reporters"] < sum(r["reporters"] for r in small)


# ---- k counts machines (issue 13, item 3) -----------------------------------------------

ENGINES = ["python", "duckdb"] + (["spark"] if HAVE_SPARK else [])


def every_engine(tmp_path: Path, hits: list[Hit], request: pytest.FixtureRequest,
                 **kw: Any) -> dict[str, Any]:
    """The stats of every installed engine, checked to agree; the python engine's."""
    log = write_log(tmp_path / "k.log", "combined", hits)
    by = kw.pop("by", ["version"])
    results = {}
    for name in ENGINES:
        engine: Any = name
        if name == "spark":
            engine = get("spark", session=request.getfixturevalue("spark"))
        results[name] = stats(T, [str(log)], by, engine=engine, **kw)
    for name, result in results.items():
        assert result == results["python"], name
    return results["python"]


def crowd(version: str, size: int, day: datetime = DAY) -> list[Hit]:
    """``size`` machines of their own on one day."""
    return [beacon(version, client=f"198.51.100.{i}", time=day) for i in range(size)]


def test_one_client_on_k_days_is_one_machine(tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    internal = [beacon("1.0-acmecorp-internal", client="192.0.2.50", time=DAY + timedelta(days=d))
                for d in range(5)]
    result = every_engine(tmp_path, crowd("1.0", 6) + crowd("1.1", 5) + internal, request, k=5)
    assert all(r["version"] != "1.0-acmecorp-internal" for r in result["rows"])
    # the six-machine version is shown; the one machine's group is only in "other"
    assert result["rows"] == [{"version": "other", "events": 10, "reporters": 10},
                              {"version": "1.0", "events": 6, "reporters": 6}]


def test_one_client_with_k_agents_in_a_day_is_one_machine(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    internal = [beacon("1.0-acmecorp-internal", client="192.0.2.50", agent=f"agent/{i}")
                for i in range(5)]
    result = every_engine(tmp_path, crowd("1.0", 6) + internal, request, k=5)
    assert all(r["version"] != "1.0-acmecorp-internal" for r in result["rows"])
    # nor do the agents count as reporters: one address on one day is one reporter-day
    assert every_engine(tmp_path, internal, request)["rows"] == [
        {"version": "1.0-acmecorp-internal", "events": 5, "reporters": 1}]


def test_one_ipv6_host_is_one_machine_across_its_64(tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    addresses = ["2001:db8:1:2::1", "2001:DB8:1:2:aaaa::5", "2001:0db8:0001:0002:1:2:3:4",
                 "2001:db8:1:2::ffff:7", "2001:db8:1:2:3:4:192.0.2.1"]
    host = [beacon("2.0-lab", client=address) for address in addresses]
    mapped = [beacon("3.0", client="::ffff:192.0.2.9"), beacon("3.0", client="192.0.2.9")]
    result = every_engine(tmp_path, crowd("1.0", 5) + host + mapped, request, k=5)
    assert [r["version"] for r in result["rows"]] == ["other"]  # no 2.0-lab, no 3.0
    rows = every_engine(tmp_path, host + mapped, request)["rows"]
    assert {r["version"]: r["reporters"] for r in rows} == {"2.0-lab": 1, "3.0": 1}
    # other networks are other machines
    others = [beacon("4.0", client=f"2001:db8:{i}::1") for i in range(5)]
    assert every_engine(tmp_path, others, request, k=5)["rows"] == [
        {"version": "4.0", "events": 5, "reporters": 5}]


def test_shown_rows_leave_nothing_to_subtract(tmp_path: Path,
                                              request: pytest.FixtureRequest) -> None:
    # 1.0 has 6 machines, 1.1 one: folding 1.1 alone would leave a row-less remainder of
    # exactly its size (matched 7 - shown 6), so 1.0 joins the fold and all 7 are "other"
    hits = [*crowd("1.0", 6), beacon("1.1", client="192.0.2.77")]
    result = every_engine(tmp_path, hits, request, k=5)
    assert result["rows"] == [{"version": "other", "events": 7, "reporters": 7}]
    assert sum(r["events"] for r in result["rows"]) == result["lines"]["matched"]
    # with two large groups, the smaller one joins the fold, the larger stays by name
    hits = crowd("1.0", 8) + crowd("1.2", 6) + [beacon("1.1", client="192.0.2.77")]
    result = every_engine(tmp_path, hits, request, k=5)
    assert result["rows"] == [{"version": "1.0", "events": 8, "reporters": 8},
                              {"version": "other", "events": 7, "reporters": 7}]
    # per period: a day whose groups are all below k shows nothing at all
    late = crowd("1.0", 2, DAY + timedelta(days=1))
    result = every_engine(tmp_path, hits + late, request, k=5, every="day")
    assert [(r["period"], r["version"]) for r in result["rows"]] == [
        ("2026-08-21", "1.0"), ("2026-08-21", "other")]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["1.0", "1.1", "2.0", "other"]),
                       st.integers(0, 7), st.integers(0, 3), st.integers(0, 9),
                       st.integers(0, 2)),
             min_size=1, max_size=50),
    st.integers(1, 6),
    st.sampled_from([None, "day", "week"]),
)
# 1.0 is shown on day 1 (two addresses) and pooled into day 0's "other" with 1.1
@example([("1.0", 0, 0, 0, 0)] * 18 + [("1.0", 0, 1, 0, 0), ("1.0", 1, 1, 0, 0),
                                        ("1.1", 1, 0, 0, 0)], 2, "day")
def test_k_is_a_lower_bound_on_addresses_a_day(hits: list, k: int, every: str | None) -> None:
    """Every shown row is backed by k addresses on one day; a period's rows add up to all
    its events or are absent; the python engine's answer, checked against the log itself."""
    log_hits = [beacon(v, client=f"192.0.2.{client}", agent=f"a/{agent}",
                       time=DAY + timedelta(days=day)) for v, client, day, agent, _ in hits]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_log(Path(tmp) / "a.log", "combined", log_hits)
        rows = stats(T, [str(path)], ["version"], every=every, k=k, engine="python")["rows"]

    def period(day: int) -> str | None:
        return None if every is None else period_start(
            (DAY + timedelta(days=day)).date().isoformat(), every)

    # groups fold per period: a version shown in one period may be in another's "other"
    shown = {(r.get("period"), r["version"]) for r in rows if r["version"] != "other"}
    for row in rows:
        when = row.get("period")
        lines = [h for h in hits if period(h[2]) == when
                 and (h[0] == row["version"] or (row["version"] == "other"
                                                 and (when, h[0]) not in shown))]
        assert row["events"] == len(lines)
        most = max(len({h[1] for h in lines if h[2] == day}) for day in {h[2] for h in lines})
        assert most >= k, row
    for when in {period(h[2]) for h in hits}:
        total = sum(r["events"] for r in rows if r.get("period") == when)
        assert total in (0, sum(1 for h in hits if period(h[2]) == when))


CLIENTS = ["192.0.2.1", "::1", "::", "2001:db8::", "2001:DB8::1", "::ffff:192.0.2.1",
           "::FFFF:1.2.3.4", "::ffff:1:2", "1::2::3", ":::", "1:2", "fe80::1%eth0",
           "2001:db8:0:0:1::", "1:2:3:4:5:6:7:8:9", "0000:00:0::0.0.0.0", "x:y", "é:1",
           "2001:db8::1\n", "", ":", "::.", "1.2.3.4:80", "0:0:0:0:0:ffff:1.2.3.4"]
CLIENT_TEXT = st.one_of(st.sampled_from(CLIENTS), st.text("0123456789abcdefABCDEF:.", max_size=24),
                        st.text(max_size=12))


@settings(max_examples=60, deadline=None)
@given(st.lists(CLIENT_TEXT, min_size=1, max_size=40))
def test_address_rule_is_the_same_in_duckdb(clients: list[str]) -> None:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.execute("CREATE TABLE c (i INTEGER, client VARCHAR)")
    con.executemany("INSERT INTO c VALUES (?, ?)", list(enumerate(clients)))
    got = dict(con.execute(f"SELECT i, {address_sql('client', 'duckdb')} FROM c").fetchall())
    assert [got[i] for i in range(len(clients))] == [address_key(c) for c in clients]


@pytest.mark.slow
def test_address_rule_is_the_same_in_spark(request: pytest.FixtureRequest) -> None:
    if not HAVE_SPARK:
        pytest.skip(SPARK_REASON)
    session = request.getfixturevalue("spark")
    frame = session.createDataFrame(list(enumerate(CLIENTS)), "i INT, client STRING")
    got = dict(frame.selectExpr("i", address_sql("client", "spark")).collect())
    assert [got[i] for i in range(len(CLIENTS))] == [address_key(c) for c in CLIENTS]
