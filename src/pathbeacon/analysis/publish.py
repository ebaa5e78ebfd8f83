"""``publish``: a folder of counts a maintainer can put on any static host.

From an ingest store, :func:`publish` writes

- ``index.html``: the dashboard (:mod:`~pathbeacon.analysis.dashboard`);
- ``api/v1/counts-30d.json``, ``-90d``, ``-365d``: each field's counts over the last 30, 90
  and 365 days, in the shape of formulae.brew.sh's analytics JSON (``total_count``,
  ``start_date``, ``end_date``, ``items`` of ``number``, the value, ``count`` and
  ``percent`` as text), with ``"schema": "pathbeacon-counts/1"``;
- ``badge.svg`` and ``badge.json`` (a shields.io endpoint): reporters in the last 7 days.

Every named value passed the same k rule as ``stats --k``, as ``stats`` computed it; what no
named value holds is one ``other / under k`` item, so shares are over all events. No client
address is in the store, so none can be here. The days are the store's own (the window ends
on its last day), so the same store always gives the same bytes.

    >>> _short(999), _short(1234), _short(12_345_678)
    ('999', '1.2k', '12.3M')
"""

from __future__ import annotations

import html
import json
import os
from datetime import date, timedelta
from typing import Any

from ..files import AtomicFile
from . import dashboard
from .stats import OTHER, StatsQuery

__all__ = ["SCHEMA", "WINDOWS", "publish"]

#: The ``schema`` of the count files; a change that breaks a reader gets a new number.
SCHEMA = "pathbeacon-counts/1"
#: The windows (days) of the count files.
WINDOWS = (30, 90, 365)
#: The badge counts reporters over this many days.
BADGE_DAYS = 7


def _short(n: int) -> str:
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1000, "k")):
        if n >= size:
            text = f"{n / size:.1f}"
            return (text[:-2] if text.endswith(".0") else text) + unit
    return str(n)


def _window(store: Any, fields: list[str], last: date, days: int, k: int) -> dict[str, Any]:
    since = last - timedelta(days=days - 1)
    until = last + timedelta(days=1)

    def ask(by: list[str], kk: int) -> dict[str, Any]:
        result: dict[str, Any] = store.stats(StatsQuery.make(
            store.template.fields, by=by, since=since, until=until, k=kk))
        return result

    total_rows = ask([], 1)["rows"]
    total = sum(row["events"] for row in total_rows)
    reporters = total_rows[0]["reporters"] if total_rows else None
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "start_date": since.isoformat(),
        "end_date": last.isoformat(),
        "days": days,
        "k": k,
        "total_count": total,
        "total_reporters": reporters,
        "fields": {},
    }
    for name in fields:
        rows = ask([name], k)["rows"]
        named = [row for row in rows if row[name] != OTHER]
        if name == "version":
            named.sort(key=lambda row: dashboard.version_key(str(row[name])), reverse=True)
        rest = total - sum(row["events"] for row in named)
        items = []
        for number, row in enumerate(named, 1):
            items.append({"number": number, name: row[name], "count": f"{row['events']:,}",
                          "events": row["events"], "reporters": row["reporters"],
                          "percent": f"{100 * row['events'] / total:.2f}" if total else "0"})
        if rest > 0:
            items.append({"number": None, name: dashboard.UNDER_K, "count": f"{rest:,}",
                          "events": rest, "reporters": None,
                          "percent": f"{100 * rest / total:.2f}"})
        out["fields"][name] = {"total_items": len(named), "items": items}
    return out


def _badge_svg(label: str, message: str) -> str:
    # Widths from a rough 6.5 px per character of Verdana 11px (shields.io's flat style).
    left = 10 + int(6.5 * len(label))
    right = 10 + int(6.5 * len(message))
    width = left + right
    esc = html.escape
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{esc(label)}: {esc(message)}"><title>{esc(label)}: {esc(message)}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="#3b6ea8"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        'font-size="11">'
        f'<text x="{left / 2}" y="14">{esc(label)}</text>'
        f'<text x="{left + right / 2}" y="14">{esc(message)}</text></g></svg>\n'
    )


def _write(path: str, text: str) -> None:
    with AtomicFile(path) as out:
        out.write(text)


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=True, indent=2, sort_keys=False) + "\n"


def publish(db: str, folder: str, *, template: str | None = None, base: str | None = None,
            k: int = dashboard.DEFAULT_K, title: str | None = None,
            package: str | None = None) -> list[str]:
    """Write the published folder for the store ``db`` into ``folder`` (created when
    missing); return the paths written, in order."""
    from .store import Store

    dashboard.require()
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"--k takes a whole number of at least 1, not {k!r}")
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise ValueError(f"-o {folder}: not a folder")
    with Store.open(db, template, base) as store:
        data = dashboard.collect(store.template, dashboard.store_stats(store), k=k,
                                 title=title, base=base or store.base, package=package)
        fields = [f for f in store.template.fields if f != "base"]
        last = date.fromisoformat(data.last_day) if data.last_day else None
        windows = {days: _window(store, fields, last, days, k) for days in WINDOWS} \
            if last else {}
        week = _window(store, [], last, BADGE_DAYS, k) if last else None
    meta = {"package": package, "template": store.template.text}
    reporters = (week or {}).get("total_reporters") or 0
    label = "reporters/week"
    message = _short(reporters)
    files: list[tuple[str, str]] = [("index.html", dashboard.render(data))]
    for days in WINDOWS:
        body = windows.get(days) or {"schema": SCHEMA, "days": days, "k": k, "total_count": 0,
                                     "total_reporters": None, "start_date": None,
                                     "end_date": None, "fields": {}}
        files.append((os.path.join("api", "v1", f"counts-{days}d.json"),
                      _json({**meta, **body})))
    files.append(("badge.svg", _badge_svg(label, message)))
    files.append(("badge.json", _json({"schemaVersion": 1, "label": label,
                                       "message": message, "color": "3b6ea8"})))
    written = []
    try:
        os.makedirs(os.path.join(folder, "api", "v1"), exist_ok=True)
    except OSError as error:
        from ..errors import OutputError

        raise OutputError(folder, error.strerror or str(error)) from None
    for name, text in files:
        path = os.path.join(folder, name)
        _write(path, text)
        written.append(path)
    return written
