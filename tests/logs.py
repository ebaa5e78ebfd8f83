"""Write access logs the way real gateways write them, for the decoder's tests (every engine).

A :class:`Hit` is one request as a gateway saw it; :func:`write_log` writes hits as a log of
one *flavour* (a real server's layout) and :func:`expected_row` says what decoding gives
back for a hit that fits. Each flavour belongs to one decoder format (:data:`FORMAT_OF`).

    hits = [Hit("/t/acme/1.0/linux", client="192.0.2.7")]
    path = write_log(tmp_path / "access.log", "combined", hits)
"""

from __future__ import annotations

import gzip
import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

#: Decoder format of each flavour.
FORMAT_OF = {
    "combined": "combined",
    "common": "combined",
    "nginx-json": "json",
    "caddy": "json",
    "cloudflare": "json",
    "cloudfront": "cloudfront",
    "s3": "s3",
    "urls": "urls",
}
FLAVOURS = tuple(FORMAT_OF)
#: Flavours whose lines carry no client (so ``reporters`` is ``None``).
NO_CLIENT = frozenset({"urls"})
#: Flavours whose lines carry no time.
NO_TIME = frozenset({"urls"})

DEFAULT_TIME = datetime(2026, 8, 21, 12, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Hit:
    """One request: its target (path and query), status, UTC time, user agent, client."""

    target: str
    status: int = 204
    time: datetime = DEFAULT_TIME
    agent: str | None = "pathbeacon/1.0 (CPython 3.11; linux)"
    client: str = "192.0.2.1"
    method: str = "GET"


def iso(moment: datetime) -> str:
    """A UTC time as the decoder reports it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_row(flavour: str, hit: Hit, fields: dict[str, str]) -> dict[str, object]:
    """The decoded row of a matched ``hit`` written as ``flavour`` (fields: its values)."""
    return {
        "time": None if flavour in NO_TIME else iso(hit.time),
        "status": 200 if flavour == "urls" else hit.status,
        **fields,
    }


def nginx_escape(text: str) -> str:
    """Escape as nginx does in its default log: ``"``, ``\\``, control and non-ASCII bytes
    become ``\\xHH``."""
    out = []
    for byte in text.encode("utf-8", "surrogatepass"):
        if byte in (0x22, 0x5C) or byte < 0x20 or byte >= 0x7F:
            out.append(f"\\x{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clf_time(moment: datetime, offset_minutes: int) -> str:
    """``21/Aug/2026:14:00:00 +0200``: the UTC ``moment`` in a server's local offset."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return (
        f"{local.day:02d}/{_MONTHS[local.month - 1]}/{local.year:04d}:"
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {sign}{hours:02d}{minutes:02d}"
    )


def _combined(hit: Hit, i: int, common: bool = False) -> str:
    offset = (120, -330, 0, 345)[i % 4]  # +0200, -0530, +0000, +0545
    head = (
        f'{hit.client} - - [{clf_time(hit.time, offset)}] '
        f'"{hit.method} {nginx_escape(hit.target)} HTTP/1.1" {hit.status} {i % 7}'
    )
    if common:
        return head
    agent = "-" if hit.agent is None else nginx_escape(hit.agent)
    return f'{head} "https://example.org/r{i}" "{agent}"'


def _nginx_json(hit: Hit, i: int) -> str:
    local = hit.time.astimezone(timezone(timedelta(hours=2)))
    obj: dict[str, object] = {
        "time": local.isoformat(),  # $time_iso8601
        "request": f"{hit.method} {hit.target} HTTP/1.1" if i % 2 else None,
        "uri": None if i % 2 else hit.target,
        "status": str(hit.status) if i % 3 else hit.status,
        "agent": hit.agent or "",
        "client": hit.client,
    }
    return json.dumps({k: v for k, v in obj.items() if v is not None}, ensure_ascii=bool(i % 2))


def _caddy(hit: Hit, i: int) -> str:
    obj = {
        "level": "info",
        "ts": hit.time.timestamp() + 0.123456,
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": {
            "remote_ip": hit.client,
            "remote_port": str(40000 + i),
            "client_ip": hit.client,
            "proto": "HTTP/1.1",
            "method": hit.method,
            "host": "gateway.example",
            "uri": hit.target,
            "headers": {"User-Agent": [hit.agent] if hit.agent else [], "Accept": ["*/*"]},
        },
        "bytes_read": 0,
        "user_id": "",
        "duration": 0.000211,
        "size": 0,
        "status": hit.status,
        "resp_headers": {"Server": ["Caddy"]},
    }
    return json.dumps(obj)


def _cloudflare(hit: Hit, i: int) -> str:
    seconds = int(hit.time.timestamp())
    stamps: tuple[object, ...] = (
        iso(hit.time), seconds, seconds * 10**9 + 123, seconds * 1000 + 7,
        hit.time.strftime("%Y-%m-%dT%H:%M:%S.123Z"),
    )
    obj = {
        "ClientIP": hit.client,
        "ClientRequestHost": "gateway.example",
        "ClientRequestMethod": hit.method,
        "ClientRequestURI": hit.target,
        "ClientRequestUserAgent": hit.agent or "",
        "EdgeResponseStatus": hit.status,
        "EdgeStartTimestamp": stamps[i % len(stamps)],
        "RayID": f"{i:016x}",
    }
    return json.dumps(obj)


#: The ``#Fields:`` line CloudFront writes (33 fields).
CLOUDFRONT_HEADER = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end"
)
CLOUDFRONT_FIELDS = CLOUDFRONT_HEADER.split()


def _cloudfront(hit: Hit, i: int) -> str:
    stem, _, query = hit.target.partition("?")
    moment = hit.time.astimezone(timezone.utc)
    values = {
        "date": moment.strftime("%Y-%m-%d"),
        "time": moment.strftime("%H:%M:%S"),
        "x-edge-location": "FRA56-P1",
        "sc-bytes": "431",
        "c-ip": hit.client,
        "cs-method": hit.method,
        "cs(Host)": "d111111abcdef8.cloudfront.net",
        "cs-uri-stem": stem,
        "sc-status": str(hit.status),
        "cs(Referer)": "-",
        # CloudFront writes the agent URL-encoded.
        "cs(User-Agent)": urllib.parse.quote(hit.agent, safe="/;:()") if hit.agent else "-",
        "cs-uri-query": query or "-",
        "x-edge-request-id": f"req{i}",
    }
    return "\t".join(values.get(name, "-") for name in CLOUDFRONT_FIELDS)


def _s3(hit: Hit, i: int) -> str:
    agent = "-" if hit.agent is None else f'"{nginx_escape(hit.agent)}"'
    key = hit.target.partition("?")[0].lstrip("/") or "-"
    return (
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 "
        f"[{clf_time(hit.time, 0)}] {hit.client} "
        "arn:aws:iam::123456789012:user/alice 3E57427F3EXAMPLE REST.GET.OBJECT "
        f'{key} "{hit.method} {nginx_escape(hit.target)} HTTP/1.1" {hit.status} - 0 0 {i % 50} - '
        f'"-" {agent} - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234='
        " SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com"
        " TLSV1.2 - -"
    )


def _urls(hit: Hit, i: int) -> str:
    return f"https://gateway.example{hit.target}" if i % 2 else hit.target


def lines(flavour: str, hits: Sequence[Hit]) -> list[str]:
    """The lines (headers included) of a log of ``flavour`` holding ``hits``, in order."""
    if flavour not in FORMAT_OF:
        raise ValueError(flavour)
    out: list[str] = []
    if flavour == "cloudfront":
        out += ["#Version: 1.0", "#Fields: " + " ".join(CLOUDFRONT_FIELDS)]
    for i, hit in enumerate(hits):
        if flavour in ("combined", "common"):
            out.append(_combined(hit, i, common=flavour == "common"))
        elif flavour == "nginx-json":
            out.append(_nginx_json(hit, i))
        elif flavour == "caddy":
            out.append(_caddy(hit, i))
        elif flavour == "cloudflare":
            out.append(_cloudflare(hit, i))
        elif flavour == "cloudfront":
            out.append(_cloudfront(hit, i))
        elif flavour == "s3":
            out.append(_s3(hit, i))
        else:
            out.append(_urls(hit, i))
    return out


def write_log(path: Path | str, flavour: str, hits: Sequence[Hit], *, gz: bool = False,
              extra_lines: Sequence[str | bytes] = ()) -> Path:
    """Write ``hits`` (then ``extra_lines`` as they are, bytes or text) as a log of
    ``flavour``; gzip it when ``gz``. Returns the path."""
    path = Path(path)
    data = b"".join(
        (line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")) + b"\n"
        for line in [*lines(flavour, hits), *extra_lines]
    )
    path.write_bytes(gzip.compress(data) if gz else data)
    return path
