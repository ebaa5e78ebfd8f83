"""Once-per-key claims, the set of reports in flight, and fork safety.

Kept free of imports beyond ``_thread`` and ``os``: it runs on the host's importing thread.

    >>> value, new = claim(("doc", "example"), lambda: "first")
    >>> claim(("doc", "example"), lambda: "second")
    ('first', False)
"""

import _thread
import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Callable, TypeVar

    T = TypeVar("T")

#: Longest a fork waits for a worker to finish importing (seconds).
FORK_WAIT = 2.0

_lock = _thread.allocate_lock()
_claims: "dict[object, object]" = {}
_pending: "dict[int, object]" = {}
# Held by a worker while it imports modules: a fork that copied a half-imported module
# would break the child (the host's child too), so forks wait for it, boundedly.
_importing = _thread.allocate_lock()
_held_for_fork = False
_hooks_registered = 0


def claim(key: object, make: "Callable[[], T]") -> "tuple[T, bool]":
    """Return ``(value, True)`` with a new ``make()`` for an unclaimed key, else the old value.

    Atomic across threads; ``make`` runs under the lock and must be quick.
    """
    with _lock:
        existing = _claims.get(key)
        if existing is not None:
            return existing, False  # type: ignore[return-value]
        value = make()
        _claims[key] = value
        return value, True


def push_scope() -> "dict[object, object]":
    """Start an empty claim scope (for :func:`pathbeacon.testing.capture`); return the old one."""
    global _claims
    with _lock:
        saved, _claims = _claims, {}
    return saved


def pop_scope(saved: "dict[object, object]") -> None:
    """Put back the claims that :func:`push_scope` returned."""
    global _claims
    with _lock:
        _claims = saved


def track(item: object) -> None:
    """Remember ``item`` as in flight in this process."""
    with _lock:
        _pending[id(item)] = item


def untrack(item: object) -> None:
    """Forget ``item``: it is no longer in flight."""
    with _lock:
        _pending.pop(id(item), None)


def in_flight() -> "list[object]":
    """What is in flight in this process (a fork's child inherits none of its parent's)."""
    with _lock:
        return list(_pending.values())


class importing:
    """``with importing():`` around a worker's imports keeps forks from copying them half-done."""

    def __enter__(self) -> None:
        _importing.acquire()

    def __exit__(self, *exc: object) -> None:
        _importing.release()


def _before_fork() -> None:
    global _held_for_fork
    if not _held_for_fork:
        _held_for_fork = _importing.acquire(timeout=FORK_WAIT)


def _after_fork_in_parent() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        _importing.release()


def _after_fork_in_child() -> None:
    global _lock, _importing, _held_for_fork
    # Fresh locks: one held by a thread that the child does not have would never be freed.
    _lock = _thread.allocate_lock()
    _importing = _thread.allocate_lock()
    _held_for_fork = False
    # The parent's workers live on in the parent only: nothing here waits for them.
    for item in _pending.values():
        orphan = getattr(item, "_orphan", None)
        if orphan is not None:
            orphan()
    _pending.clear()


def register_fork_hooks() -> None:
    """Register the fork hooks (again): hooks run newest first, so a worker calls this once
    more after importing ``logging``, whose own hook takes a lock that a worker's imports need.
    The hooks are idempotent, so running twice per fork does no harm."""
    global _hooks_registered
    if hasattr(os, "register_at_fork") and _hooks_registered < 2:
        _hooks_registered += 1
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_after_fork_in_child,
        )
