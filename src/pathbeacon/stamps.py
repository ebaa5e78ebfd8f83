"""``report_once(..., interval=...)``: when this machine last delivered a report, per key.

One tiny file per key under the user's cache folder holds one time stamp (seconds since the
epoch, as text), and nothing else; its name is a hash of the key. It is read with one
``os.read`` of a few bytes on the caller's thread, and written by the worker only after a
delivery, atomically (a temporary file, then ``os.replace``), so it is never torn.

Before sending, the worker claims the interval: an exclusive create of ``<state>.claim``
(holding when the claim goes stale and a random token, nothing else), which exactly one of
any number of racing processes wins; the others are ``skipped``. The winner removes it
after the delivery (after writing the stamp) or after a failure (so the next run tries
again); a claim whose process died goes stale once the attempt's whole deadline has passed.
Nothing here raises: a folder that cannot be read or written, or a file that makes no sense,
reads as "no recent report".

    >>> seconds("12h"), seconds(90)
    (43200.0, 90.0)
    >>> print(seconds("soon"))
    interval must be a number of seconds above 0 or text like '1d', '12h', '30m', '45s', not 'soon'
    >>> file_name(("<base>/<os>", "acme")) == file_name(("<base>/<os>", "acme"))
    True

Kept free of imports beyond ``os`` and pathbeacon's lean ``files`` and ``optout``: it runs
on the host's importing thread.
"""

import os

__all__ = ["CACHE_DIR", "claim", "file_name", "folder", "is_recent", "record", "release",
           "seconds"]

#: Overrides the folder the state files live in.
CACHE_DIR = "PATHBEACON_CACHE_DIR"
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# A stamp this far in the future (a clock set back since) is ignored rather than trusted.
_SKEW = 60.0
_READ = 64  # bytes: a stamp is about 20, a claim about 40
CLAIM = ".claim"  # the claim file is the state file's name plus this


def seconds(value: object) -> "float | str":
    """``value`` in seconds, or a message naming what is wrong with it."""
    problem = (
        "interval must be a number of seconds above 0 or text like '1d', '12h', '30m', "
        f"'45s', not {value!r}"
    )
    if isinstance(value, bool):
        return problem
    if isinstance(value, (int, float)):
        number, unit = float(value), 1.0
    elif isinstance(value, str):  # digits, an optional ".digits", an optional unit
        text = value.strip()
        unit = UNITS.get(text[-1:], 0.0)
        digits = (text[:-1] if unit else text).strip()
        whole, _, part = digits.partition(".")
        if not (whole.isdigit() and whole.isascii() and ((part.isdigit() and part.isascii())
                                                         or "." not in digits)):
            return problem
        number, unit = float(digits), unit or 1.0
    else:
        return problem
    total = number * unit
    if not 0 < total < float("inf"):  # also NaN
        return problem
    return total


def folder() -> "str | None":
    """The folder for state files: ``PATHBEACON_CACHE_DIR``, else the user's cache folder's
    ``pathbeacon`` (``%LOCALAPPDATA%``, ``~/Library/Caches``, ``$XDG_CACHE_HOME`` or
    ``~/.cache``); ``None`` when none can be named."""
    from pathbeacon.optout import user_folder

    return user_folder("cache", CACHE_DIR)


def file_name(key: object) -> str:
    """A stable file name for ``key`` (FNV-1a, 64 bits, of its ``repr``): no hashlib to
    import, and a collision would cost one skipped report, nothing more."""
    digest = 0xCBF29CE484222325
    for byte in repr(key).encode("utf-8", "backslashreplace"):
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"last-{digest:016x}"


def is_recent(path: str, interval: float, now: float) -> bool:
    """Whether ``path`` holds a stamp less than ``interval`` seconds before ``now``. Opened
    through :mod:`pathbeacon.files`, so a FIFO, device or huge file planted there reads as
    "no recent report" at once instead of blocking the caller."""
    from pathbeacon import files

    try:
        raw = files.read(path, _READ)
        if raw is None:
            return False
        stamp = float(raw.decode("ascii"))
    except (OSError, ValueError):  # unsafe, unreadable or corrupt: as if never sent
        return False
    return now - interval < stamp <= now + _SKEW


def record(path: str, now: float) -> bool:
    """Write ``now`` into ``path`` atomically; ``False`` (never an exception) on failure."""
    from pathbeacon import files

    try:
        files.replace(path, f"{now:.3f}\n".encode("ascii"))
        return True
    except (OSError, ValueError):
        return False


def claim(path: str, interval: float, now: float, hold: float) -> "tuple[str | None, str]":
    """Claim the interval of the state file ``path`` for ``hold`` seconds, before sending.

    ``(token, "")`` when this process won the claim (give the token to :func:`release`);
    ``(None, why)`` when another process delivered within ``interval`` or holds a live
    claim; ``("", why)`` when no claim can be made here (an unusable folder): send anyway,
    as if there were no interval.

        >>> import os, tempfile
        >>> state = os.path.join(tempfile.mkdtemp(), "last-doc")
        >>> token, _ = claim(state, 3600, 1000.0, 30)
        >>> claim(state, 3600, 1001.0, 30)
        (None, 'another process is sending this report now')
        >>> release(state, token); claim(state, 3600, 1002.0, 30)[0] != token
        True
    """
    from pathbeacon import files

    token = f"{now + hold:.3f} {os.urandom(6).hex()}"  # when it goes stale; whose it is
    data = (token + "\n").encode("ascii")
    where = path + CLAIM
    for _ in range(2):
        try:
            won = files.create(where, data)
        except (OSError, ValueError) as error:
            return "", f"cannot claim the interval: {error}"
        if won:
            if is_recent(path, interval, now):  # delivered and released since our look
                release(path, token)
                return None, _RECENT
            return token, ""
        if _live(where, now, hold):
            return None, "another process is sending this report now"
        if not _clear(where, now, hold):
            return None, "another process is sending this report now"
    return None, "another process is sending this report now"


_RECENT = "delivered from this machine within the interval"


def _expiry(raw: "bytes | None") -> float:
    try:
        return float((raw or b"").split()[0].decode("ascii"))
    except (IndexError, ValueError, UnicodeDecodeError):
        return 0.0  # corrupt: stale


def _live(where: str, now: float, hold: float) -> bool:
    """Whether the claim at ``where`` is another process's, still within its deadline (a
    deadline further away than any claim could set is a clock set back: stale)."""
    from pathbeacon import files

    try:
        expires = _expiry(files.read(where, _READ))
    except OSError:  # a FIFO, a folder, a huge file: nobody's claim
        return False
    return now < expires <= now + hold + _SKEW


def _clear(where: str, now: float, hold: float) -> bool:
    """Move a stale claim out of the way; ``False`` if it turned out to be live (another
    process renewed it meanwhile) or cannot be moved. Renaming is atomic: of two processes
    clearing the same stale claim, one moves it, the other finds nothing to move."""
    aside = f"{where}.{os.urandom(6).hex()}.stale"
    try:
        os.rename(where, aside)
    except FileNotFoundError:
        return True  # cleared by another process: try to claim again
    except OSError:
        return False
    if _live(aside, now, hold):  # a fresh claim took the stale one's place: put it back
        try:
            os.link(aside, where)
        except OSError:
            pass
    try:
        if os.path.isdir(aside) and not os.path.islink(aside):
            os.rmdir(aside)
        else:
            os.unlink(aside)
    except OSError:
        pass
    return not os.path.lexists(where) or not _live(where, now, hold)


def release(path: str, token: str) -> None:
    """Remove the claim on ``path`` if it is still the one ``token`` names."""
    from pathbeacon import files

    where = path + CLAIM
    try:
        raw = files.read(where, _READ)
    except OSError:
        return
    if raw is not None and raw.decode("ascii", "replace").strip() == token:
        files.remove(where)
