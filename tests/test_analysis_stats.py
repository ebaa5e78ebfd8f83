"""stats: reporter-days, periods, since/until, the k fold, order, and validation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pathbeacon.analysis import stats
from pathbeacon.analysis.stats import StatsQuery, period_start

from .logs import Hit, write_log

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
        beacon("1.0", client="192.0.2.1", agent="other/1", time=DAY),  # other agent: other
        beacon("1.0", client="192.0.2.2", time=DAY),
        beacon("1.1", client="192.0.2.2", time=DAY, status=404),  # not matched
    ]
    result = run(tmp_path, hits)
    assert result == {
        "lines": {"matched": 5, "bad_status": 1, "other_path": 0, "malformed": 0},
        "rows": [{"version": "1.0", "events": 5, "reporters": 4}],
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
    # a fold that is itself below k is dropped
    assert run(tmp_path, hits[:5] + hits[9:], k=2)["rows"] == [
        {"version": "1.0", "events": 5, "reporters": 5}]
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

    hits = [beacon("1.0" if i % 3 else f"2.{i % 4}", ("linux", "mac")[i % 2],
                   client=f"192.0.2.{i % 5}", time=DAY + timedelta(minutes=20 * i))
            for i in range(300)]
    queries = [{"k": 1}, {"k": 23}, {"k": 3, "every": "day"}, {"k": 12, "by": ["os"]}]
    before = [run(tmp_path, hits, **dict(q)) for q in queries]
    monkeypatch.setattr(engine, "SPILL_AFTER", 5)
    assert [run(tmp_path, hits, **dict(q)) for q in queries] == before
    # the 2.x versions fold, and their reporters are counted over the union, not summed
    small = [r for r in before[0]["rows"] if r["version"].startswith("2.")]
    other = [r for r in before[1]["rows"] if r["version"] == "other"]
    assert len(small) == 4 and len(other) == 1
    assert other[0]["events"] == sum(r["events"] for r in small)
    assert other[0]["reporters"] < sum(r["reporters"] for r in small)
